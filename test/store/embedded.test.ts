import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.ts';
import { START_PARAMS } from '../../src/store/embedded/open.ts';
import { makeTemplate } from '../../src/store/embedded/template.ts';
import { openStore } from '../../src/store/index.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import type { Db } from '../../src/store/queryable.ts';

const columns = (db: Db) =>
  db.query(
    `SELECT table_name, column_name, data_type, column_default, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, column_name`,
  );
const routines = (db: Db) =>
  db.query(`SELECT routine_name FROM information_schema.routines WHERE routine_schema = 'public' ORDER BY 1`);

describe('a fresh embedded store', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-fresh-'));
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts as a copy of the migrated template: the same schema as migrating an empty one', async () => {
    const template = await makeTemplate(START_PARAMS);
    const copied = await openStore({ dataDir: join(dataDir, 'a') });
    const built = await openDb({ dataDir: join(dataDir, 'b') });
    try {
      // openDb alone gives an empty database (migration tests need one).
      expect(await built.query(`SELECT to_regclass('schema_migrations')::text AS t`)).toEqual([{ t: null }]);
      await migrate(built);
      expect(await columns(copied.db)).toEqual(await columns(built));
      expect(await routines(copied.db)).toEqual(await routines(built));
      const applied = await copied.db.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY 1',
      );
      expect(applied.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
      expect(template.dir).toContain('embedded-template');
    } finally {
      await copied.db.close();
      await built.close();
    }
  });

  it('is its own copy: what one store writes, another fresh one never sees, and it survives a restart', async () => {
    const first = await openStore({ dataDir: join(dataDir, 'c') });
    await first.db.exec('CREATE TABLE mine (x int); INSERT INTO mine VALUES (7)');
    await first.db.close();
    const again = await openStore({ dataDir: join(dataDir, 'c') });
    const other = await openStore({ dataDir: join(dataDir, 'd') });
    try {
      expect(await again.db.query('SELECT x FROM mine')).toEqual([{ x: 7 }]);
      expect(await other.db.query(`SELECT to_regclass('mine')::text AS t`)).toEqual([{ t: null }]);
    } finally {
      await again.db.close();
      await other.db.close();
    }
  });

  it('in memory, also starts migrated from the template', async () => {
    const store = await openStore({});
    try {
      const [row] = await store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
      expect(row!.n).toBe(loadMigrations().length);
    } finally {
      await store.db.close();
    }
  });
});

describe('the embedded store’s named statements', () => {
  it('answers statements sent side by side in a transaction each with its own rows, new ones and known ones', async () => {
    const store = await openStore({});
    try {
      const ask = (q: { query: Db['query'] }, i: number) =>
        q.query<{ n: number; tag: string }>(`SELECT $1::int AS n, $2::text || '${i % 7}' AS tag`, [
          i,
          `t${i}`,
        ]);
      const inTx = await store.db.tx((q) =>
        Promise.all([...Array.from({ length: 30 }, (_, i) => ask(q, i)), q.query('SELECT 42 AS plain')]),
      );
      const outside = await Promise.all(Array.from({ length: 30 }, (_, i) => ask(store.db, i)));
      for (const got of [inTx.slice(0, 30), outside])
        expect(got).toEqual(Array.from({ length: 30 }, (_, i) => [{ n: i, tag: `t${i}${i % 7}` }]));
      expect(inTx[30]).toEqual([{ plain: 42 }]);
    } finally {
      await store.db.close();
    }
  });

  it('prepares again a statement whose first parse failed in an aborted transaction', async () => {
    const store = await openStore({});
    try {
      const sql = 'SELECT $1::int + 1 AS n';
      const failed = await store.db
        .tx(async (q) => {
          await q.query('SELECT 1/0').catch(() => {});
          return q.query(sql, [1]);
        })
        .catch((e: unknown) => e);
      expect(failed).toMatchObject({ code: '25P02' }); // in_failed_sql_transaction
      expect(await store.db.query(sql, [1])).toEqual([{ n: 2 }]);
      expect(await store.db.query('SELECT $1::text AS t', ['x'])).toEqual([{ t: 'x' }]);
    } finally {
      await store.db.close();
    }
  });
});

describe('the embedded store under a backlog', () => {
  it('lets the event loop serve other I/O while a queue of statements drains', async () => {
    const store = await openStore({});
    try {
      // Statements of a few milliseconds each: a queue of them is longer than one slice of the loop.
      const slow = 'SELECT count(*)::int AS n FROM generate_series(1, 200000)';
      let done = 0;
      let doneWhenTheLoopTurned: number | undefined;
      const queued = Array.from({ length: 40 }, () => store.db.query(slow).then(() => done++));
      // Queued after the statements: without pauses it would run only once all 40 had finished.
      setImmediate(() => {
        doneWhenTheLoopTurned = done;
      });
      await Promise.all(queued);
      expect(doneWhenTheLoopTurned).toBeLessThan(40);
    } finally {
      await store.db.close();
    }
  });
});

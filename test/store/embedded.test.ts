import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedDb } from '../../src/store/embedded/client.ts';
import { ensureTemplate, isCluster, templateDir } from '../../src/store/embedded/template.ts';
import { loadMigrations } from '../../src/store/migrate.ts';
import type { Db } from '../../src/store/queryable.ts';

/** The embedded store runs PGlite on a thread of its own: what crosses the thread, and what may not interleave. */
describe('the embedded store’s thread', () => {
  let db: Db;
  beforeAll(async () => {
    db = await EmbeddedDb.open({ dir: undefined, template: await ensureTemplate() }, undefined);
    await db.exec('CREATE TABLE t (id text PRIMARY KEY, at timestamptz, bytes bytea, doc jsonb, n int8)');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('keeps a failed statement’s SQLSTATE and constraint, outside and inside a transaction', async () => {
    await db.query('INSERT INTO t (id) VALUES ($1)', ['dup']);
    const outside = await db.query('INSERT INTO t (id) VALUES ($1)', ['dup']).catch((e: unknown) => e);
    expect(outside).toMatchObject({ code: '23505', constraint: 't_pkey' });
    const inside = await db
      .tx((q) => q.query('INSERT INTO t (id) VALUES ($1)', ['dup']))
      .catch((e: unknown) => e);
    expect(inside).toBeInstanceOf(Error);
    expect(inside).toMatchObject({ code: '23505', constraint: 't_pkey' });
    expect(await db.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 1 }]);
  });

  it('carries dates, bytes, JSON and int8 both ways', async () => {
    const at = new Date('2026-11-20T10:00:00.123Z');
    const bytes = Uint8Array.from([0, 1, 254, 255]);
    await db.query('INSERT INTO t (id, at, bytes, doc, n) VALUES ($1, $2, $3, $4, $5)', [
      'typed',
      at,
      Buffer.from(bytes),
      JSON.stringify({ a: [1, 'x'] }),
      2 ** 40,
    ]);
    const [row] = await db.query<{ at: Date; bytes: Uint8Array; doc: unknown; n: number }>(
      'SELECT at, bytes, doc, n FROM t WHERE id = $1',
      ['typed'],
    );
    expect(row!.at).toBeInstanceOf(Date);
    expect(row!.at.toISOString()).toBe(at.toISOString());
    expect(Buffer.from(row!.bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(row!.doc).toEqual({ a: [1, 'x'] });
    expect(row!.n).toBe(2 ** 40);
  });

  it('holds statements from outside a transaction until it ends', async () => {
    let outside: Promise<{ n: number }[]> | undefined;
    await db
      .tx(async (q) => {
        await q.query('INSERT INTO t (id) VALUES ($1)', ['uncommitted']);
        // PGlite is one session: run now, this would see the transaction's own row.
        outside = db.query<{ n: number }>('SELECT count(*)::int AS n FROM t WHERE id = $1', ['uncommitted']);
        await q.query('SELECT 1');
        throw new Error('roll it back');
      })
      .catch(() => {});
    expect(await outside).toEqual([{ n: 0 }]);
  });

  it('rolls back a transaction whose function throws, and goes on serving', async () => {
    const err = await db
      .tx(async (q) => {
        await q.query('INSERT INTO t (id) VALUES ($1)', ['rolled-back']);
        throw new Error('changed my mind');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe('changed my mind');
    expect(await db.query('SELECT id FROM t WHERE id = $1', ['rolled-back'])).toEqual([]);
    await db.ping();
  });
});

describe('the embedded store when its thread dies', () => {
  it('fails what was asked and everything after, and closes', async () => {
    const dying = new URL('./fixtures/dying-worker.ts', import.meta.url);
    const db = await EmbeddedDb.open({ dir: undefined, template: await ensureTemplate() }, undefined, dying);
    await db.ping();
    const inTx = db.tx(async (q) => {
      await q.query('SELECT 1');
      return q.query('die');
    });
    await expect(inTx).rejects.toThrow('exited (code 3)');
    await expect(db.query('SELECT 1')).rejects.toThrow('exited (code 3)');
    await db.close();
  });
});

describe('a fresh embedded store', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-fresh-'));
  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is a copy of the migrated template, and each copy is its own', async () => {
    const made = await ensureTemplate();
    expect(made).toBe(templateDir());
    expect(isCluster(made!)).toBe(true);
    const first = await EmbeddedDb.open({ dir: join(dataDir, 'a'), template: made }, undefined);
    try {
      const applied = await first.query<{ version: number }>(
        'SELECT version FROM schema_migrations ORDER BY 1',
      );
      expect(applied.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
      await first.exec('CREATE TABLE mine (x int)');
    } finally {
      await first.close();
    }
    expect(isCluster(join(dataDir, 'a'))).toBe(true);
    const second = await EmbeddedDb.open({ dir: join(dataDir, 'b'), template: made }, undefined);
    try {
      expect(await second.query(`SELECT to_regclass('mine')::text AS t`)).toEqual([{ t: null }]);
    } finally {
      await second.close();
    }
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/db.ts';
import {
  loadMigrations,
  MigrationChecksumError,
  migrate,
  migrationChecksum,
} from '../../src/store/migrate.ts';
import { backends, postgres } from '../helpers/backends.ts';
import { spawnServer } from '../helpers/processes.ts';
import { TEST_ENCRYPTION_KEYS, TEST_SECRET } from '../helpers/server.ts';

const migrations = loadMigrations();

describe.each(backends)('migration checksums on the $name store', (backend) => {
  const drops: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const d of drops) await d();
  });
  const fresh = async () => {
    const created = await backend.create();
    drops.push(created.drop);
    return openDb({ databaseUrl: created.databaseUrl });
  };

  it('records the SHA-256 of each migration it applies', async () => {
    const db = await fresh();
    try {
      await migrate(db, migrations);
      const rows = await db.query<{ name: string; checksum: string }>(
        'SELECT name, checksum FROM schema_migrations ORDER BY version',
      );
      expect(rows).toEqual(migrations.map((m) => ({ name: m.name, checksum: migrationChecksum(m.sql) })));
      expect(await migrate(db, migrations)).toEqual([]); // unchanged files: nothing to do, no complaint
    } finally {
      await db.close();
    }
  });

  it('stops at an applied migration whose file changed, naming the file', async () => {
    const db = await fresh();
    try {
      await migrate(db, migrations);
      const edited = migrations.map((m, i) => (i === 1 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
      const err = await migrate(db, edited).catch((e) => e);
      expect(err).toBeInstanceOf(MigrationChecksumError);
      expect(err.message).toContain(migrations[1]!.name);
      // Line endings alone are no change.
      const crlf = migrations.map((m) => ({ ...m, sql: m.sql.replace(/\n/g, '\r\n') }));
      expect(await migrate(db, crlf)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('records checksums for a database migrated before they existed, then checks them', async () => {
    const db = await fresh();
    try {
      // The schema_migrations of an older release: no checksum column.
      await db.exec(`CREATE TABLE schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const m of migrations) {
        await db.exec(m.sql);
        await db.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
      expect(await migrate(db, migrations)).toEqual([]);
      const rows = await db.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations ORDER BY version',
      );
      expect(rows.map((r) => r.checksum)).toEqual(migrations.map((m) => migrationChecksum(m.sql)));
      const edited = migrations.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
      await expect(migrate(db, edited)).rejects.toThrow(migrations[0]!.name);
    } finally {
      await db.close();
    }
  });
});

describe('loading migrations', () => {
  it('refuses two files with the same number, naming both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'talkroom-migration-files-'));
    try {
      writeFileSync(join(dir, '001_first.sql'), 'SELECT 1;');
      writeFileSync(join(dir, '002_mine.sql'), 'SELECT 2;');
      writeFileSync(join(dir, '002_theirs.sql'), 'SELECT 3;');
      expect(() => loadMigrations(dir)).toThrow('migrations 002_mine.sql and 002_theirs.sql share a number');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a real process on a database whose applied migration changed', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-migrations-'));
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await drop?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 78 with a message naming the file', async () => {
    const created = await postgres.create();
    drop = created.drop;
    const db = await openDb({ databaseUrl: created.databaseUrl });
    try {
      await migrate(db, migrations);
      // As if 003's file had been edited after it ran: the recorded checksum no longer matches.
      await db.query('UPDATE schema_migrations SET checksum = $1 WHERE version = 3', ['0'.repeat(64)]);
    } finally {
      await db.close();
    }
    const start = spawnServer({
      name: 'changed-migration',
      env: {
        PORT: '0',
        DATABASE_URL: created.databaseUrl!,
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
        AUTH_JWT_SECRET: TEST_SECRET,
        DATA_DIR: dataDir,
        MEDIA_WORKERS: '0',
      },
    });
    const err: Error = await start.then(
      () => new Error('the server started'),
      (e) => e,
    );
    expect(err.message).toContain('exited (code 78');
    expect(err.message).toContain(migrations[2]!.name);
  });
});

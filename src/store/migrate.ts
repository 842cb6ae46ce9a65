import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Db } from './queryable.ts';

const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
// Any constant works; it only has to be the same on every node.
const MIGRATION_LOCK = 727_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * An applied migration's file no longer matches what was applied: the schema
 * in the database is not the one the code describes. The start stops (exit 78)
 * rather than run on it; the fix is a new migration, never an edited one.
 */
export class MigrationChecksumError extends Error {
  override name = 'MigrationChecksumError';
  readonly file: string;
  constructor(file: string, applied: string, now: string) {
    super(
      `migration ${file} was changed after it was applied (applied sha256 ${applied}, file now ${now}); ` +
        'restore the file as it was and put the change in a new migration',
    );
    this.file = file;
  }
}

/** SHA-256 of a migration's text; line endings do not count (a checkout may turn LF into CRLF). */
export const migrationChecksum = (sql: string): string =>
  createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({
      version: Number.parseInt(f.slice(0, 3), 10),
      name: f,
      sql: readFileSync(join(dir, f), 'utf8'),
    }));
  // Two branches may each add "the next" number; one of the two would never run.
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new Error(
        `migrations ${migrations[i - 1]!.name} and ${migrations[i]!.name} share a number; renumber one`,
      );
    }
  }
  return migrations;
}

/**
 * Applies every migration not yet applied, each in its own transaction, under
 * an advisory lock so that nodes starting together do not race. Each applied
 * migration's checksum is recorded; one that no longer matches its file stops
 * the start. A database from before checksums gets them recorded from the
 * files as they are on its first run.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<number[]> {
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await q.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query('ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text');
    const done = new Map(
      (
        await q.query<{ version: number; checksum: string | null }>(
          'SELECT version, checksum FROM schema_migrations',
        )
      ).map((r) => [r.version, r.checksum]),
    );
    const applied: number[] = [];
    for (const m of migrations) {
      const sum = migrationChecksum(m.sql);
      if (done.has(m.version)) {
        const recorded = done.get(m.version);
        if (recorded == null) {
          await q.query('UPDATE schema_migrations SET checksum = $2 WHERE version = $1', [m.version, sum]);
        } else if (recorded !== sum) {
          throw new MigrationChecksumError(m.name, recorded, sum);
        }
        continue;
      }
      await q.exec(m.sql);
      await q.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        sum,
      ]);
      applied.push(m.version);
    }
    return applied;
  });
}

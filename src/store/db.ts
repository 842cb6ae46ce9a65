import type { Keyring } from '../privacy/keyring.ts';
import { openEmbedded } from './embedded/open.ts';
import type { Db } from './queryable.ts';

export type { Db, Queryable, Row } from './queryable.ts';

/** PostgreSQL's unique_violation, the same on both backends. */
export const isUniqueViolation = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '23505';

export interface DbOptions {
  databaseUrl?: string | undefined;
  /** Directory for the embedded store; omit for an in-memory one (tests). */
  dataDir?: string | undefined;
  poolSize?: number;
  keyring?: Keyring | undefined;
  /**
   * The caller migrates what it opens (openStore): a fresh embedded store may
   * then start as a copy of the migrated template instead of an empty database.
   */
  migrating?: boolean;
}

export async function openDb(opts: DbOptions): Promise<Db> {
  if (opts.databaseUrl) {
    // Loaded only with DATABASE_URL: an embedded node never holds node-postgres in memory (10 MiB).
    const { PostgresDb } = await import('./postgres.ts');
    return new PostgresDb(opts.databaseUrl, opts.poolSize ?? 20, opts.keyring);
  }
  return openEmbedded(opts.dataDir, opts.keyring, opts.migrating ?? false);
}

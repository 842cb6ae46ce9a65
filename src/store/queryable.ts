import type { Keyring } from '../privacy/keyring.ts';

/**
 * What the repositories need of a database, whichever backend serves it:
 * PostgreSQL over a pool (db.ts) or the embedded PGlite on a thread of its own
 * (embedded/). Both implementations import these types from here, so neither
 * imports the other.
 */
export interface Queryable {
  query<T = Row>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'embedded' | 'postgres';
  /** Seals message text, meta and recording chunks at rest; none: stored as they are (store tests, tools). */
  readonly keyring: Keyring | undefined;
  /** Runs fn in one transaction; rolls back if it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export type Row = Record<string, unknown>;

/** PostgreSQL's unique_violation, the same on both backends. */
export const isUniqueViolation = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '23505';

import type { Keyring } from '../privacy/keyring.ts';

/**
 * One query layer for both backends. The embedded default is PGlite (PostgreSQL
 * compiled to WebAssembly, in-process, durable under DATA_DIR); DATABASE_URL
 * switches to a PostgreSQL server. The SQL is the same everywhere.
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

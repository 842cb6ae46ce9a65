import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
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

/** PostgreSQL's unique_violation, the same on both backends. */
export const isUniqueViolation = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { code?: unknown }).code === '23505';

/**
 * Parameterised queries run as named prepared statements: PostgreSQL parses
 * and plans each text once per connection instead of on every call, which
 * roughly doubles what it serves on the message hot path. The name is derived
 * from the text, so every connection agrees on it.
 */
const statementNames = new Map<string, string>();
function prepared(text: string, values: readonly unknown[]): pg.QueryConfig {
  if (values.length === 0) return { text };
  let name = statementNames.get(text);
  if (!name) {
    name = `tr_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return { name, text, values: values as unknown[] };
}

// int8 (count(*), sums) as a JS number: our counts never approach 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

class PostgresDb implements Db {
  readonly kind = 'postgres' as const;
  readonly keyring: Keyring | undefined;
  readonly #pool: pg.Pool;
  constructor(url: string, poolSize: number, keyring: Keyring | undefined) {
    this.keyring = keyring;
    this.#pool = new pg.Pool({ connectionString: url, max: poolSize });
    // An idle client losing its connection must not crash the process;
    // the pool replaces it and the next query reports any lasting trouble.
    this.#pool.on('error', () => {});
  }
  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const r = await this.#pool.query(prepared(sql, params));
    return r.rows as T[];
  }
  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const q: Queryable = {
        query: async <R>(sql: string, params: readonly unknown[] = []) =>
          (await client.query(prepared(sql, params))).rows as R[],
        exec: async (sql: string) => {
          await client.query(sql);
        },
      };
      const out = await fn(q);
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
  }
  async exec(sql: string): Promise<void> {
    await this.#pool.query(sql);
  }
  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }
  async close(): Promise<void> {
    await this.#pool.end();
  }
}

class EmbeddedDb implements Db {
  readonly kind = 'embedded' as const;
  readonly keyring: Keyring | undefined;
  readonly #pg: PGlite;
  constructor(pglite: PGlite, keyring: Keyring | undefined) {
    this.keyring = keyring;
    this.#pg = pglite;
  }
  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const r = await this.#pg.query<T>(sql, params as unknown[]);
    return r.rows;
  }
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.#pg.transaction(async (t) =>
      fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) =>
          (await t.query<R>(sql, params as unknown[])).rows,
        exec: async (sql: string) => {
          await t.exec(sql);
        },
      }),
    );
  }
  async exec(sql: string): Promise<void> {
    await this.#pg.exec(sql);
  }
  async ping(): Promise<void> {
    await this.#pg.query('SELECT 1');
  }
  async close(): Promise<void> {
    if (!this.#pg.closed) await this.#pg.close();
  }
}

export interface DbOptions {
  databaseUrl?: string | undefined;
  /** Directory for the embedded store; omit for an in-memory one (tests). */
  dataDir?: string | undefined;
  poolSize?: number;
  keyring?: Keyring | undefined;
}

export async function openDb(opts: DbOptions): Promise<Db> {
  if (opts.databaseUrl) return new PostgresDb(opts.databaseUrl, opts.poolSize ?? 20, opts.keyring);
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const pglite = await PGlite.create(opts.dataDir ? `${opts.dataDir}/pg` : undefined);
  return new EmbeddedDb(pglite, opts.keyring);
}

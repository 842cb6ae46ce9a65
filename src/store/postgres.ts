import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Keyring } from '../privacy/keyring.ts';
import type { Db, Queryable } from './queryable.ts';

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

export class PostgresDb implements Db {
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

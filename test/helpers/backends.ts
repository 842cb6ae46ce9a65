import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The storage backends every repository and server test runs against: the
 * embedded default (PGlite) and the machine's real PostgreSQL. Each PostgreSQL
 * test gets a database of its own, dropped afterwards.
 */
export interface Backend {
  name: 'embedded' | 'postgres';
  /** A fresh, empty database: its URL (undefined for embedded) and a way to drop it. */
  create(): Promise<{ databaseUrl: string | undefined; drop(): Promise<void> }>;
}

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const embedded: Backend = {
  name: 'embedded',
  create: async () => ({ databaseUrl: undefined, drop: async () => {} }),
};

export const postgres: Backend = {
  name: 'postgres',
  async create() {
    const name = `talkroom_t_${randomBytes(6).toString('hex')}`;
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    return {
      databaseUrl: url.toString(),
      drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  },
};

export const backends: Backend[] = [embedded, postgres];

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

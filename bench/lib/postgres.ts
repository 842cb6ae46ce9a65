/** The benchmark's own PostgreSQL databases (created fresh, dropped after), and what PostgreSQL is busy with. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { now, quantiles, round } from './util.ts';

export const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** Benchmarks create and drop databases: only on this machine. */
export function assertLocal(url: string): void {
  const h = new URL(url).hostname;
  if (h !== '127.0.0.1' && h !== 'localhost' && h !== '::1')
    throw new Error(`BENCH_DATABASE_URL must point at this machine, not ${h}`);
}

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop: () => Promise<void>;
}

export async function createDatabase(prefix = 'talkroom_bench'): Promise<BenchDatabase> {
  assertLocal(ADMIN_URL);
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: async () => {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** This database's backends plus PostgreSQL's background processes (datname NULL), for CPU accounting. */
export async function pgPids(db: string, client?: pg.Client): Promise<number[]> {
  const sql =
    'SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR datname IS NULL) AND pid <> pg_backend_pid()';
  const rows = client
    ? (await client.query<{ pid: number }>(sql, [db])).rows
    : await adminQuery<{ pid: number }>(sql, [db]);
  return rows.map((r) => r.pid);
}

/**
 * A single-row INSERT committed on its own (autocommit, synchronous_commit as configured), one at a time:
 * the cost of one durable commit round trip on this machine, the floor under a durable acknowledgement.
 * `paceMs` starts one every paceMs instead of back to back: on this VM an idle process and disk wake up
 * slowly, so a commit alone every 10 ms took 1.6 ms at p50 where back-to-back ones took 0.5 ms. The
 * commit under a durable ack at a given rate costs what a commit paced at that rate costs.
 */
export async function measureCommit(url: string, n: number, paceMs = 0) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, body text NOT NULL)');
    const ms: number[] = [];
    const start = now();
    for (let i = 0; i < n; i++) {
      const wait = start + i * paceMs - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = now();
      await c.query({
        name: 'bench_commit',
        text: 'INSERT INTO bench_commit (body) VALUES ($1)',
        values: ['x'],
      });
      ms.push(now() - t);
    }
    await c.query('DROP TABLE bench_commit');
    return quantiles(ms, 3);
  } finally {
    await c.end();
  }
}

/** Samples pg_stat_activity for one database: how busy the server's connection pool is, and on what. */
export class PgSampler {
  readonly #client: pg.Client;
  readonly #db: string;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  samples = 0;
  activeSum = 0;
  activeMax = 0;
  connectionsMax = 0;
  waits = new Map<string, number>();
  /** Backends of this database and PostgreSQL's own background processes, for CPU accounting. */
  readonly pids = new Set<number>();

  constructor(db: string) {
    this.#client = new pg.Client({ connectionString: ADMIN_URL });
    this.#db = db;
  }
  async start(): Promise<void> {
    await this.#client.connect();
    await this.#sample();
    this.#timer = setInterval(() => void this.#sample(), 200);
  }
  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const { rows: all } = await this.#client.query<{
        pid: number;
        db: string | null;
        state: string | null;
        wait: string | null;
      }>(
        `SELECT pid, datname AS db, state, wait_event_type || ':' || wait_event AS wait FROM pg_stat_activity
          WHERE (datname = $1 OR datname IS NULL) AND pid <> pg_backend_pid()`,
        [this.#db],
      );
      for (const r of all) this.pids.add(r.pid);
      const rows = all.filter((r) => r.db === this.#db);
      this.samples++;
      const active = rows.filter((r) => r.state === 'active');
      this.activeSum += active.length;
      this.activeMax = Math.max(this.activeMax, active.length);
      this.connectionsMax = Math.max(this.connectionsMax, rows.length);
      for (const r of active) {
        const w = r.wait ?? 'running (CPU)';
        this.waits.set(w, (this.waits.get(w) ?? 0) + 1);
      }
    } catch {
      // a missed sample is fine
    } finally {
      this.#busy = false;
    }
  }
  reset(): void {
    this.samples = 0;
    this.activeSum = 0;
    this.activeMax = 0;
    this.connectionsMax = 0;
    this.waits.clear();
  }
  summary(poolSize: number) {
    const total = [...this.waits.values()].reduce((a, b) => a + b, 0);
    return {
      poolSize,
      connectionsMax: this.connectionsMax,
      activeAvg: this.samples ? round(this.activeSum / this.samples, 1) : 0,
      activeMax: this.activeMax,
      activeWaits: [...this.waits]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([wait, n]) => ({ wait, pct: round((100 * n) / total, 1) })),
    };
  }
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#client.end().catch(() => {});
  }
}

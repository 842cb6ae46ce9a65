/** One load phase of the scheduler benchmark: jobs inserted, fired by both nodes, and checked. */
import type pg from 'pg';
import { JobStore } from '../../src/store/jobs.ts';
import { log, type Quantiles, quantiles, round, sleep } from '../lib/util.ts';
import { type BenchNode, type Between, between, dbPids, snapshot } from './nodes.ts';
import { DRAIN_LIMIT_MS, KIND } from './settings.ts';

/** Deterministic uniform offsets in [0, spreadMs): the same rows in both modes. */
export function offsets(n: number, spreadMs: number): number[] {
  let s = 0x5eed1234;
  const rnd = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.floor(rnd() * spreadMs));
}

export interface PhaseResult {
  phase: string;
  jobs: number;
  spreadSeconds: number;
  /** Due → the handler started (fired_at). */
  latenessMs: Quantiles;
  /** Due → the job's effect committed (its node's count; a grouped commit comes after the whole group). */
  committedLatenessMs: Quantiles;
  /** p99 / max lateness per tenth of the spread (by due time): where any spikes are. */
  latenessByTenth: { fromS: number; n: number; p99: number; max: number }[];
  worst: { id: string; dueOffsetMs: number; latenessMs: number; node: string; attempts: number }[];
  throughputPerSecond: number;
  /** From the first run_at to the last firing. */
  firingSeconds: number;
  /** From the last run_at to the last firing. */
  drainAfterLastDueMs: number;
  exactlyOnce: {
    fired: number;
    distinct: number;
    missing: number;
    duplicates: number;
    unexpectedIds: number;
    attemptsAboveOne: number;
    leftInJobsTable: number;
    pass: boolean;
  };
  perNode: Record<string, number>;
  window: Between;
  timedOut: boolean;
  /** The scheduler's two per-wake-up reads, explained with all the phase's rows in the table. */
  plans: Record<string, { plan: string; ms: number }>;
}

interface Statement {
  sql: string;
  params: readonly unknown[];
}

/** The statement a JobStore method sends, taken from the store itself so the plans explained are its own. */
async function statementOf(call: (jobs: JobStore) => Promise<unknown>): Promise<Statement> {
  let seen: Statement | undefined;
  const capture = {
    query: async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> => {
      seen ??= { sql, params };
      return [];
    },
    exec: async () => {},
  };
  await call(new JobStore(capture));
  if (!seen) throw new Error('the job store sent no statement');
  return seen;
}

/**
 * EXPLAIN ANALYZE of JobStore.nextDue and JobStore.claim (the latter rolled back; it runs before
 * the first job is due, with "now" at the end of the spread so every row qualifies).
 */
async function explainPlans(c: pg.Client, rows: number, at: Date) {
  const out: Record<string, { plan: string; ms: number }> = {};
  const summarise = (lines: string[]) => ({
    plan: lines
      .filter((l, i) => i === 0 || l.includes('->'))
      .map((l) =>
        l
          .trim()
          .replace(/^->\s*/, '')
          .replace(/\s*\(cost=.*$/, ''),
      )
      .join(' ← '),
    ms: Number(lines.find((l) => l.startsWith('Execution Time'))?.match(/([\d.]+) ms/)?.[1] ?? Number.NaN),
  });
  const plan = async ({ sql, params }: Statement) =>
    (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE) ${sql}`, [...params])).rows.map(
      (r) => r['QUERY PLAN'],
    );
  out[`nextDue (${rows} rows)`] = summarise(await plan(await statementOf((jobs) => jobs.nextDue())));
  const claim = await statementOf((jobs) => jobs.claim('explain', at, 30_000, 100));
  await c.query('BEGIN');
  try {
    out['claim (batch 100)'] = summarise(await plan(claim));
  } finally {
    await c.query('ROLLBACK');
  }
  return out;
}

export async function runPhase(
  c: pg.Client,
  dbName: string,
  nodes: BenchNode[],
  phase: string,
  offs: number[],
  leadMs: number,
): Promise<PhaseResult> {
  const n = offs.length;
  const spreadMs = Math.max(...offs) + 1;
  const t0 = Date.now() + leadMs;
  const ids = offs.map((_, i) => `rem-${i}`);
  const pids = await dbPids(c, dbName);
  const s0 = await snapshot(nodes, pids, true);
  await c.query(
    `INSERT INTO jobs (id, kind, run_at, payload, created_at)
     SELECT id, $3, at, jsonb_build_object('phase', $4::text), now()
       FROM unnest($1::text[], $2::timestamptz[]) AS t(id, at)`,
    [ids, offs.map((o) => new Date(t0 + o).toISOString()), KIND, phase],
  );
  const plans = await explainPlans(c, n, new Date(t0 + spreadMs));
  if (Date.now() > t0) log(`[${phase}] WARNING: inserting took past the first due time`);
  for (const node of nodes) node.wake();

  // Wait (bounded) until every job fired and the jobs table is empty.
  const deadline = t0 + spreadMs + DRAIN_LIMIT_MS;
  let timedOut = false;
  let lastLog = 0;
  for (;;) {
    await sleep(250);
    const [r] = (
      await c.query<{ fired: number; left: number }>(
        `SELECT (SELECT count(DISTINCT job_id) FROM bench_fired WHERE phase = $1)::int AS fired,
                (SELECT count(*) FROM jobs)::int AS left`,
        [phase],
      )
    ).rows;
    if (r && r.fired >= n && r.left === 0) break;
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`[${phase}] ${r?.fired ?? '?'}/${n} fired, ${r?.left ?? '?'} in the jobs table`);
    }
    if (Date.now() > deadline) {
      timedOut = true;
      log(`[${phase}] TIMED OUT: ${r?.fired}/${n} fired, ${r?.left} left in the jobs table`);
      break;
    }
  }
  const s1 = await snapshot(nodes, [...new Set([...pids, ...(await dbPids(c, dbName))])]);

  const { rows } = await c.query<{
    job_id: string;
    node: string;
    due_ms: number;
    fired_ms: number;
    attempts: number;
  }>(
    `SELECT job_id, node, (extract(epoch FROM due_at) * 1000)::float8 AS due_ms,
            (extract(epoch FROM fired_at) * 1000)::float8 AS fired_ms, attempts
       FROM bench_fired WHERE phase = $1`,
    [phase],
  );
  const [left] = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs')).rows;
  const expected = new Set(ids);
  const seen = new Map<string, number>();
  const perNode: Record<string, number> = {};
  let unexpectedIds = 0;
  let attemptsAboveOne = 0;
  const lateness: number[] = [];
  const tenths = Array.from({ length: 10 }, () => [] as number[]);
  let lastFired = 0;
  for (const r of rows) {
    seen.set(r.job_id, (seen.get(r.job_id) ?? 0) + 1);
    if (!expected.has(r.job_id)) unexpectedIds++;
    if (r.attempts > 1) attemptsAboveOne++;
    perNode[r.node] = (perNode[r.node] ?? 0) + 1;
    const l = r.fired_ms - r.due_ms;
    lateness.push(l);
    tenths[Math.min(9, Math.floor(((r.due_ms - t0) / spreadMs) * 10))]?.push(l);
    lastFired = Math.max(lastFired, r.fired_ms);
  }
  const duplicates = [...seen.values()].reduce((a, v) => a + (v - 1), 0);
  const distinct = seen.size - unexpectedIds;
  const exactlyOnce = {
    fired: rows.length,
    distinct,
    missing: n - distinct,
    duplicates,
    unexpectedIds,
    attemptsAboveOne,
    leftInJobsTable: left?.n ?? -1,
    pass: distinct === n && duplicates === 0 && unexpectedIds === 0 && left?.n === 0,
  };
  const firstDue = t0 + Math.min(...offs);
  const lastDue = t0 + spreadMs - 1;
  const firingSeconds = (lastFired - firstDue) / 1000;
  const worst = rows
    .map((r) => ({
      id: r.job_id,
      dueOffsetMs: round(r.due_ms - t0, 0),
      latenessMs: round(r.fired_ms - r.due_ms, 1),
      node: r.node,
      attempts: r.attempts,
    }))
    .sort((a, b) => b.latenessMs - a.latenessMs)
    .slice(0, 5);
  return {
    phase,
    jobs: n,
    spreadSeconds: round(spreadMs / 1000, 3),
    latenessMs: quantiles(lateness, 1),
    committedLatenessMs: quantiles(
      s1.nodes.flatMap((node) => node.committed[phase] ?? []),
      1,
    ),
    latenessByTenth: tenths.map((l, i) => {
      const q = quantiles(l, 1);
      return { fromS: round((i * spreadMs) / 10000, 1), n: l.length, p99: q.p99 ?? 0, max: q.max ?? 0 };
    }),
    worst,
    throughputPerSecond: firingSeconds > 0 ? round(rows.length / firingSeconds, 0) : 0,
    firingSeconds: round(firingSeconds, 2),
    drainAfterLastDueMs: round(lastFired - lastDue, 0),
    exactlyOnce,
    perNode,
    window: between(s0, s1),
    timedOut,
    plans,
  };
}

export async function idleWindow(
  c: pg.Client,
  dbName: string,
  nodes: BenchNode[],
  seconds: number,
): Promise<Between> {
  const pids = await dbPids(c, dbName);
  const s0 = await snapshot(nodes, pids);
  await sleep(seconds * 1000);
  return between(s0, await snapshot(nodes, pids));
}

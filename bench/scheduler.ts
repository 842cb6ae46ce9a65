/**
 * Scheduler benchmark (`npm run bench:scheduler`).
 *
 * Issue: "10,000 reminders due in the same minute across two nodes: each fires exactly once;
 * p99 lateness and throughput printed, against a bare loop that only claims and deletes the
 * same rows in the same run. Target: p99 lateness under 1 s, and the scheduler idle (near 0%
 * CPU) when nothing is due."
 *
 * Setup: a fresh PostgreSQL database (dropped at the end), migrated by openStore, plus a
 * bench_fired table with NO unique constraint, so a reminder fired twice is visible. Two
 * "nodes" are two OS processes (bench/scheduler-node.ts), each with its own connection pool.
 *
 * Two modes, one after the other in the same run, against the same rows:
 *  - scheduler: each node runs a real Scheduler (src/jobs/scheduler.ts) on the system clock
 *    with its defaults (lease 30 s, max idle 30 s, batch 100, concurrency 8); the handler does
 *    one INSERT (the record of the firing), about what a real reminder costs the database.
 *  - baseline: each node runs a bare loop: DELETE … WHERE id IN (SELECT … due … ORDER BY run_at
 *    LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING, the same INSERT per row with the same
 *    concurrency (8), and a 10 ms sleep whenever nothing is due.
 *
 * For each mode, in order:
 *  1. idle (empty jobs table): each node's CPU over BENCH_IDLE_SECONDS, in % of one core;
 *  2. spread: BENCH_JOBS rows (kind 'bench.reminder') with run_at uniform at random (seeded, so
 *     the same offsets in both modes) over BENCH_SPREAD_SECONDS, starting BENCH_LEAD_SECONDS
 *     ahead, inserted in one statement; then each node is sent 'wake' (what main.ts's Redis
 *     wake broadcast does when another node schedules a job). Lateness per job = fired_at
 *     (Date.now() when the handler starts) − run_at; throughput = jobs / (last firing − first
 *     run_at); exactly-once = every id fired, none twice, the jobs table empty afterwards;
 *  3. idle again after the minute, and idle with one job due in an hour (the common case in
 *     production: nothing due, but something scheduled);
 *  4. burst: the same rows all due at one instant (BENCH_BURST=0 skips): drain time and rate.
 *
 * Why the baseline is fair: same machine, same database, same rows and run_at offsets, same
 * two processes and pools, same per-row recording work with the same concurrency and batch,
 * same index (the claim filters dead_at IS NULL like the scheduler's, so both use jobs_due).
 * It does strictly less per job (no lease UPDATE, no separate completing DELETE, no nextDue
 * read, no timer bookkeeping) but pays for it by polling every 10 ms, so the comparison shows
 * what the scheduler's lease-and-sleep design costs in lateness and throughput, and what it
 * saves when idle.
 *
 * The machine may be shared: before each load phase the script waits (BENCH_QUIET_WAIT_SECONDS)
 * for a quiet machine, and it reports the CPU used by other processes in each window.
 *
 * Env: BENCH_JOBS (10000), BENCH_SPREAD_SECONDS (60), BENCH_LEAD_SECONDS (5), BENCH_IDLE_SECONDS
 *      (5), BENCH_BURST (1), BENCH_QUIET_WAIT_SECONDS (20), BENCH_ONLY (scheduler|baseline),
 *      BENCH_DATABASE_URL (admin URL, postgres://postgres@127.0.0.1:5432/test).
 * Writes bench/results/scheduler-latest.json. All traffic stays on 127.0.0.1.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openStore } from '../src/store/index.ts';

// ---------------------------------------------------------------- settings

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');
const NODE_SCRIPT = join(ROOT, 'bench', 'scheduler-node.ts');

const num = (name: string, dflt: number, min: number, max: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name}: expected ${min}..${max}, got ${raw}`);
  return n;
};

const JOBS = Math.round(num('BENCH_JOBS', 10_000, 1, 200_000));
const SPREAD_SECONDS = num('BENCH_SPREAD_SECONDS', 60, 1, 600);
const LEAD_SECONDS = num('BENCH_LEAD_SECONDS', 5, 1, 60);
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 5, 1, 60);
const BURST = num('BENCH_BURST', 1, 0, 1) === 1;
/** Before each load phase, how long to wait at most for other processes to go quiet. */
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 20, 0, 3600);
const QUIET_BUSY_PCT = 30;
const NODES = 2;
const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
/** After the last run_at of a phase, how long it may take to drain before the phase is called failed. */
const DRAIN_LIMIT_MS = 60_000;
const KIND = 'bench.reminder';
const P99_TARGET_MS = 1000;
const IDLE_CPU_TARGET_PCT = 1;

type Mode = 'scheduler' | 'baseline';
const MODES: Mode[] = (['scheduler', 'baseline'] as const).filter(
  (m) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY === m,
);

for (const h of [new URL(ADMIN_URL).hostname]) {
  if (h !== '127.0.0.1' && h !== 'localhost' && h !== '::1')
    throw new Error(`BENCH_DATABASE_URL must point at this machine, not ${h}`);
}

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];
async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      log(`cleanup failed: ${(e as Error).message}`);
    }
  }
}
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    for (const c of children) c.kill('SIGKILL');
    const hard = setTimeout(() => process.exit(130), 10_000);
    hard.unref();
    runCleanups().finally(() => process.exit(130));
  });
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- statistics

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function quantiles(values: number[]) {
  if (values.length === 0) return { n: 0 };
  const a = Float64Array.from(values).sort();
  const q = (p: number) => round(a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]!, 1);
  return {
    n: a.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: round(a[a.length - 1]!, 1),
    mean: round(a.reduce((x, y) => x + y, 0) / a.length, 1),
  };
}
type Quantiles = ReturnType<typeof quantiles>;

/** Deterministic uniform offsets in [0, spreadMs): the same rows in both modes. */
function offsets(n: number, spreadMs: number): number[] {
  let s = 0x5eed1234;
  const rnd = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.floor(rnd() * spreadMs));
}

// ---------------------------------------------------------------- CPU accounting (/proc)

const CLK_TCK = 100;
function procTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime
  } catch {
    return 0;
  }
}
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

async function waitForQuietMachine(label: string): Promise<number> {
  const limit = Date.now() + QUIET_WAIT_SECONDS * 1000;
  for (;;) {
    const a = machineTicks();
    await sleep(1000);
    const b = machineTicks();
    const busyPct = round((100 * cpus().length * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
    if (busyPct <= QUIET_BUSY_PCT) return busyPct;
    if (Date.now() > limit) {
      log(`[${label}] machine still busy (${busyPct}% CPU of ${cpus().length * 100}); going ahead`);
      return busyPct;
    }
    log(`[${label}] waiting for a quiet machine: ${busyPct}% CPU busy`);
  }
}

// ---------------------------------------------------------------- PostgreSQL

async function adminQuery(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- nodes

interface NodeStats {
  cpuMicros: number;
  at: number;
  handled: number;
  counts: Record<string, { n: number; empty: number; ms: number }>;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

interface BenchNode {
  name: string;
  proc: ChildProcess;
  pid: number;
  problems: string[];
  /** monitor: sample event-loop delay until the next call (off while measuring idle CPU). */
  stats(monitor: boolean): Promise<NodeStats>;
  wake(): void;
  stop(): Promise<void>;
}

function startNode(mode: Mode, name: string, url: string): Promise<BenchNode> {
  const proc = fork(NODE_SCRIPT, [mode, name], {
    cwd: ROOT,
    env: { ...process.env, BENCH_NODE_DATABASE_URL: url },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(proc);
  const problems: string[] = [];
  const problem = (line: string) => {
    problems.push(line.slice(0, 500));
    if (problems.length <= 5) log(`[${name}] ${line.slice(0, 500)}`);
  };
  createInterface({ input: proc.stdout! }).on('line', problem); // the logger prints warnings and errors only
  createInterface({ input: proc.stderr! }).on('line', (l) => problem(`stderr: ${l}`));
  let nextId = 0;
  const waiting = new Map<number, (s: NodeStats) => void>();
  let stopped: (() => void) | undefined;
  let exited = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within 30 s`)), 30_000);
    proc.once('exit', (code, signal) => {
      exited = true;
      children.delete(proc);
      clearTimeout(timer);
      stopped?.();
      for (const [, r] of waiting) r(undefined as never);
      if (!stopped) problem(`exited (${code ?? signal})`);
      reject(new Error(`${name} exited (${code ?? signal})`));
    });
    proc.on('message', (m: { type: string; id?: number } & NodeStats) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({
          name,
          proc,
          pid: proc.pid!,
          problems,
          stats: (monitor: boolean) =>
            new Promise<NodeStats>((res, rej) => {
              if (exited) return rej(new Error(`${name} has exited`));
              const id = nextId++;
              const t = setTimeout(() => rej(new Error(`${name}: no stats within 10 s`)), 10_000);
              waiting.set(id, (s) => {
                clearTimeout(t);
                if (s) res(s);
                else rej(new Error(`${name} has exited`));
              });
              proc.send({ cmd: 'stats', id, monitor });
            }),
          wake: () => {
            if (!exited) proc.send({ cmd: 'wake' });
          },
          stop: () =>
            new Promise<void>((res) => {
              if (exited) return res();
              stopped = res;
              const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
              proc.once('exit', () => clearTimeout(t));
              proc.send({ cmd: 'stop' });
            }),
        });
      } else if (m.type === 'stats' && m.id !== undefined) {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
  });
}

interface Snapshot {
  at: number;
  nodes: NodeStats[];
  nodeTicks: number[];
  pgTicks: Map<number, number>;
  benchMicros: number;
  machine: { busy: number; total: number };
}

async function pgPids(c: pg.Client, db: string): Promise<number[]> {
  const { rows } = await c.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR datname IS NULL) AND pid <> pg_backend_pid()`,
    [db],
  );
  return rows.map((r) => r.pid);
}

async function snapshot(nodes: BenchNode[], pids: number[], monitor = false): Promise<Snapshot> {
  const stats = await Promise.all(nodes.map((n) => n.stats(monitor)));
  const u = process.cpuUsage();
  return {
    at: Date.now(),
    nodes: stats,
    nodeTicks: nodes.map((n) => procTicks(n.pid)),
    pgTicks: new Map(pids.map((p) => [p, procTicks(p)])),
    benchMicros: u.user + u.system,
    machine: machineTicks(),
  };
}

function diffCounts(a: NodeStats, b: NodeStats) {
  const out: Record<string, { n: number; empty: number; meanMs: number }> = {};
  for (const [k, v] of Object.entries(b.counts)) {
    const p = a.counts[k] ?? { n: 0, empty: 0, ms: 0 };
    if (v.n - p.n > 0)
      out[k] = { n: v.n - p.n, empty: v.empty - p.empty, meanMs: round((v.ms - p.ms) / (v.n - p.n), 2) };
  }
  return out;
}

/** CPU (% of one core) and queries between two snapshots. */
function between(a: Snapshot, b: Snapshot) {
  const secs = (b.at - a.at) / 1000;
  const pct = (v: number) => round((100 * v) / secs, 2);
  const nodes = a.nodes.map((s0, i) => {
    const s1 = b.nodes[i]!;
    return {
      cpuPct: pct((s1.cpuMicros - s0.cpuMicros) / 1e6),
      cpuPctProc: pct((b.nodeTicks[i]! - a.nodeTicks[i]!) / CLK_TCK),
      handled: s1.handled - s0.handled,
      queries: diffCounts(s0, s1),
      loopDelayP99Ms: round(s1.loopDelayP99Ms, 1),
      loopDelayMaxMs: round(s1.loopDelayMaxMs, 1),
    };
  });
  let pgT = 0;
  for (const [pid, t1] of b.pgTicks) {
    const t0 = a.pgTicks.get(pid);
    if (t0 !== undefined && t1 >= t0) pgT += t1 - t0;
  }
  const machinePct = round(
    (100 * cpus().length * (b.machine.busy - a.machine.busy)) /
      Math.max(1, b.machine.total - a.machine.total),
    1,
  );
  const nodesPct = pct(
    (b.nodeTicks.reduce((x, y) => x + y, 0) - a.nodeTicks.reduce((x, y) => x + y, 0)) / CLK_TCK,
  );
  const postgresPct = pct(pgT / CLK_TCK);
  const benchPct = pct((b.benchMicros - a.benchMicros) / 1e6);
  return {
    seconds: round(secs, 2),
    nodes,
    postgresPct,
    benchPct,
    machinePct,
    otherPct: round(Math.max(0, machinePct - nodesPct - postgresPct - benchPct), 1),
  };
}
type Between = ReturnType<typeof between>;

// ---------------------------------------------------------------- one phase

interface PhaseResult {
  phase: string;
  jobs: number;
  spreadSeconds: number;
  latenessMs: Quantiles;
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
  const plan = async (sql: string, params: unknown[]) =>
    (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE) ${sql}`, params)).rows.map(
      (r) => r['QUERY PLAN'],
    );
  out[`nextDue (${rows} rows)`] = summarise(
    await plan(
      `SELECT min(GREATEST(run_at, COALESCE(locked_until, run_at))) AS at FROM jobs WHERE dead_at IS NULL`,
      [],
    ),
  );
  await c.query('BEGIN');
  try {
    out['claim (batch 100)'] = summarise(
      await plan(
        `UPDATE jobs SET locked_by = $1, locked_until = $3, attempts = attempts + 1
          WHERE id IN (
            SELECT id FROM jobs
             WHERE dead_at IS NULL AND run_at <= $2 AND (locked_until IS NULL OR locked_until < $2)
             ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED)
          RETURNING id, kind, run_at, payload, attempts`,
        ['explain', at, new Date(at.getTime() + 30_000), 100],
      ),
    );
  } finally {
    await c.query('ROLLBACK');
  }
  return out;
}

async function runPhase(
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
  const pids = await pgPids(c, dbName);
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
  const s1 = await snapshot(nodes, [...new Set([...pids, ...(await pgPids(c, dbName))])]);

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
    latenessMs: quantiles(lateness),
    latenessByTenth: tenths.map((l, i) => {
      const q = quantiles(l);
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

async function idleWindow(c: pg.Client, dbName: string, nodes: BenchNode[]): Promise<Between> {
  const pids = await pgPids(c, dbName);
  const s0 = await snapshot(nodes, pids);
  await sleep(IDLE_SECONDS * 1000);
  return between(s0, await snapshot(nodes, pids));
}

// ---------------------------------------------------------------- one mode

interface ModeResult {
  mode: Mode;
  ok: boolean;
  error?: string;
  /** Machine CPU (% of one core) when each load phase started, after waiting for quiet. */
  quietBusyPct: Record<string, number>;
  idleBefore?: Between;
  spread?: PhaseResult;
  idleAfter?: Between;
  idleWithFutureJob?: Between;
  burst?: PhaseResult;
  nodeProblems: Record<string, string[]>;
}

async function runMode(mode: Mode, url: string, dbName: string, c: pg.Client): Promise<ModeResult> {
  const result: ModeResult = { mode, ok: false, nodeProblems: {}, quietBusyPct: {} };
  const nodes: BenchNode[] = [];
  try {
    for (let i = 1; i <= NODES; i++) nodes.push(await startNode(mode, `${mode}-${i}`, url));
    log(`[${mode}] ${NODES} nodes up (pids ${nodes.map((n) => n.pid).join(', ')})`);
    await sleep(1000);

    log(`[${mode}] idle, empty jobs table, ${IDLE_SECONDS} s`);
    result.idleBefore = await idleWindow(c, dbName, nodes);

    result.quietBusyPct.spread = await waitForQuietMachine(`${mode}-spread`);
    const offs = offsets(JOBS, SPREAD_SECONDS * 1000);
    log(`[${mode}] spread: ${JOBS} jobs over ${SPREAD_SECONDS} s, first due in ${LEAD_SECONDS} s`);
    result.spread = await runPhase(c, dbName, nodes, `${mode}-spread`, offs, LEAD_SECONDS * 1000);
    log(
      `[${mode}] spread: lateness p50 ${result.spread.latenessMs.p50} ms, p99 ${result.spread.latenessMs.p99} ms, max ${result.spread.latenessMs.max} ms; ${result.spread.throughputPerSecond} jobs/s`,
    );

    await sleep(1000);
    log(`[${mode}] idle after the minute, ${IDLE_SECONDS} s`);
    result.idleAfter = await idleWindow(c, dbName, nodes);

    await c.query(
      `INSERT INTO jobs (id, kind, run_at, payload, created_at)
       VALUES ('future', $1, now() + interval '1 hour', '{"phase":"future"}', now())`,
      [KIND],
    );
    for (const node of nodes) node.wake();
    await sleep(500);
    log(`[${mode}] idle with one job due in an hour, ${IDLE_SECONDS} s`);
    result.idleWithFutureJob = await idleWindow(c, dbName, nodes);
    await c.query(`DELETE FROM jobs WHERE id = 'future'`);

    if (BURST) {
      result.quietBusyPct.burst = await waitForQuietMachine(`${mode}-burst`);
      log(`[${mode}] burst: ${JOBS} jobs all due at one instant`);
      result.burst = await runPhase(c, dbName, nodes, `${mode}-burst`, new Array(JOBS).fill(0), 1500);
      log(
        `[${mode}] burst: drained in ${result.burst.firingSeconds} s, ${result.burst.throughputPerSecond} jobs/s`,
      );
    }
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`[${mode}] FAILED: ${(e as Error).message}`);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const n of nodes) if (n.problems.length) result.nodeProblems[n.name] = n.problems.slice(0, 20);
    await c.query('DELETE FROM jobs').catch(() => {});
  }
  return result;
}

// ---------------------------------------------------------------- report

function report(results: ModeResult[], startedAt: Date, seconds: number): boolean {
  const by = new Map(results.map((r) => [r.mode, r]));
  const s = by.get('scheduler');
  const b = by.get('baseline');
  const ratio = (x: number | undefined, y: number | undefined) =>
    x !== undefined && y !== undefined && y > 0 ? round(x / y, 2) : undefined;

  const p99 = s?.spread?.latenessMs.p99;
  const exactly = s?.spread?.exactlyOnce.pass && (!s?.burst || s.burst.exactlyOnce.pass);
  const idleMax = s?.idleAfter ? Math.max(...s.idleAfter.nodes.map((n) => n.cpuPct)) : undefined;
  const idleFutureMax = s?.idleWithFutureJob
    ? Math.max(...s.idleWithFutureJob.nodes.map((n) => n.cpuPct))
    : undefined;
  const verdict = {
    p99LatenessUnder1s: p99 === undefined ? undefined : { p99Ms: p99, pass: p99 < P99_TARGET_MS },
    exactlyOnce: s?.spread ? { pass: !!exactly } : undefined,
    idleCpu:
      idleMax === undefined
        ? undefined
        : {
            maxNodePctAfter: idleMax,
            maxNodePctWithFutureJob: idleFutureMax,
            pass: idleMax < IDLE_CPU_TARGET_PCT && (idleFutureMax ?? 0) < IDLE_CPU_TARGET_PCT,
          },
    vsBaseline: {
      p99LatenessRatio: ratio(p99, b?.spread?.latenessMs.p99),
      spreadThroughputRatio: ratio(s?.spread?.throughputPerSecond, b?.spread?.throughputPerSecond),
      burstThroughputRatio: ratio(s?.burst?.throughputPerSecond, b?.burst?.throughputPerSecond),
    },
  };
  const json = {
    benchmark: 'scheduler',
    startedAt: startedAt.toISOString(),
    durationSeconds: round(seconds, 1),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    config: {
      jobs: JOBS,
      spreadSeconds: SPREAD_SECONDS,
      leadSeconds: LEAD_SECONDS,
      idleSeconds: IDLE_SECONDS,
      burst: BURST,
      nodes: NODES,
      scheduler: 'defaults: leaseMs 30000, maxIdleMs 30000, batch 100, concurrency 8, system clock',
      baseline: 'DELETE … SKIP LOCKED … RETURNING, batch 100, concurrency 8, 10 ms poll',
    },
    targets: { p99LatenessMs: P99_TARGET_MS, idleCpuPctOfCore: IDLE_CPU_TARGET_PCT },
    verdict,
    results,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'scheduler-latest.json');
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);

  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const rows: [string, ...string[]][] = [];
  const row = (label: string, f: (r: ModeResult) => unknown) =>
    rows.push([label, ...results.map((r) => cell(f(r)))]);
  const section = (label: string) => rows.push([label, ...results.map(() => '')]);
  const nodesPct = (w: Between | undefined) => w?.nodes.map((n) => n.cpuPct).join(' / ');
  const queriesPerS = (w: Between | undefined) =>
    w &&
    round(
      w.nodes.reduce((a, n) => a + Object.values(n.queries).reduce((x, q) => x + q.n, 0), 0) / w.seconds,
      1,
    );
  const q = (w: Between | undefined, kind: string, f: 'n' | 'empty' | 'meanMs' = 'n') => {
    if (!w) return undefined;
    const v = w.nodes.map((n) => n.queries[kind]?.[f] ?? 0);
    return f === 'meanMs' ? round(Math.max(...v), 2) : v.reduce((a, x) => a + x, 0);
  };
  const phaseRows = (label: string, get: (r: ModeResult) => PhaseResult | undefined) => {
    section(label);
    row('  lateness p50 (ms)', (r) => get(r)?.latenessMs.p50);
    row('  lateness p90 (ms)', (r) => get(r)?.latenessMs.p90);
    row('  lateness p99 (ms)', (r) => get(r)?.latenessMs.p99);
    row('  lateness max (ms)', (r) => get(r)?.latenessMs.max);
    row('  throughput (jobs/s, first due → last fired)', (r) => get(r)?.throughputPerSecond);
    row('  last fired after last due (ms)', (r) => get(r)?.drainAfterLastDueMs);
    row('  fired / distinct / missing / duplicates', (r) => {
      const e = get(r)?.exactlyOnce;
      return e && `${e.fired} / ${e.distinct} / ${e.missing} / ${e.duplicates}`;
    });
    row('  left in jobs table', (r) => get(r)?.exactlyOnce.leftInJobsTable);
    row('  exactly once', (r) => get(r) && (get(r)!.exactlyOnce.pass ? 'yes' : 'NO'));
    row('  split between nodes', (r) => {
      const p = get(r)?.perNode;
      return p && Object.values(p).join(' / ');
    });
    row('  CPU % per node', (r) => nodesPct(get(r)?.window));
    row('  CPU % postgres / other processes', (r) => {
      const w = get(r)?.window;
      return w && `${w.postgresPct} / ${w.otherPct}`;
    });
    row('  claims (empty) both nodes', (r) => {
      const w = get(r)?.window;
      const kind = r.mode === 'scheduler' ? 'claim' : 'baselineClaimDelete';
      return w && `${q(w, kind)} (${q(w, kind, 'empty')})`;
    });
    row('  nextDue reads', (r) => (r.mode === 'scheduler' ? q(get(r)?.window, 'nextDue') : undefined));
    row('  mean ms claim / complete / nextDue / record', (r) => {
      const w = get(r)?.window;
      if (!w) return undefined;
      const kinds =
        r.mode === 'scheduler'
          ? ['claim', 'complete', 'nextDue', 'record']
          : ['baselineClaimDelete', 'record'];
      return kinds.map((k) => q(w, k, 'meanMs')).join(' / ');
    });
    row('  queries per job', (r) => {
      const p = get(r);
      if (!p) return undefined;
      const total = p.window.nodes.reduce(
        (a, n) => a + Object.values(n.queries).reduce((x, v) => x + v.n, 0),
        0,
      );
      return round(total / p.jobs, 2);
    });
    row('  node event-loop delay p99 (ms)', (r) =>
      get(r)
        ?.window.nodes.map((n) => n.loopDelayP99Ms)
        .join(' / '),
    );
    row('  timed out', (r) => get(r) && (get(r)!.timedOut ? 'YES' : 'no'));
  };
  phaseRows(`${JOBS} jobs spread over ${SPREAD_SECONDS} s`, (r) => r.spread);
  if (BURST) phaseRows(`${JOBS} jobs due at one instant`, (r) => r.burst);
  section(`idle (CPU % of a core per node over ${IDLE_SECONDS} s; queries/s both nodes)`);
  row('  before, empty table', (r) => nodesPct(r.idleBefore));
  row('  after the minute, empty table', (r) => nodesPct(r.idleAfter));
  row('  one job due in an hour', (r) => nodesPct(r.idleWithFutureJob));
  row('  queries/s after the minute', (r) => queriesPerS(r.idleAfter));
  row('  queries/s, job due in an hour', (r) => queriesPerS(r.idleWithFutureJob));
  row('  status', (r) => (r.ok ? 'ok' : 'FAILED'));

  const header: [string, ...string[]] = ['', ...results.map((r) => r.mode)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out: string[] = [''];
  out.push(
    `talkroom scheduler benchmark: ${JOBS} jobs, ${NODES} nodes, PostgreSQL, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
  );
  out.push(line(header));
  for (const r of rows) out.push(line(r));

  for (const r of results) {
    const sp = r.spread;
    if (!sp) continue;
    out.push('');
    out.push(`${r.mode}: spread lateness by due time (p99 / max ms per tenth of the spread):`);
    out.push(`  ${sp.latenessByTenth.map((t) => `${t.fromS}s ${t.p99}/${t.max}`).join('  ')}`);
    if (r.mode === 'scheduler')
      for (const [k, v] of Object.entries(sp.plans)) out.push(`${r.mode}: ${k}: ${v.ms} ms, ${v.plan}`);
    out.push(
      `${r.mode}: latest jobs: ${sp.worst.map((w) => `${w.id} (due +${w.dueOffsetMs} ms, ${w.latenessMs} ms late, ${w.node}, attempt ${w.attempts})`).join('; ')}`,
    );
  }

  out.push('');
  out.push('targets (scheduler)');
  const pf = (p: boolean | undefined) => (p === undefined ? 'n/a' : p ? 'PASS' : 'FAIL');
  out.push(`  p99 lateness < ${P99_TARGET_MS} ms: ${pf(verdict.p99LatenessUnder1s?.pass)} (${cell(p99)} ms)`);
  out.push(
    `  exactly once (every job fired once, none twice, table empty): ${pf(verdict.exactlyOnce?.pass)}`,
  );
  out.push(
    `  idle CPU < ${IDLE_CPU_TARGET_PCT}% of a core per node: ${pf(verdict.idleCpu?.pass)} (after the minute ${cell(idleMax)}%, with a job due in an hour ${cell(idleFutureMax)}%)`,
  );
  out.push('vs baseline (scheduler / bare loop)');
  out.push(
    `  p99 lateness: ${cell(p99)} / ${cell(b?.spread?.latenessMs.p99)} ms = ${cell(verdict.vsBaseline.p99LatenessRatio)}×`,
  );
  out.push(
    `  throughput, spread: ${cell(s?.spread?.throughputPerSecond)} / ${cell(b?.spread?.throughputPerSecond)} jobs/s = ${cell(verdict.vsBaseline.spreadThroughputRatio)}×`,
  );
  if (BURST)
    out.push(
      `  throughput, burst: ${cell(s?.burst?.throughputPerSecond)} / ${cell(b?.burst?.throughputPerSecond)} jobs/s = ${cell(verdict.vsBaseline.burstThroughputRatio)}×`,
    );

  for (const r of results) {
    if (!r.ok) out.push('', `${r.mode}: FAILED: ${r.error ?? '?'}`);
    for (const [name, problems] of Object.entries(r.nodeProblems)) {
      out.push('', `${name} printed ${problems.length} warning/error lines, e.g.:`);
      for (const p of problems.slice(0, 3)) out.push(`  ${p}`);
    }
  }
  const disturbed = results.filter(
    (r) => (r.spread?.window.otherPct ?? 0) > 25 || (r.burst?.window.otherPct ?? 0) > 25,
  );
  if (disturbed.length)
    out.push(
      '',
      `WARNING: other processes used much CPU during ${disturbed.map((r) => r.mode).join(', ')} (${disturbed.map((r) => `${r.spread?.window.otherPct}% / ${r.burst?.window.otherPct ?? '–'}%`).join(', ')} of a core): figures disturbed.`,
    );
  out.push('', `took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return (
    results.every((r) => r.ok) &&
    !!verdict.p99LatenessUnder1s?.pass &&
    !!verdict.exactlyOnce?.pass &&
    !!verdict.idleCpu?.pass
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const startedAt = new Date();
  const t0 = Date.now();
  const dbName = `talkroom_bench_sched_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${dbName}`);
  cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  const u = new URL(ADMIN_URL);
  u.pathname = `/${dbName}`;
  const url = u.toString();
  const store = await openStore({ databaseUrl: url, poolSize: 2 });
  await store.db.exec(
    `CREATE TABLE bench_fired (phase text NOT NULL, job_id text NOT NULL, node text NOT NULL,
       due_at timestamptz NOT NULL, fired_at timestamptz NOT NULL, attempts integer NOT NULL)`,
  );
  await store.db.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  cleanups.push(() => c.end());
  log(
    `scheduler benchmark: ${JOBS} jobs over ${SPREAD_SECONDS} s, ${NODES} nodes, modes ${MODES.join(', ')}; database ${dbName}`,
  );
  const results: ModeResult[] = [];
  for (const m of MODES) results.push(await runMode(m, url, dbName, c));
  return report(results, startedAt, (Date.now() - t0) / 1000) ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (e) {
  log(`benchmark failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await runCleanups();
  for (const c of children) c.kill('SIGKILL');
}

/**
 * Messaging benchmark (`npm run bench:messaging`).
 *
 * What it measures, on this machine, with 1,000 rooms (2,000 sockets: the
 * client and the provider of each room):
 *  - round trip: from a member's `message:send` until the OTHER member's
 *    socket receives `message:new` with that clientMsgId. On talkroom that is
 *    validate → authorise → store durably → fan out; p50/p99 at a steady,
 *    moderate open-loop rate (BENCH_RATE msg/s spread over all rooms; this is
 *    the figure the targets use), and first at a light rate (BENCH_LIGHT_RATE)
 *    that shows the per-message cost even where the moderate rate saturates
 *    a store (then the report says SATURATED: its figures are queueing);
 *  - sustained throughput: closed loop, every room keeps BENCH_INFLIGHT
 *    messages in flight; stored (acknowledged) and delivered messages/s over a
 *    fixed window after a ramp-up.
 * Three servers, in this order, in one run, each in a child process of its own
 * so the load generator (this process) never shares an event loop with it:
 *  - echo: bench/echo-server.ts, a bare Socket.IO server that acks and emits a
 *    message of the same shape to the other socket of the pair, no storage;
 *  - embedded: talkroom on its default embedded store (PGlite under DATA_DIR);
 *  - postgres: talkroom on a fresh PostgreSQL database (dropped afterwards).
 *
 * Why the baseline is fair: same machine, same client code and sockets
 * (websocket transport, same payloads, same ack-then-deliver protocol), same
 * Socket.IO server options, same rates, same run. The baseline does strictly
 * less (no auth check per message, no validation, no storage, and it delivers
 * only to the other member while talkroom also echoes `message:new` to the
 * sender), so p50(talkroom) / p50(echo) is the cost talkroom adds on top of
 * Socket.IO itself. Targets (issue): p50 within 2× the echo; ≥ 3,000 stored
 * messages/s sustained on PostgreSQL.
 *
 * The machine is shared: before each server starts, the script waits (up to
 * BENCH_QUIET_WAIT_SECONDS) for other processes to go quiet, and it reports
 * the CPU of the server, PostgreSQL, the load generator and everything else
 * during each window, warning when other processes disturbed the figures.
 *
 * The cost of encryption at rest: `--only postgres,postgres-plain` runs talkroom
 * on PostgreSQL as configured (text and meta sealed under ENCRYPTION_KEYS) and
 * then the same server with encryption off (bench/plain-server.ts), in one run.
 *
 * Usage: node bench/messaging.ts [--only echo,embedded,postgres,postgres-plain]
 * Env: BENCH_SECONDS (10: latency and throughput windows), BENCH_WARMUP_SECONDS (3),
 *      BENCH_RATE (1000 msg/s), BENCH_LIGHT_RATE (100 msg/s for 5 s; 0 skips it),
 *      BENCH_INFLIGHT (2 per room), BENCH_ROOMS (1000), BENCH_QUIET_WAIT_SECONDS (120),
 *      BENCH_DATABASE_URL (admin URL, postgres://postgres@127.0.0.1:5432/test),
 *      BENCH_DB_POOL_SIZE (server's DB_POOL_SIZE; unset = server default),
 *      BENCH_CPU_PROF=1 (profile the server with --cpu-prof; prints its hot spots
 *      during the throughput window).
 * Writes bench/results/messaging-latest.json. All traffic stays on 127.0.0.1.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { io as connectSocket, type Socket as IoSocket } from 'socket.io-client';
import type { Ack } from '../protocol/errors.ts';
import type { ClientToServerEvents, RequestAnswer, ServerToClientEvents } from '../protocol/events.ts';
import { mintToken } from '../src/auth/tokens.ts';

/**
 * The load generator's sockets speak the contract's events, typed from protocol/, but not through
 * @talkroom/client: the figures are the server's own, without the SDK's outbox, ordering and
 * catch-up bookkeeping on the client side (a real client pays that on its own device).
 */
type Socket = IoSocket<ServerToClientEvents, ClientToServerEvents>;

import { monoMicros, newestProfile, type ProfileSummary, summariseProfile } from './cpuprofile.ts';

// ---------------------------------------------------------------- settings

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'bench', 'results');

const num = (name: string, dflt: number, min: number, max: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name}: expected ${min}..${max}, got ${raw}`);
  return n;
};

const ROOMS = Math.round(num('BENCH_ROOMS', 1000, 1, 5000));
const SECONDS = num('BENCH_SECONDS', 10, 1, 120);
const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 3, 0, 60);
const RAMP_SECONDS = 2;
const RATE = num('BENCH_RATE', 1000, 1, 100_000);
/** A second, light open-loop rate: per-message cost without queueing, even where RATE saturates a store. */
const LIGHT_RATE = num('BENCH_LIGHT_RATE', 100, 0, 100_000);
const LIGHT_SECONDS = Math.min(5, SECONDS);
const INFLIGHT = Math.round(num('BENCH_INFLIGHT', 2, 1, 64));
const DB_POOL_SIZE = process.env.BENCH_DB_POOL_SIZE;
const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const HOST = '127.0.0.1';
const SECRET = randomBytes(32).toString('hex');
const PROVISION_CONCURRENCY = 32;
const CONNECT_CONCURRENCY = 50;
/** A message with no ack after this long counts as timed out (and frees its closed-loop slot). */
const ACK_TIMEOUT_MS = 15_000;
/** How long a phase waits, after it stops sending, for outstanding acks and deliveries. */
const DRAIN_MS = 30_000;
/** Open loop: a backlog this large means the server cannot keep up with the offered rate; stop offering. */
const BACKLOG_LIMIT = 5000;
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 120, 0, 3600);
/** Machine CPU (% of one core) below which the machine counts as quiet. */
const QUIET_BUSY_PCT = 30;
const TEXT = 'Thanks for checking in. This week was a bit better; the breathing exercise helped before work.';
/** Latency target: p50 round trip within this factor of the echo baseline. */
const P50_FACTOR_TARGET = 2;
/** Throughput target on PostgreSQL, stored messages/s. */
const PG_THROUGHPUT_TARGET = 3000;

/** postgres-plain: talkroom on PostgreSQL with encryption at rest off (bench/plain-server.ts), to show what sealing costs. */
type TargetName = 'echo' | 'embedded' | 'postgres' | 'postgres-plain';
const ALL_TARGETS: TargetName[] = ['echo', 'embedded', 'postgres'];
const KNOWN_TARGETS: TargetName[] = [...ALL_TARGETS, 'postgres-plain'];

function parseTargets(argv: string[]): TargetName[] {
  const wanted: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') wanted.push(...(argv[++i] ?? '').split(','));
    else if (a.startsWith('--only=')) wanted.push(...a.slice('--only='.length).split(','));
    else
      throw new Error(
        `unknown argument ${a}; usage: node bench/messaging.ts [--only echo,embedded,postgres,postgres-plain]`,
      );
  }
  if (wanted.length === 0) return ALL_TARGETS;
  for (const w of wanted) {
    if (!KNOWN_TARGETS.includes(w as TargetName)) throw new Error(`--only: unknown target ${w}`);
  }
  return KNOWN_TARGETS.filter((t) => wanted.includes(t));
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
const now = () => performance.now();

// ---------------------------------------------------------------- server processes

interface ServerProc {
  proc: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Log lines at level warn (40) or above, and stderr lines. */
  problems: { count: number; samples: string[] };
  exited: { code: number | null; signal: string | null } | undefined;
  stderrTail: string[];
}

function spawnServer(script: string, env: Record<string, string>, nodeArgs: string[]): Promise<ServerProc> {
  const proc = spawn(process.execPath, [...nodeArgs, script], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const s: ServerProc = {
    proc,
    pid: proc.pid ?? -1,
    port: 0,
    url: '',
    problems: { count: 0, samples: [] },
    exited: undefined,
    stderrTail: [],
  };
  const problem = (line: string) => {
    s.problems.count++;
    if (s.problems.samples.length < 8) s.problems.samples.push(line.slice(0, 600));
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not start listening within 60 s`)),
      60_000,
    );
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      s.exited = { code, signal };
      clearTimeout(timer);
      reject(
        new Error(
          `${script} exited (${code ?? signal}) before listening: ${s.stderrTail.slice(-10).join('\n')}`,
        ),
      );
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: { msg?: string; port?: number; level?: number } | undefined;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (!rec) return;
      if (!s.port && (rec.msg === 'talkroom listening' || rec.msg === 'echo listening')) {
        if (typeof rec.port !== 'number') return;
        s.port = rec.port;
        s.url = `http://${HOST}:${rec.port}`;
        clearTimeout(timer);
        resolve(s);
      }
      if (typeof rec.level === 'number' && rec.level >= 40) problem(line);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      s.stderrTail.push(line);
      if (s.stderrTail.length > 50) s.stderrTail.shift();
      problem(`stderr: ${line}`);
    });
  });
}

async function stopServer(s: ServerProc): Promise<void> {
  if (s.exited) return;
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------- PostgreSQL

async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(
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

async function createDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const name = `talkroom_bench_${randomBytes(6).toString('hex')}`;
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

/** Samples pg_stat_activity for one database: how busy the server's connection pool is, and on what. */
class PgSampler {
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

interface CpuSnapshot {
  at: number;
  server: number;
  /** Ticks per PostgreSQL process (this database's backends and the background processes). */
  postgres: Map<number, number>;
  bench: number;
  machine: { busy: number; total: number };
}

function cpuSnapshot(serverPid: number, pgPids: Iterable<number> = []): CpuSnapshot {
  const u = process.cpuUsage();
  const postgres = new Map<number, number>();
  for (const pid of pgPids) {
    const t = procTicks(pid);
    if (t > 0) postgres.set(pid, t);
  }
  return {
    at: now(),
    server: procTicks(serverPid),
    postgres,
    bench: (u.user + u.system) / 1e6,
    machine: machineTicks(),
  };
}

/** Waits (bounded) until the machine is nearly idle, so other work does not skew a target's figures. */
async function waitForQuietMachine(label: string): Promise<number> {
  const limit = now() + QUIET_WAIT_SECONDS * 1000;
  let busyPct = 0;
  for (;;) {
    const a = machineTicks();
    await sleep(1000);
    const b = machineTicks();
    busyPct = round((100 * cpus().length * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
    if (busyPct <= QUIET_BUSY_PCT) return busyPct;
    if (now() > limit) {
      log(
        `[${label}] machine still busy (${busyPct}% CPU of ${cpus().length * 100}) after ${QUIET_WAIT_SECONDS} s; going ahead`,
      );
      return busyPct;
    }
    log(`[${label}] waiting for a quiet machine: other processes use ${busyPct}% CPU`);
  }
}

/** CPU use over an interval, in % of one core (this machine has cpus().length cores). */
function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  const secs = (b.at - a.at) / 1000;
  const pct = (v: number) => round((100 * v) / secs, 0);
  const server = pct((b.server - a.server) / CLK_TCK);
  let pgTicks = 0;
  for (const [pid, t] of b.postgres) pgTicks += t - (a.postgres.get(pid) ?? 0);
  const postgres = pct(pgTicks / CLK_TCK);
  const bench = pct(b.bench - a.bench);
  const dm = b.machine.total - a.machine.total;
  const machine = dm > 0 ? round((100 * cpus().length * (b.machine.busy - a.machine.busy)) / dm, 0) : 0;
  return {
    serverPct: server,
    postgresPct: postgres,
    loadGeneratorPct: bench,
    machinePct: machine,
    /** Everything else on the machine (other processes, kernel): high values mean disturbed figures. */
    otherPct: Math.max(0, machine - server - postgres - bench),
  };
}

// ---------------------------------------------------------------- server /metrics (talkroom only)

type Metrics = Map<string, number>;

async function scrape(url: string): Promise<Metrics> {
  const m: Metrics = new Map();
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    for (const line of (await res.text()).split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  } catch {
    // metrics are a diagnostic; a missing scrape leaves the fields empty
  }
  return m;
}

const sumOf = (m: Metrics, prefix: string) =>
  [...m].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

/** What the server saw between two scrapes (the event-loop histogram resets on each scrape). */
function serverMetricsBetween(a: Metrics, b: Metrics, seconds: number) {
  if (a.size === 0 || b.size === 0) return undefined;
  const d = (k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const gc = sumOf(b, 'nodejs_gc_duration_seconds_sum') - sumOf(a, 'nodejs_gc_duration_seconds_sum');
  const count = d('talkroom_message_append_seconds_count');
  const buckets = [...b]
    .filter(([k]) => k.startsWith('talkroom_message_append_seconds_bucket'))
    .map(([k, v]) => ({ le: Number(/le="([^"]+)"/.exec(k)?.[1] ?? 'NaN'), n: v - (a.get(k) ?? 0) }))
    .sort((x, y) => x.le - y.le);
  const bucketQuantile = (q: number) => {
    const hit = buckets.find((x) => x.n >= q * count);
    return hit ? (Number.isFinite(hit.le) ? `≤ ${hit.le * 1000} ms` : '> 1000 ms') : undefined;
  };
  const outcomes: Record<string, number> = {};
  for (const [k, v] of b) {
    if (!k.startsWith('talkroom_socket_requests_total')) continue;
    const n = v - (a.get(k) ?? 0);
    const outcome = /outcome="([^"]+)"/.exec(k)?.[1] ?? '?';
    if (n > 0) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
  }
  return {
    gcPctOfWallTime: round((100 * gc) / seconds, 1),
    heapUsedMb: round((b.get('nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20, 0),
    storeAppendMs: {
      mean: count > 0 ? round((1000 * d('talkroom_message_append_seconds_sum')) / count, 2) : undefined,
      p50: bucketQuantile(0.5),
      p99: bucketQuantile(0.99),
    },
    socketRequests: outcomes,
  };
}

/**
 * Polls the server's /metrics once a second: the event-loop delay (its
 * histogram restarts at every scrape, so each poll covers the second before)
 * and how long the scrape itself took to answer.
 */
class LagPoller {
  readonly #url: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #busy = false;
  p99: number[] = [];
  max: number[] = [];
  scrapeMs: number[] = [];
  /** Scrapes with no answer within the scrape timeout (10 s). */
  timeouts = 0;
  constructor(url: string | undefined) {
    this.#url = url;
  }
  start(): void {
    const url = this.#url;
    if (!url) return;
    // One scrape at a time: back-to-back scrapes would read a just-reset histogram.
    const poll = (record: boolean) => {
      if (this.#busy) return;
      this.#busy = true;
      this.#inFlight = (async () => {
        const t = now();
        const m = await scrape(url);
        if (!record) return;
        if (m.size === 0) {
          this.timeouts++;
          return;
        }
        this.scrapeMs.push(now() - t);
        // Under 1 ms means no real sample since the last scrape (the 10 ms timer did not run in between).
        const p99 = m.get('nodejs_eventloop_lag_p99_seconds') ?? 0;
        if (p99 >= 0.001) this.p99.push(p99 * 1000);
        const max = m.get('nodejs_eventloop_lag_max_seconds') ?? 0;
        if (max >= 0.001) this.max.push(max * 1000);
      })().finally(() => {
        this.#busy = false;
      });
    };
    poll(false); // restarts the histogram
    this.#timer = setInterval(() => poll(true), 1000);
  }
  async stop(): Promise<LagSummary | undefined> {
    clearInterval(this.#timer);
    await this.#inFlight;
    if (this.scrapeMs.length === 0 && this.timeouts === 0) return undefined;
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const worst = (v: number[]) => (v.length ? round(Math.max(...v), 1) : undefined);
    const mid = median(this.p99);
    return {
      p99Median: mid === undefined ? undefined : round(mid, 1),
      p99Worst: worst(this.p99),
      maxWorst: worst(this.max),
      metricsScrapeMsWorst: worst(this.scrapeMs),
      metricsScrapeTimeouts: this.timeouts,
    };
  }
}

/** Event-loop delay in ms (monitorEventLoopDelay, 10 ms resolution: ~10 ms means no delay). */
interface LagSummary {
  /** Median over one-second polls of the p99. */
  p99Median: number | undefined;
  p99Worst: number | undefined;
  maxWorst: number | undefined;
  /** Slowest /metrics answer: a direct view of how long a request queued on the server. */
  metricsScrapeMsWorst: number | undefined;
  /** /metrics requests not answered within 10 s: the event loop was blocked for that long. */
  metricsScrapeTimeouts: number;
}

const fmtLag = (l: LagSummary | undefined) =>
  l &&
  (l.p99Median === undefined
    ? l.metricsScrapeTimeouts
      ? `no answer (${l.metricsScrapeTimeouts} × 10 s)`
      : 'no sample'
    : `${l.p99Median} (worst ${l.p99Worst})`);

// ---------------------------------------------------------------- provisioning (talkroom only)

async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function api(base: string, token: string, method: string, path: string, body: unknown): Promise<any> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

interface RoomSpec {
  roomId: string;
  tokens: [string, string];
}

const pad = (i: number) => String(i).padStart(4, '0');

async function provisionTalkroom(url: string): Promise<RoomSpec[]> {
  const admin = mintToken(SECRET, { sub: 'bench-admin', role: 'admin' }, { expiresInSec: 3600 });
  const out: RoomSpec[] = new Array(ROOMS);
  await mapLimit(
    Array.from({ length: ROOMS }, (_, i) => i),
    PROVISION_CONCURRENCY,
    async (i) => {
      const client = `bench-client-${pad(i)}`;
      const provider = `bench-provider-${pad(i)}`;
      await api(url, admin, 'PUT', `/v1/users/${client}`, {
        role: 'client',
        displayName: `Client ${i}`,
        timezone: 'UTC',
      });
      await api(url, admin, 'PUT', `/v1/users/${provider}`, {
        role: 'provider',
        displayName: `Provider ${i}`,
        timezone: 'UTC',
        specialty: 'therapy',
      });
      await api(url, admin, 'PUT', `/v1/users/${client}/plan`, {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 4,
        periodStart: '2026-11-01',
      });
      const { room } = await api(url, admin, 'POST', '/v1/rooms', {
        kind: 'therapy',
        clientId: client,
        providerId: provider,
        service: 'therapy',
      });
      out[i] = {
        roomId: room.id,
        tokens: [
          mintToken(SECRET, { sub: client, role: 'client' }, { expiresInSec: 3600 }),
          mintToken(SECRET, { sub: provider, role: 'provider' }, { expiresInSec: 3600 }),
        ],
      };
    },
  );
  return out;
}

function echoRooms(): RoomSpec[] {
  return Array.from({ length: ROOMS }, (_, i) => ({
    roomId: `echo-room-${pad(i)}`,
    tokens: [`echo-client-${pad(i)}`, `echo-provider-${pad(i)}`] as [string, string],
  }));
}

// ---------------------------------------------------------------- load generator

interface Pair {
  roomId: string;
  sockets: [Socket, Socket];
  /** Which member sends next: the two alternate. */
  next: 0 | 1;
}

interface Pending {
  t0: number;
  from: Socket;
  phase: Phase;
  acked: boolean;
  delivered: boolean;
  onAcked: (() => void) | undefined;
}

class Phase {
  readonly name: string;
  sent = 0;
  ackedOk = 0;
  ackErrors: Record<string, number> = {};
  timeouts = 0;
  delivered = 0;
  outstanding = 0;
  /** Open loop only: the backlog passed BACKLOG_LIMIT, so offering stopped early. */
  saturated = false;
  /** How long messages were offered, in seconds. */
  offeredSeconds = 0;
  /** Samples are kept only while recording (the measured window). */
  recording = true;
  rtt: number[] = [];
  ack: number[] = [];
  constructor(name: string) {
    this.name = name;
  }
}

class LoadGenerator {
  readonly pairs: Pair[] = [];
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  readonly #prefix = randomBytes(4).toString('hex');
  #sweeper: NodeJS.Timeout | undefined;
  closing = false;
  unexpectedDisconnects: Record<string, number> = {};

  async connect(url: string, rooms: RoomSpec[]): Promise<void> {
    const pairs: Pair[] = new Array(rooms.length);
    const connectOne = (token: string, roomId: string) =>
      new Promise<Socket>((resolve, reject) => {
        const s = connectSocket(url, {
          auth: { token, room: roomId },
          transports: ['websocket'],
          reconnection: false,
          forceNew: true,
          timeout: 20_000,
        });
        s.once('connect', () => resolve(s));
        s.once('connect_error', (e) => {
          s.close();
          reject(new Error(`socket connect failed: ${e.message}`));
        });
      });
    await mapLimit(rooms, CONNECT_CONCURRENCY, async (r, i) => {
      const a = await connectOne(r.tokens[0], r.roomId);
      const b = await connectOne(r.tokens[1], r.roomId);
      pairs[i] = { roomId: r.roomId, sockets: [a, b], next: (i % 2) as 0 | 1 };
      for (const s of [a, b]) this.#wire(s);
    });
    this.pairs.push(...pairs);
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
  }

  #wire(s: Socket): void {
    s.on('message:new', (m: { clientMsgId?: string }) => {
      const id = m?.clientMsgId;
      if (!id) return;
      const p = this.#pending.get(id);
      // talkroom also tells the sender's own socket; only the other member's copy counts.
      if (!p || p.from === s || p.delivered) return;
      p.delivered = true;
      p.phase.delivered++;
      if (p.phase.recording) p.phase.rtt.push(now() - p.t0);
      if (p.acked) this.#settle(id, p);
    });
    s.on('disconnect', (reason) => {
      if (!this.closing) this.unexpectedDisconnects[reason] = (this.unexpectedDisconnects[reason] ?? 0) + 1;
    });
  }

  #settle(id: string, p: Pending): void {
    this.#pending.delete(id);
    p.phase.outstanding--;
  }

  send(pair: Pair, phase: Phase, onAcked?: () => void): void {
    const side = pair.next;
    pair.next = side === 0 ? 1 : 0;
    const from = pair.sockets[side];
    const id = `${this.#prefix}-${++this.#seq}`;
    const p: Pending = { t0: now(), from, phase, acked: false, delivered: false, onAcked };
    this.#pending.set(id, p);
    phase.sent++;
    phase.outstanding++;
    from.emit(
      'message:send',
      { roomId: pair.roomId, clientMsgId: id, kind: 'text', text: TEXT },
      (res: Ack<RequestAnswer<'message:send'>>) => {
        if (p.acked || this.#pending.get(id) !== p) return; // already timed out
        p.acked = true;
        if (res?.ok) {
          phase.ackedOk++;
          if (phase.recording) phase.ack.push(now() - p.t0);
          if (p.delivered) this.#settle(id, p);
        } else {
          const code = res?.error?.code ?? 'malformed_ack';
          phase.ackErrors[code] = (phase.ackErrors[code] ?? 0) + 1;
          this.#settle(id, p); // nothing will be delivered
        }
        p.onAcked?.();
      },
    );
  }

  /** Gives up on messages without an ack after ACK_TIMEOUT_MS, so closed-loop slots never stall for good. */
  #sweep(): void {
    const limit = now() - ACK_TIMEOUT_MS;
    for (const [id, p] of this.#pending) {
      if (p.acked || p.t0 > limit) continue;
      p.acked = true;
      p.phase.timeouts++;
      this.#settle(id, p);
      p.onAcked?.();
    }
  }

  /** Waits until every message of the phase is acked and delivered, or DRAIN_MS passed. */
  async drain(phase: Phase): Promise<number> {
    const until = now() + DRAIN_MS;
    while (phase.outstanding > 0 && now() < until) await sleep(20);
    let lost = 0;
    for (const [id, p] of this.#pending) {
      if (p.phase !== phase) continue;
      lost++;
      this.#pending.delete(id);
    }
    phase.outstanding = 0;
    return lost;
  }

  /** Open loop: `rate` messages/s round-robin over the rooms for `seconds`, then drain. */
  async openLoop(phase: Phase, rate: number, seconds: number): Promise<number> {
    const total = Math.round(rate * seconds);
    const start = now();
    let i = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate));
        while (i < due && phase.outstanding < BACKLOG_LIMIT)
          this.send(this.pairs[i++ % this.pairs.length]!, phase);
        if (phase.outstanding >= BACKLOG_LIMIT) phase.saturated = true;
        if (i >= total || phase.saturated) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    phase.offeredSeconds = (now() - start) / 1000;
    // More than half a second of offered messages still unanswered: the server fell behind.
    if (phase.outstanding > Math.max(50, rate / 2)) phase.saturated = true;
    return this.drain(phase);
  }

  /**
   * Closed loop: each room keeps `inflight` messages outstanding (a slot sends
   * its next message when the previous one is acked). Calls `window` with the
   * phase once the ramp is over; the window's length is the caller's.
   */
  async closedLoop(
    phase: Phase,
    inflight: number,
    rampSeconds: number,
    windowSeconds: number,
    hooks: { windowStart: () => void; windowEnd: () => void; second: () => void },
  ): Promise<number> {
    let stopping = false;
    const slot = (pair: Pair) => {
      const again = () => {
        if (!stopping) this.send(pair, phase, again);
      };
      return again;
    };
    phase.recording = false;
    for (const pair of this.pairs) for (let k = 0; k < inflight; k++) slot(pair)();
    await sleep(rampSeconds * 1000);
    phase.recording = true;
    hooks.windowStart();
    for (let s = 0; s < windowSeconds; s++) {
      await sleep(1000);
      hooks.second();
    }
    hooks.windowEnd();
    phase.recording = false;
    stopping = true;
    return this.drain(phase);
  }

  close(): void {
    this.closing = true;
    clearInterval(this.#sweeper);
    for (const p of this.pairs) for (const s of p.sockets) s.disconnect();
    this.pairs.length = 0;
    this.#pending.clear();
  }
}

// ---------------------------------------------------------------- statistics

function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function quantiles(values: number[]) {
  if (values.length === 0) return { n: 0 };
  const a = Float64Array.from(values).sort();
  const q = (p: number) => round(a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]!, 2);
  return {
    n: a.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: round(a[a.length - 1]!, 2),
    mean: round(a.reduce((x, y) => x + y, 0) / a.length, 2),
  };
}

type Quantiles = ReturnType<typeof quantiles>;

// ---------------------------------------------------------------- one target

interface LatencyResult {
  ratePerSecond: number;
  seconds: number;
  /** The server fell behind the offered rate (backlog grew): the figures are mostly queueing. */
  saturated: boolean;
  ackedPerSecond: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  ackErrors: Record<string, number>;
  timeouts: number;
  roundTripMs: Quantiles;
  ackMs: Quantiles;
  cpu: ReturnType<typeof cpuBetween>;
  server?: ReturnType<typeof serverMetricsBetween>;
  eventLoopDelayMs?: LagSummary;
}

interface TargetResult {
  target: TargetName;
  ok: boolean;
  error?: string;
  setup?: { provisionSeconds: number; connectSeconds: number; sockets: number };
  /** Round trip at BENCH_LIGHT_RATE: per-message cost without queueing. */
  lightLatency?: LatencyResult;
  latency?: LatencyResult;
  throughput?: {
    inflightPerRoom: number;
    windowSeconds: number;
    storedPerSecond: number;
    deliveredPerSecond: number;
    storedPerSecondMin: number;
    storedPerSecondMax: number;
    perSecond: number[];
    secondMs: number[];
    ackErrors: Record<string, number>;
    timeouts: number;
    lostAfterDrain: number;
    roundTripMs: Quantiles;
    ackMs: Quantiles;
    cpu: ReturnType<typeof cpuBetween>;
    server?: ReturnType<typeof serverMetricsBetween>;
    eventLoopDelayMs?: LagSummary;
    pgPool?: ReturnType<PgSampler['summary']>;
    profile?: ProfileSummary;
  };
  /** CPU the machine was using (% of one core) just before the target started. */
  machineBusyAtStartPct?: number;
  /** The server's event-loop delay p99 with every socket connected and no traffic (resolution 10 ms). */
  idleEventLoopDelayP99Ms?: number;
  unexpectedDisconnects?: Record<string, number>;
  serverProblems?: { count: number; samples: string[] };
  serverExit?: { code: number | null; signal: string | null };
  serverStderrTail?: string[];
}

async function runTarget(target: TargetName): Promise<TargetResult> {
  const result: TargetResult = { target, ok: false };
  const local: (() => Promise<void> | void)[] = [];
  const gen = new LoadGenerator();
  let server: ServerProc | undefined;
  let sampler: PgSampler | undefined;
  const profDir = CPU_PROF && target !== 'echo' ? mkdtempSync(join(tmpdir(), 'talkroom-prof-')) : undefined;
  const isTalkroom = target !== 'echo';
  try {
    // 1. The server.
    result.machineBusyAtStartPct = await waitForQuietMachine(target);
    let dbName: string | undefined;
    const env: Record<string, string> = {
      PORT: '0',
      HOST,
      LOG_LEVEL: 'info',
      AUTH_JWT_SECRET: SECRET,
      SOCKET_RATE_LIMIT: '100000',
      HTTP_RATE_LIMIT: '100000',
      CONNECT_RATE_LIMIT: '1000000',
      SOCKETS_PER_USER: '10000',
      DATABASE_URL: '',
      REDIS_URL: '',
    };
    if (DB_POOL_SIZE) env.DB_POOL_SIZE = DB_POOL_SIZE;
    const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-'));
    local.push(() => rmSync(dataDir, { recursive: true, force: true }));
    env.DATA_DIR = dataDir;
    if (target === 'postgres' || target === 'postgres-plain') {
      const db = await createDatabase();
      dbName = db.name;
      local.push(db.drop);
      env.DATABASE_URL = db.url;
      env.ENCRYPTION_KEYS = `bench:${Buffer.alloc(32, 1).toString('base64')}`;
    }
    if (profDir) local.push(() => rmSync(profDir, { recursive: true, force: true }));
    cleanups.push(...local);
    const script =
      target === 'echo'
        ? 'bench/echo-server.ts'
        : target === 'postgres-plain'
          ? 'bench/plain-server.ts'
          : 'src/main.ts';
    const nodeArgs = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    server = await spawnServer(script, env, nodeArgs);
    const srv = server;
    srv.proc.once('exit', (code, signal) => {
      srv.exited = { code, signal };
      children.delete(srv.proc);
    });
    log(`[${target}] server pid ${srv.pid} on ${srv.url}`);
    const alive = () => {
      if (srv.exited)
        throw new Error(`server exited (${srv.exited.code ?? srv.exited.signal}) during the run`);
    };

    // 2. Rooms and sockets.
    let t = now();
    const rooms = isTalkroom ? await provisionTalkroom(srv.url) : echoRooms();
    const provisionSeconds = round((now() - t) / 1000, 1);
    log(`[${target}] provisioned ${ROOMS} rooms in ${provisionSeconds} s`);
    t = now();
    await gen.connect(srv.url, rooms);
    const connectSeconds = round((now() - t) / 1000, 1);
    result.setup = { provisionSeconds, connectSeconds, sockets: gen.pairs.length * 2 };
    log(`[${target}] connected ${gen.pairs.length * 2} sockets in ${connectSeconds} s`);
    alive();

    if ((target === 'postgres' || target === 'postgres-plain') && dbName) {
      sampler = new PgSampler(dbName);
      await sampler.start();
    }
    const metricsNow = () => (isTalkroom ? scrape(srv.url) : Promise.resolve<Metrics>(new Map()));

    // 3. Idle baseline for the event-loop delay, then warm-up (discarded).
    await metricsNow();
    await sleep(1000);
    const idle = await metricsNow();
    if (isTalkroom)
      result.idleEventLoopDelayP99Ms = round((idle.get('nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000, 2);
    if (WARMUP_SECONDS > 0) {
      const warm = new Phase('warmup');
      warm.recording = false;
      const lost = await gen.openLoop(warm, RATE, WARMUP_SECONDS);
      log(`[${target}] warm-up: ${warm.ackedOk}/${warm.sent} acked, ${lost} not settled`);
      alive();
    }

    // 4. Latency: steady open loop, light and then at the moderate rate the targets are about.
    const openLoop = async (rate: number, seconds: number): Promise<LatencyResult> => {
      const phase = new Phase(`open loop ${rate}/s`);
      const lag = new LagPoller(isTalkroom ? srv.url : undefined);
      const m0 = await metricsNow();
      const c0 = cpuSnapshot(srv.pid, sampler?.pids);
      lag.start();
      const lost = await gen.openLoop(phase, rate, seconds);
      const c1 = cpuSnapshot(srv.pid, sampler?.pids);
      const eventLoopDelayMs = await lag.stop();
      const m1 = await metricsNow();
      alive();
      const r: LatencyResult = {
        ratePerSecond: rate,
        seconds: round(phase.offeredSeconds, 2),
        saturated: phase.saturated,
        ackedPerSecond: round(phase.ackedOk / Math.max(phase.offeredSeconds, 0.001), 0),
        sent: phase.sent,
        acked: phase.ackedOk,
        delivered: phase.delivered,
        lost,
        ackErrors: phase.ackErrors,
        timeouts: phase.timeouts,
        roundTripMs: quantiles(phase.rtt),
        ackMs: quantiles(phase.ack),
        cpu: cpuBetween(c0, c1),
        server: serverMetricsBetween(m0, m1, (c1.at - c0.at) / 1000),
        eventLoopDelayMs,
      };
      log(
        `[${target}] latency @${rate}/s: round trip p50 ${r.roundTripMs.p50} ms, p99 ${r.roundTripMs.p99} ms${r.saturated ? ' (SATURATED: the server fell behind the offered rate)' : ''}`,
      );
      return r;
    };
    if (LIGHT_RATE > 0) result.lightLatency = await openLoop(LIGHT_RATE, LIGHT_SECONDS);
    result.latency = await openLoop(RATE, SECONDS);

    // 5. Throughput: closed loop.
    const thr = new Phase('throughput');
    let startAcked = 0;
    let startDelivered = 0;
    let lastAcked = 0;
    /** Stored/s in each one-second slice of the window, and each slice's real length. */
    const perSecond: number[] = [];
    const secondMs: number[] = [];
    let lastAt = 0;
    let windowStartAt = 0;
    let windowEndAt = 0;
    let endAcked = 0;
    let endDelivered = 0;
    let profFrom = 0;
    let profTo = 0;
    let m0: Metrics = new Map();
    let lagDone: Promise<LagSummary | undefined> = Promise.resolve(undefined);
    let m1p: Promise<Metrics> = Promise.resolve(new Map());
    let c0 = cpuSnapshot(srv.pid);
    let c1 = c0;
    const lag = new LagPoller(isTalkroom ? srv.url : undefined);
    const lostThr = await gen.closedLoop(thr, INFLIGHT, RAMP_SECONDS, SECONDS, {
      windowStart: () => {
        windowStartAt = now();
        profFrom = monoMicros();
        startAcked = lastAcked = thr.ackedOk;
        lastAt = windowStartAt;
        startDelivered = thr.delivered;
        c0 = cpuSnapshot(srv.pid, sampler?.pids);
        sampler?.reset();
        void metricsNow().then((m) => {
          m0 = m;
        });
        lag.start();
      },
      second: () => {
        const t = now();
        perSecond.push(round((thr.ackedOk - lastAcked) / ((t - lastAt) / 1000), 0));
        secondMs.push(round(t - lastAt, 0));
        lastAcked = thr.ackedOk;
        lastAt = t;
      },
      windowEnd: () => {
        windowEndAt = now();
        profTo = monoMicros();
        endAcked = thr.ackedOk;
        endDelivered = thr.delivered;
        c1 = cpuSnapshot(srv.pid, sampler?.pids);
        m1p = metricsNow();
        lagDone = lag.stop();
      },
    });
    const m1 = await m1p;
    alive();
    const windowSeconds = (windowEndAt - windowStartAt) / 1000;
    result.throughput = {
      inflightPerRoom: INFLIGHT,
      windowSeconds: round(windowSeconds, 2),
      storedPerSecond: round((endAcked - startAcked) / windowSeconds, 0),
      deliveredPerSecond: round((endDelivered - startDelivered) / windowSeconds, 0),
      storedPerSecondMin: Math.min(...perSecond),
      storedPerSecondMax: Math.max(...perSecond),
      perSecond,
      secondMs,
      ackErrors: thr.ackErrors,
      timeouts: thr.timeouts,
      lostAfterDrain: lostThr,
      roundTripMs: quantiles(thr.rtt),
      ackMs: quantiles(thr.ack),
      cpu: cpuBetween(c0, c1),
      server: serverMetricsBetween(m0, m1, windowSeconds),
      eventLoopDelayMs: await lagDone,
      pgPool: sampler?.summary(Number(DB_POOL_SIZE ?? 20)),
    };
    log(
      `[${target}] throughput (${INFLIGHT}/room in flight): ${result.throughput.storedPerSecond} stored/s, ${result.throughput.deliveredPerSecond} delivered/s`,
    );
    result.ok = true;

    // 6. Stop, and read the server's profile once it has exited.
    await sampler?.stop();
    sampler = undefined;
    gen.close();
    await stopServer(srv);
    if (profDir) {
      const file = newestProfile(profDir);
      if (file) result.throughput.profile = summariseProfile(file, profFrom, profTo);
    }
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`[${target}] FAILED: ${(e as Error).message}`);
  } finally {
    result.unexpectedDisconnects = gen.unexpectedDisconnects;
    await sampler?.stop();
    gen.close();
    if (server) {
      await stopServer(server);
      result.serverProblems = server.problems;
      result.serverExit = server.exited;
      if (!result.ok && server.stderrTail.length) result.serverStderrTail = server.stderrTail.slice(-20);
    }
    for (const fn of local.reverse()) {
      try {
        await fn();
      } catch (e) {
        log(`[${target}] cleanup failed: ${(e as Error).message}`);
      }
      const i = cleanups.indexOf(fn);
      if (i >= 0) cleanups.splice(i, 1);
    }
  }
  return result;
}

// ---------------------------------------------------------------- report

function report(results: TargetResult[], startedAt: Date, seconds: number) {
  const by = new Map(results.map((r) => [r.target, r]));
  const echo = by.get('echo');
  const echoP50 = echo?.latency?.roundTripMs.p50;
  const echoP99 = echo?.latency?.roundTripMs.p99;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && b > 0 ? round(a / b, 2) : undefined;

  const comparisons: Record<string, unknown> = {};
  for (const t of ['embedded', 'postgres'] as const) {
    const r = by.get(t);
    if (!r) continue;
    const p50Ratio = ratio(r.latency?.roundTripMs.p50, echoP50);
    comparisons[t] = {
      p50Ratio,
      p99Ratio: ratio(r.latency?.roundTripMs.p99, echoP99),
      throughputVsEcho: ratio(r.throughput?.storedPerSecond, echo?.throughput?.storedPerSecond),
      p50Within2x: p50Ratio === undefined ? undefined : p50Ratio <= P50_FACTOR_TARGET,
    };
  }
  const pg = by.get('postgres');
  const pgStored = pg?.throughput?.storedPerSecond;
  // What sealing text and meta costs: the same server and database without it, in this run.
  const plain = by.get('postgres-plain');
  if (pg && plain) {
    comparisons.encryption = {
      p50Ms: { sealed: pg.latency?.roundTripMs.p50, plain: plain.latency?.roundTripMs.p50 },
      p99Ms: { sealed: pg.latency?.roundTripMs.p99, plain: plain.latency?.roundTripMs.p99 },
      storedPerSecond: { sealed: pgStored, plain: plain.throughput?.storedPerSecond },
      p50Ratio: ratio(pg.latency?.roundTripMs.p50, plain.latency?.roundTripMs.p50),
      throughputRatio: ratio(pgStored, plain.throughput?.storedPerSecond),
    };
    log(`encryption at rest: ${JSON.stringify(comparisons.encryption)}`);
  }
  const json = {
    benchmark: 'messaging',
    startedAt: startedAt.toISOString(),
    durationSeconds: round(seconds, 1),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    config: {
      rooms: ROOMS,
      sockets: ROOMS * 2,
      latencyRatePerSecond: RATE,
      windowSeconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      rampSeconds: RAMP_SECONDS,
      inflightPerRoom: INFLIGHT,
      dbPoolSize: DB_POOL_SIZE ? Number(DB_POOL_SIZE) : 'server default (20)',
      cpuProfile: CPU_PROF,
    },
    targets: {
      p50WithinFactorOfEcho: P50_FACTOR_TARGET,
      postgresStoredPerSecond: PG_THROUGHPUT_TARGET,
    },
    verdict: {
      ...comparisons,
      postgresThroughput:
        pgStored === undefined
          ? undefined
          : {
              storedPerSecond: pgStored,
              target: PG_THROUGHPUT_TARGET,
              pass: pgStored >= PG_THROUGHPUT_TARGET,
            },
    },
    results,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'messaging-latest.json');
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);

  // The table.
  const cols = results.map((r) => r.target);
  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const rows: [string, ...string[]][] = [];
  const row = (label: string, f: (r: TargetResult) => unknown) =>
    rows.push([label, ...results.map((r) => cell(f(r)))]);
  const fmtInt = (v: number | undefined) =>
    v === undefined ? undefined : Math.round(v).toLocaleString('en-US');
  const errs = (e: Record<string, number> | undefined, timeouts: number | undefined) => {
    const parts = Object.entries(e ?? {}).map(([k, v]) => `${k}:${v}`);
    if (timeouts) parts.push(`timeout:${timeouts}`);
    return parts.length ? parts.join(' ') : '0';
  };
  if (LIGHT_RATE > 0) {
    rows.push([`round trip @ ${LIGHT_RATE} msg/s, ${LIGHT_SECONDS} s (ms)`, ...cols.map(() => '')]);
    row('  p50', (r) => r.lightLatency?.roundTripMs.p50);
    row('  p99', (r) => r.lightLatency?.roundTripMs.p99);
    row('  p50 ratio vs echo', (r) =>
      ratio(r.lightLatency?.roundTripMs.p50, echo?.lightLatency?.roundTripMs.p50),
    );
  }
  rows.push([`round trip @ ${RATE} msg/s, ${SECONDS} s (ms)`, ...cols.map(() => '')]);
  row('  p50', (r) => r.latency?.roundTripMs.p50);
  row('  p90', (r) => r.latency?.roundTripMs.p90);
  row('  p99', (r) => r.latency?.roundTripMs.p99);
  row('  max', (r) => r.latency?.roundTripMs.max);
  row('  ack (stored) p50', (r) => r.latency?.ackMs.p50);
  row('  ack (stored) p99', (r) => r.latency?.ackMs.p99);
  row('  delivered / sent', (r) => r.latency && `${r.latency.delivered}/${r.latency.sent}`);
  row('  errors', (r) => r.latency && errs(r.latency.ackErrors, r.latency.timeouts));
  row(
    '  CPU % server / postgres',
    (r) =>
      r.latency &&
      `${r.latency.cpu.serverPct} / ${r.target.startsWith('postgres') ? r.latency.cpu.postgresPct : '–'}`,
  );
  row('  CPU % other processes', (r) => r.latency?.cpu.otherPct);
  row('  server event-loop delay p99 (ms)', (r) => fmtLag(r.latency?.eventLoopDelayMs));
  row('  saturated (server fell behind)', (r) => r.latency && (r.latency.saturated ? 'YES' : 'no'));
  row('  p50 ratio vs echo', (r) => ratio(r.latency?.roundTripMs.p50, echoP50));
  row('  p99 ratio vs echo', (r) => ratio(r.latency?.roundTripMs.p99, echoP99));
  rows.push([`throughput, ${INFLIGHT} in flight/room, ${SECONDS} s`, ...cols.map(() => '')]);
  row('  stored (acked) msg/s', (r) => fmtInt(r.throughput?.storedPerSecond));
  row('  delivered msg/s', (r) => fmtInt(r.throughput?.deliveredPerSecond));
  row(
    '  slowest / fastest second',
    (r) =>
      r.throughput &&
      `${fmtInt(r.throughput.storedPerSecondMin)} / ${fmtInt(r.throughput.storedPerSecondMax)}`,
  );
  row(
    '  round trip p50 / p99 (ms)',
    (r) => r.throughput && `${r.throughput.roundTripMs.p50} / ${r.throughput.roundTripMs.p99}`,
  );
  row('  errors', (r) => r.throughput && errs(r.throughput.ackErrors, r.throughput.timeouts));
  row('  vs echo', (r) => ratio(r.throughput?.storedPerSecond, echo?.throughput?.storedPerSecond));
  row('  CPU % server', (r) => r.throughput?.cpu.serverPct);
  row('  CPU % postgres', (r) =>
    r.target.startsWith('postgres') ? r.throughput?.cpu.postgresPct : undefined,
  );
  row('  CPU % load generator', (r) => r.throughput?.cpu.loadGeneratorPct);
  row(`  CPU % machine (of ${cpus().length * 100})`, (r) => r.throughput?.cpu.machinePct);
  row('  CPU % other processes', (r) => r.throughput?.cpu.otherPct);
  row('  server event-loop delay p99 (ms)', (r) => fmtLag(r.throughput?.eventLoopDelayMs));
  row('  slowest /metrics answer (ms)', (r) => {
    const l = r.throughput?.eventLoopDelayMs;
    return l && (l.metricsScrapeTimeouts ? '> 10000' : l.metricsScrapeMsWorst);
  });
  row('  server GC % of time', (r) => r.throughput?.server?.gcPctOfWallTime);
  row('  store append mean (ms)', (r) => r.throughput?.server?.storeAppendMs.mean);
  row(
    '  pg active conns avg / max',
    (r) => r.throughput?.pgPool && `${r.throughput.pgPool.activeAvg} / ${r.throughput.pgPool.activeMax}`,
  );
  row('  status', (r) => (r.ok ? 'ok' : 'FAILED (see below)'));

  const header: [string, ...string[]] = ['', ...cols];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out: string[] = [];
  out.push('');
  out.push(
    `talkroom messaging benchmark: ${ROOMS} rooms, ${ROOMS * 2} sockets, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
  );
  out.push(line(header));
  for (const r of rows) out.push(line(r));
  out.push('');
  out.push('targets');
  for (const t of ['embedded', 'postgres'] as const) {
    const c = comparisons[t] as { p50Ratio?: number; p50Within2x?: boolean } | undefined;
    if (!c) continue;
    out.push(
      `  p50 round trip within ${P50_FACTOR_TARGET}× echo, ${t.padEnd(8)}: ${
        c.p50Within2x === undefined
          ? 'n/a (no echo run)'
          : `${c.p50Within2x ? 'PASS' : 'FAIL'} (${c.p50Ratio}×)`
      }`,
    );
  }
  if (pg) {
    out.push(
      `  ≥ ${PG_THROUGHPUT_TARGET.toLocaleString('en-US')} stored msg/s on PostgreSQL: ${
        pgStored === undefined
          ? 'FAIL (no result)'
          : `${pgStored >= PG_THROUGHPUT_TARGET ? 'PASS' : 'FAIL'} (${fmtInt(pgStored)}/s, ${round(pgStored / PG_THROUGHPUT_TARGET, 2)}× target)`
      }`,
    );
  }
  for (const r of results) {
    if (!r.ok) {
      out.push('');
      out.push(`${r.target}: FAILED: ${r.error ?? '?'}`);
      if (r.serverExit) out.push(`  server exit: ${JSON.stringify(r.serverExit)}`);
      for (const l of r.serverStderrTail ?? []) out.push(`  server stderr: ${l}`);
    }
    const pool = r.throughput?.pgPool;
    if (pool) {
      out.push('');
      out.push(
        `${r.target}: during the throughput window PostgreSQL had ${pool.connectionsMax} connections from the server (pool ${pool.poolSize}), ${pool.activeAvg} active on average (max ${pool.activeMax}); active ones were on: ${pool.activeWaits.map((w) => `${w.wait} ${w.pct}%`).join(', ')}`,
      );
    }
    const prof = r.throughput?.profile;
    if (prof) {
      out.push('');
      out.push(
        `${r.target}: server CPU profile over the throughput window (busy ${prof.busyPct}% of samples)`,
      );
      out.push(`  self time by area: ${prof.byArea.map((a) => `${a.area} ${a.pct}%`).join(', ')}`);
      out.push(
        `  charged to nearest package/file on the stack: ${prof.byCaller.map((a) => `${a.area} ${a.pct}%`).join(', ')}`,
      );
      for (const f of prof.byFunction.slice(0, 12)) out.push(`  ${String(f.pct).padStart(5)}%  ${f.fn}`);
    }
    const problems = r.serverProblems;
    if (problems?.count) {
      out.push('');
      out.push(`${r.target}: server logged ${problems.count} warnings/errors, e.g.:`);
      for (const s of problems.samples.slice(0, 3)) out.push(`  ${s}`);
    }
    const dis = r.unexpectedDisconnects && Object.entries(r.unexpectedDisconnects);
    if (dis?.length)
      out.push(`${r.target}: unexpected socket disconnects: ${JSON.stringify(r.unexpectedDisconnects)}`);
  }
  const disturbed = results.filter(
    (r) => (r.latency?.cpu.otherPct ?? 0) > 25 || (r.throughput?.cpu.otherPct ?? 0) > 25,
  );
  if (disturbed.length) {
    out.push('');
    out.push(
      `WARNING: other processes used much CPU during ${disturbed.map((r) => r.target).join(', ')}: those figures are disturbed; rerun on a quiet machine.`,
    );
  }
  out.push('');
  out.push(`took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const targets = parseTargets(process.argv.slice(2));
  const startedAt = new Date();
  const t0 = now();
  log(
    `messaging benchmark: ${targets.join(', ')}; ${ROOMS} rooms, ${SECONDS} s windows, ${RATE} msg/s latency rate, ${INFLIGHT} in flight per room`,
  );
  const results: TargetResult[] = [];
  for (const t of targets) results.push(await runTarget(t));
  report(results, startedAt, (now() - t0) / 1000);
  return results.every((r) => r.ok) ? 0 : 1;
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

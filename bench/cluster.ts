/**
 * Cluster messaging benchmark (`npm run bench:cluster`).
 *
 * The messaging benchmark's load (rooms of two members, `message:send` →
 * the OTHER member's `message:new`) against talkroom on 1, 2 and 3 nodes in
 * one invocation. Every node is a `node src/main.ts` child process on the same
 * fresh PostgreSQL database (created here, dropped at the end) and the
 * machine's Redis (a unique REDIS_PREFIX per invocation; its keys are deleted at
 * the end). The single-node run also uses Redis, so the only difference between
 * the runs is the node count.
 *
 * In the multi-node runs the two members of each room connect to DIFFERENT
 * nodes (client on node i mod N, provider on node i+1 mod N), so every
 * delivery crosses the Redis adapter.
 *
 * Per node count:
 *  - round trip p50/p99 at a fixed open-loop rate (BENCH_RATE, 500 msg/s);
 *  - sustained throughput, closed loop (BENCH_INFLIGHT messages in flight per room);
 *  - CPU per delivered message: CPU time of all server processes + redis-server
 *    + this database's PostgreSQL backends, divided by messages delivered;
 *  - who used the CPU (servers, Redis, PostgreSQL, load generator, machine),
 *    and from that, what limited the throughput.
 * Target (issue): cross-node p50 within 1.5× single-node; throughput grows with
 * nodes until Redis or the load generator is the limit, and the report says which.
 * On a machine with few cores every node, Redis, PostgreSQL and the load
 * generator share the same CPUs: more nodes add no CPU, and the report says so.
 *
 * The machine is shared: before each run the script waits (BENCH_QUIET_WAIT_SECONDS,
 * 60) for other processes to go quiet, and warns when they disturbed the figures.
 *
 * Env: BENCH_ROOMS (500), BENCH_RATE (500), BENCH_SECONDS (8), BENCH_WARMUP_SECONDS (2),
 *      BENCH_INFLIGHT (2), BENCH_NODES (1,2,3), BENCH_DATABASE_URL
 *      (postgres://postgres@127.0.0.1:5432/test), BENCH_REDIS_URL (redis://127.0.0.1:6379).
 * Writes bench/results/cluster-latest.json. All traffic stays on 127.0.0.1.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createClient } from 'redis';
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
const ROOMS = Math.round(num('BENCH_ROOMS', 500, 1, 5000));
const RATE = num('BENCH_RATE', 500, 1, 100_000);
const SECONDS = num('BENCH_SECONDS', 8, 1, 120);
const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 2, 0, 60);
const INFLIGHT = Math.round(num('BENCH_INFLIGHT', 2, 1, 64));
const RAMP_SECONDS = 2;
const NODE_COUNTS = (process.env.BENCH_NODES || '1,2,3').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`BENCH_NODES: bad node count ${s}`);
  return n;
});
const ADMIN_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
const REDIS_PREFIX = `talkroom_bench_cluster_${randomBytes(4).toString('hex')}`;
const HOST = '127.0.0.1';
const SECRET = randomBytes(32).toString('hex');
const ACK_TIMEOUT_MS = 15_000;
const DRAIN_MS = 20_000;
const BACKLOG_LIMIT = 5000;
const P50_FACTOR_TARGET = 1.5;
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 60, 0, 3600);
/** Machine CPU (% of one core) from other processes at or below which the machine counts as quiet. */
const QUIET_BUSY_PCT = 30;
/** CPU of other processes during a window above which its figures count as disturbed. */
const DISTURBED_PCT = 25;
/** % of one core at which a single-threaded process (a node, Redis, the load generator) counts as at its limit. */
const PROC_LIMIT_PCT = 85;
const TEXT = 'Thanks for checking in. This week was a bit better; the breathing exercise helped before work.';
const CORES = cpus().length;

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const now = () => performance.now();
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];
async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    try {
      await cleanups.pop()!();
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
    setTimeout(() => process.exit(130), 10_000).unref();
    runCleanups().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------- servers

interface Node {
  proc: ChildProcess;
  pid: number;
  url: string;
  warnings: string[];
  exited?: string;
}

function spawnNode(i: number, env: Record<string, string>): Promise<Node> {
  const proc = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      MEDIA_RTC_MIN_PORT: String(47000 + 100 * i),
      MEDIA_RTC_MAX_PORT: String(47000 + 100 * i + 99),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const node: Node = { proc, pid: proc.pid ?? -1, url: '', warnings: [] };
  const stderr: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${i} did not listen within 60 s`)), 60_000);
    proc.once('exit', (code, sig) => {
      children.delete(proc);
      node.exited = String(code ?? sig);
      clearTimeout(timer);
      reject(new Error(`node ${i} exited (${node.exited}): ${stderr.slice(-10).join('\n')}`));
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: { msg?: string; port?: number; level?: number } | undefined;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (!node.url && rec?.msg === 'talkroom listening' && typeof rec.port === 'number') {
        node.url = `http://${HOST}:${rec.port}`;
        clearTimeout(timer);
        resolve(node);
      }
      if (typeof rec?.level === 'number' && rec.level >= 40 && node.warnings.length < 5)
        node.warnings.push(line.slice(0, 400));
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (node.warnings.length < 5) node.warnings.push(`stderr: ${line.slice(0, 400)}`);
    });
  });
}

async function stopNode(n: Node): Promise<void> {
  if (n.exited || n.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => n.proc.once('exit', () => r()));
  n.proc.kill('SIGTERM');
  const t = setTimeout(() => n.proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

// ---------------------------------------------------------------- PostgreSQL, Redis

async function adminQuery<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: ADMIN_URL });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** This database's backends plus PostgreSQL's background processes (datname NULL). */
async function pgPids(db: string): Promise<number[]> {
  const rows = await adminQuery<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE (datname = $1 OR datname IS NULL) AND pid <> pg_backend_pid()',
    [db],
  );
  return rows.map((r) => r.pid);
}

function redisPid(): number | undefined {
  try {
    const out = execFileSync('redis-cli', ['-u', REDIS_URL, 'info', 'server'], {
      encoding: 'utf8',
      timeout: 5000,
    });
    const m = /process_id:(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function dropRedisKeys(): Promise<number> {
  const r = createClient({ url: REDIS_URL });
  await r.connect();
  let n = 0;
  try {
    for await (const keys of r.scanIterator({ MATCH: `${REDIS_PREFIX}*`, COUNT: 500 })) {
      const list = Array.isArray(keys) ? keys : [keys];
      if (list.length) n += await r.del(list as string[]);
    }
  } finally {
    await r.quit();
  }
  return n;
}

// ---------------------------------------------------------------- CPU (/proc)

const CLK_TCK = 100;
function procSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}
function machineTicks(): { busy: number; total: number } {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** Waits (up to BENCH_QUIET_WAIT_SECONDS) until other processes leave the machine nearly idle; returns the last reading. */
async function waitForQuietMachine(label: string): Promise<number> {
  const limit = now() + QUIET_WAIT_SECONDS * 1000;
  for (;;) {
    const a = machineTicks();
    await sleep(1000);
    const b = machineTicks();
    const busy = round((100 * CORES * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
    if (busy <= QUIET_BUSY_PCT) return busy;
    if (now() > limit) {
      log(
        `${label} machine still busy (${busy}% of ${CORES * 100}) after ${QUIET_WAIT_SECONDS} s; going ahead`,
      );
      return busy;
    }
    log(`${label} waiting for a quiet machine: other processes use ${busy}% CPU`);
  }
}

interface Pids {
  nodes: number[];
  redis: number | undefined;
  postgres: number[];
}
interface CpuSnap {
  at: number;
  nodes: number[];
  redis: number;
  postgres: Map<number, number>;
  bench: number;
  machine: { busy: number; total: number };
}
function snap(p: Pids): CpuSnap {
  const u = process.cpuUsage();
  return {
    at: now(),
    nodes: p.nodes.map(procSeconds),
    redis: procSeconds(p.redis),
    postgres: new Map(p.postgres.map((pid) => [pid, procSeconds(pid)])),
    bench: (u.user + u.system) / 1e6,
    machine: machineTicks(),
  };
}
function cpuBetween(a: CpuSnap, b: CpuSnap, delivered: number) {
  const secs = (b.at - a.at) / 1000;
  const pct = (s: number) => round((100 * s) / secs, 0);
  const nodeSecs = b.nodes.map((v, i) => v - (a.nodes[i] ?? 0));
  const serverSecs = nodeSecs.reduce((x, y) => x + y, 0);
  const redisSecs = b.redis - a.redis;
  let pgSecs = 0;
  for (const [pid, v] of b.postgres) pgSecs += v - (a.postgres.get(pid) ?? v);
  const benchSecs = b.bench - a.bench;
  const dm = b.machine.total - a.machine.total;
  const machine = dm > 0 ? round((100 * CORES * (b.machine.busy - a.machine.busy)) / dm, 0) : 0;
  const serverPct = pct(serverSecs);
  const redisPct = pct(redisSecs);
  const postgresPct = pct(pgSecs);
  const loadGeneratorPct = pct(benchSecs);
  return {
    seconds: round(secs, 2),
    perNodePct: nodeSecs.map(pct),
    serverPct,
    redisPct,
    postgresPct,
    loadGeneratorPct,
    machinePct: machine,
    otherPct: Math.max(0, machine - serverPct - redisPct - postgresPct - loadGeneratorPct),
    /** (servers + Redis + PostgreSQL) CPU per delivered message, µs; the load generator is not counted. */
    cpuUsPerDelivered:
      delivered > 0 ? round((1e6 * (serverSecs + redisSecs + pgSecs)) / delivered, 0) : undefined,
    serverCpuUsPerDelivered: delivered > 0 ? round((1e6 * serverSecs) / delivered, 0) : undefined,
  };
}
type Cpu = ReturnType<typeof cpuBetween>;

// ---------------------------------------------------------------- provisioning

async function mapLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>) {
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

async function provision(url: string): Promise<RoomSpec[]> {
  const admin = mintToken(SECRET, { sub: 'bench-admin', role: 'admin' }, { expiresInSec: 3600 });
  const out: RoomSpec[] = new Array(ROOMS);
  await mapLimit(
    Array.from({ length: ROOMS }, (_, i) => i),
    32,
    async (i) => {
      const id = String(i).padStart(4, '0');
      const client = `bench-client-${id}`;
      const provider = `bench-provider-${id}`;
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

// ---------------------------------------------------------------- load generator

interface Pair {
  roomId: string;
  sockets: [Socket, Socket];
  next: 0 | 1;
}
class Phase {
  sent = 0;
  acked = 0;
  errors = 0;
  timeouts = 0;
  delivered = 0;
  outstanding = 0;
  saturated = false;
  recording = true;
  rtt: number[] = [];
}
interface Pending {
  t0: number;
  from: Socket;
  phase: Phase;
  acked: boolean;
  delivered: boolean;
  onAcked?: () => void;
}

class LoadGenerator {
  readonly pairs: Pair[] = [];
  readonly #pending = new Map<string, Pending>();
  readonly #prefix = randomBytes(4).toString('hex');
  #seq = 0;
  #sweeper: NodeJS.Timeout | undefined;
  closing = false;
  disconnects = 0;

  /** Member 0 of room i on node i mod N, member 1 on node (i+1) mod N: different nodes when N > 1. */
  async connect(urls: string[], rooms: RoomSpec[]): Promise<void> {
    const one = (url: string, token: string, room: string) =>
      new Promise<Socket>((resolve, reject) => {
        const s = connectSocket(url, {
          auth: { token, room },
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
    const n = urls.length;
    const pairs: Pair[] = new Array(rooms.length);
    await mapLimit(rooms, 50, async (r, i) => {
      const a = await one(urls[i % n]!, r.tokens[0], r.roomId);
      const b = await one(urls[(i + 1) % n]!, r.tokens[1], r.roomId);
      pairs[i] = { roomId: r.roomId, sockets: [a, b], next: (i % 2) as 0 | 1 };
      for (const s of [a, b]) this.#wire(s);
    });
    this.pairs.push(...pairs);
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
  }

  #wire(s: Socket): void {
    s.on('message:new', (m: { clientMsgId?: string }) => {
      const id = m?.clientMsgId;
      const p = id ? this.#pending.get(id) : undefined;
      if (!id || !p || p.from === s || p.delivered) return; // only the other member's copy counts
      p.delivered = true;
      p.phase.delivered++;
      if (p.phase.recording) p.phase.rtt.push(now() - p.t0);
      if (p.acked) this.#settle(id, p);
    });
    s.on('disconnect', () => {
      if (!this.closing) this.disconnects++;
    });
  }
  #settle(id: string, p: Pending): void {
    this.#pending.delete(id);
    p.phase.outstanding--;
  }
  send(pair: Pair, phase: Phase, onAcked?: () => void): void {
    const from = pair.sockets[pair.next];
    pair.next = pair.next === 0 ? 1 : 0;
    const id = `${this.#prefix}-${++this.#seq}`;
    const p: Pending = { t0: now(), from, phase, acked: false, delivered: false, onAcked };
    this.#pending.set(id, p);
    phase.sent++;
    phase.outstanding++;
    from.emit(
      'message:send',
      { roomId: pair.roomId, clientMsgId: id, kind: 'text', text: TEXT },
      (res: Ack<RequestAnswer<'message:send'>>) => {
        if (p.acked || this.#pending.get(id) !== p) return;
        p.acked = true;
        if (res?.ok) {
          phase.acked++;
          if (p.delivered) this.#settle(id, p);
        } else {
          phase.errors++;
          this.#settle(id, p);
        }
        p.onAcked?.();
      },
    );
  }
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
  /** Open loop: `rate` msg/s round-robin over the rooms for `seconds`; returns before draining. */
  async openLoop(phase: Phase, rate: number, seconds: number): Promise<void> {
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
    if (phase.outstanding > Math.max(50, rate / 2)) phase.saturated = true;
  }
  /** Closed loop: every room keeps `inflight` messages outstanding until `stop()` is called. */
  closedLoop(phase: Phase, inflight: number): () => void {
    let stopping = false;
    const slot = (pair: Pair) => {
      const again = () => {
        if (!stopping) this.send(pair, phase, again);
      };
      return again;
    };
    for (const pair of this.pairs) for (let k = 0; k < inflight; k++) slot(pair)();
    return () => {
      stopping = true;
    };
  }
  close(): void {
    this.closing = true;
    clearInterval(this.#sweeper);
    for (const p of this.pairs) for (const s of p.sockets) s.disconnect();
    this.pairs.length = 0;
    this.#pending.clear();
  }
}

function quantiles(values: number[]) {
  if (values.length === 0) return { n: 0 };
  const a = Float64Array.from(values).sort();
  const q = (p: number) => round(a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]!, 2);
  return { n: a.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: round(a[a.length - 1]!, 2) };
}
type Quantiles = ReturnType<typeof quantiles>;

// ---------------------------------------------------------------- one node count

interface RunResult {
  nodes: number;
  ok: boolean;
  error?: string;
  crossNode: boolean;
  connectSeconds?: number;
  /** Machine CPU (% of one core) in the second before the run's servers started: other work on the machine. */
  machineBusyBeforePct?: number;
  latency?: {
    ratePerSecond: number;
    saturated: boolean;
    sent: number;
    acked: number;
    delivered: number;
    errors: number;
    timeouts: number;
    lost: number;
    roundTripMs: Quantiles;
    cpu: Cpu;
  };
  throughput?: {
    inflightPerRoom: number;
    storedPerSecond: number;
    deliveredPerSecond: number;
    errors: number;
    timeouts: number;
    lost: number;
    roundTripMs: Quantiles;
    cpu: Cpu;
    limitedBy: string;
  };
  disconnects?: number;
  serverWarnings?: string[];
}

function limitVerdict(cpu: Cpu, nodes: number): string {
  const machineCap = CORES * 100;
  const saturated = cpu.machinePct >= 0.9 * machineCap;
  const single: string[] = [];
  if (cpu.loadGeneratorPct >= PROC_LIMIT_PCT)
    single.push(`load generator (one event loop) at ${cpu.loadGeneratorPct}% of a core`);
  if (cpu.redisPct >= PROC_LIMIT_PCT) single.push(`Redis (single-threaded) at ${cpu.redisPct}% of a core`);
  const busiestNode = Math.max(...cpu.perNodePct);
  if (busiestNode >= PROC_LIMIT_PCT) single.push(`a server node at ${busiestNode}% of a core`);
  const shares = [
    ['servers', cpu.serverPct],
    ['load generator', cpu.loadGeneratorPct],
    ['PostgreSQL', cpu.postgresPct],
    ['Redis', cpu.redisPct],
    ['other', cpu.otherPct],
  ] as const;
  const breakdown = shares.map(([k, v]) => `${k} ${v}%`).join(', ');
  if (single.length) {
    return `${single.join('; ')}${saturated ? `; machine CPU saturated too (${cpu.machinePct}% of ${machineCap}: ${breakdown})` : ''}`;
  }
  if (saturated) {
    return `machine CPU saturated (${cpu.machinePct}% of ${machineCap}: ${breakdown}); no single process at its own limit — ${nodes} node(s) + Redis + PostgreSQL + load generator share ${CORES} cores`;
  }
  return `nothing at a CPU limit (${cpu.machinePct}% of ${machineCap}: ${breakdown}); likely waiting (PostgreSQL commits, round trips) — raise BENCH_INFLIGHT`;
}

async function runNodes(
  n: number,
  dbUrl: string,
  dbName: string,
  rooms: (firstNodeUrl: string) => Promise<RoomSpec[]>,
): Promise<RunResult> {
  const result: RunResult = { nodes: n, ok: false, crossNode: n > 1 };
  const nodes: Node[] = [];
  const gen = new LoadGenerator();
  const label = `[${n} node${n > 1 ? 's' : ''}]`;
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-cluster-'));
  try {
    const env: Record<string, string> = {
      PORT: '0',
      HOST,
      LOG_LEVEL: 'info',
      AUTH_JWT_SECRET: SECRET,
      SOCKET_RATE_LIMIT: '100000',
      HTTP_RATE_LIMIT: '100000',
      CONNECT_RATE_LIMIT: '1000000',
      SOCKETS_PER_USER: '10000',
      DATABASE_URL: dbUrl,
      ENCRYPTION_KEYS: `bench:${Buffer.alloc(32, 1).toString('base64')}`,
      REDIS_URL,
      REDIS_PREFIX,
      MEDIA_WORKERS: '1',
      DATA_DIR: dataDir,
    };
    result.machineBusyBeforePct = await waitForQuietMachine(label);
    // One at a time: the first applies the schema.
    for (let i = 0; i < n; i++) nodes.push(await spawnNode(i, env));
    log(`${label} servers ${nodes.map((x) => `pid ${x.pid} ${x.url}`).join(', ')}`);
    const alive = () => {
      const dead = nodes.find((x) => x.exited || x.proc.exitCode !== null);
      if (dead) throw new Error(`server pid ${dead.pid} exited during the run`);
    };
    const specs = await rooms(nodes[0]!.url);
    const t = now();
    await gen.connect(
      nodes.map((x) => x.url),
      specs,
    );
    result.connectSeconds = round((now() - t) / 1000, 1);
    log(`${label} connected ${gen.pairs.length * 2} sockets in ${result.connectSeconds} s`);

    if (WARMUP_SECONDS > 0) {
      const warm = new Phase();
      warm.recording = false;
      await gen.openLoop(warm, RATE, WARMUP_SECONDS);
      await gen.drain(warm);
    }
    alive();
    const pids: Pids = { nodes: nodes.map((x) => x.pid), redis: redisPid(), postgres: await pgPids(dbName) };

    // Latency at a fixed rate.
    const lat = new Phase();
    let c0 = snap(pids);
    await gen.openLoop(lat, RATE, SECONDS);
    let c1 = snap(pids);
    const deliveredInWindow = lat.delivered;
    const lostLat = await gen.drain(lat);
    alive();
    result.latency = {
      ratePerSecond: RATE,
      saturated: lat.saturated,
      sent: lat.sent,
      acked: lat.acked,
      delivered: lat.delivered,
      errors: lat.errors,
      timeouts: lat.timeouts,
      lost: lostLat,
      roundTripMs: quantiles(lat.rtt),
      cpu: cpuBetween(c0, c1, deliveredInWindow),
    };
    log(
      `${label} @${RATE}/s: p50 ${result.latency.roundTripMs.p50} ms, p99 ${result.latency.roundTripMs.p99} ms, ${result.latency.cpu.cpuUsPerDelivered} µs CPU/delivered`,
    );

    // Throughput, closed loop.
    const thr = new Phase();
    thr.recording = false;
    const stop = gen.closedLoop(thr, INFLIGHT);
    await sleep(RAMP_SECONDS * 1000);
    // The pool may have opened backends during the ramp: count them too.
    pids.postgres = await pgPids(dbName);
    thr.recording = true;
    const a0 = thr.acked;
    const d0 = thr.delivered;
    c0 = snap(pids);
    await sleep(SECONDS * 1000);
    c1 = snap(pids);
    const a1 = thr.acked;
    const d1 = thr.delivered;
    thr.recording = false;
    stop();
    const lostThr = await gen.drain(thr);
    alive();
    const secs = (c1.at - c0.at) / 1000;
    const cpu = cpuBetween(c0, c1, d1 - d0);
    result.throughput = {
      inflightPerRoom: INFLIGHT,
      storedPerSecond: round((a1 - a0) / secs, 0),
      deliveredPerSecond: round((d1 - d0) / secs, 0),
      errors: thr.errors,
      timeouts: thr.timeouts,
      lost: lostThr,
      roundTripMs: quantiles(thr.rtt),
      cpu,
      limitedBy: limitVerdict(cpu, n),
    };
    log(
      `${label} throughput: ${result.throughput.deliveredPerSecond} delivered/s; limited by ${result.throughput.limitedBy}`,
    );
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`${label} FAILED: ${(e as Error).message}`);
  } finally {
    result.disconnects = gen.disconnects;
    gen.close();
    await Promise.all(nodes.map(stopNode));
    result.serverWarnings = nodes.flatMap((x) => x.warnings).slice(0, 10);
    rmSync(dataDir, { recursive: true, force: true });
  }
  return result;
}

// ---------------------------------------------------------------- report

function report(results: RunResult[], startedAt: Date, seconds: number): boolean {
  const base = results.find((r) => r.nodes === 1);
  const baseP50 = base?.latency?.roundTripMs.p50;
  const baseThr = base?.throughput?.deliveredPerSecond;
  const ratio = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && b > 0 ? round(a / b, 2) : undefined;
  const verdicts = results
    .filter((r) => r.nodes > 1)
    .map((r) => {
      const p50Ratio = ratio(r.latency?.roundTripMs.p50, baseP50);
      return {
        nodes: r.nodes,
        p50Ratio,
        p50Pass: p50Ratio === undefined ? undefined : p50Ratio <= P50_FACTOR_TARGET,
        throughputVsSingle: ratio(r.throughput?.deliveredPerSecond, baseThr),
      };
    });
  const machineNote = `All nodes, Redis, PostgreSQL and the load generator run on this one ${CORES}-core machine: adding a node adds no CPU, so throughput cannot truly grow with nodes here; the multi-node figures show the cost of cross-node delivery, not cluster scaling.`;

  const json = {
    benchmark: 'cluster',
    startedAt: startedAt.toISOString(),
    durationSeconds: round(seconds, 1),
    machine: { cpus: CORES, model: cpus()[0]?.model, node: process.version },
    config: {
      rooms: ROOMS,
      sockets: ROOMS * 2,
      nodeCounts: NODE_COUNTS,
      latencyRatePerSecond: RATE,
      windowSeconds: SECONDS,
      warmupSeconds: WARMUP_SECONDS,
      rampSeconds: RAMP_SECONDS,
      inflightPerRoom: INFLIGHT,
      placement:
        'multi-node: the two members of every room on different nodes (every delivery crosses Redis)',
      cpuPerDelivered:
        'servers + redis-server + this database’s PostgreSQL backends and background processes',
    },
    target: { crossNodeP50WithinFactorOfSingle: P50_FACTOR_TARGET },
    verdicts,
    note: machineNote,
    results,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'cluster-latest.json');
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);

  const cell = (v: unknown) => (v === undefined || v === null ? '–' : String(v));
  const rows: string[][] = [];
  const section = (s: string) => rows.push([s, ...results.map(() => '')]);
  const row = (label: string, f: (r: RunResult) => unknown) =>
    rows.push([label, ...results.map((r) => cell(f(r)))]);
  section(`round trip @ ${RATE} msg/s, ${SECONDS} s (ms)`);
  row('  p50', (r) => r.latency?.roundTripMs.p50);
  row('  p90', (r) => r.latency?.roundTripMs.p90);
  row('  p99', (r) => r.latency?.roundTripMs.p99);
  row('  p50 ratio vs 1 node', (r) => ratio(r.latency?.roundTripMs.p50, baseP50));
  row('  delivered / sent', (r) => r.latency && `${r.latency.delivered}/${r.latency.sent}`);
  row('  errors / timeouts', (r) => r.latency && `${r.latency.errors} / ${r.latency.timeouts}`);
  row('  saturated', (r) => r.latency && (r.latency.saturated ? 'YES' : 'no'));
  row('  CPU µs / delivered msg (all)', (r) => r.latency?.cpu.cpuUsPerDelivered);
  row('  CPU µs / delivered msg (servers)', (r) => r.latency?.cpu.serverCpuUsPerDelivered);
  row('  CPU % servers / redis / pg / other', (r) => {
    const c = r.latency?.cpu;
    return c && `${c.serverPct} / ${c.redisPct} / ${c.postgresPct} / ${c.otherPct}`;
  });
  section(`throughput, ${INFLIGHT} in flight/room, ${SECONDS} s`);
  row('  delivered msg/s', (r) => r.throughput?.deliveredPerSecond);
  row('  stored (acked) msg/s', (r) => r.throughput?.storedPerSecond);
  row('  vs 1 node', (r) => ratio(r.throughput?.deliveredPerSecond, baseThr));
  row(
    '  round trip p50 / p99 (ms)',
    (r) => r.throughput && `${r.throughput.roundTripMs.p50} / ${r.throughput.roundTripMs.p99}`,
  );
  row('  errors / timeouts', (r) => r.throughput && `${r.throughput.errors} / ${r.throughput.timeouts}`);
  row('  CPU µs / delivered msg (all)', (r) => r.throughput?.cpu.cpuUsPerDelivered);
  row('  CPU µs / delivered msg (servers)', (r) => r.throughput?.cpu.serverCpuUsPerDelivered);
  row('  CPU % servers (per node)', (r) => {
    const c = r.throughput?.cpu;
    return c && `${c.serverPct} (${c.perNodePct.join('+')})`;
  });
  row('  CPU % redis', (r) => r.throughput?.cpu.redisPct);
  row('  CPU % postgres', (r) => r.throughput?.cpu.postgresPct);
  row('  CPU % load generator', (r) => r.throughput?.cpu.loadGeneratorPct);
  row(`  CPU % machine (of ${CORES * 100})`, (r) => r.throughput?.cpu.machinePct);
  row('  CPU % other processes', (r) => r.throughput?.cpu.otherPct);
  row('  machine CPU % before the run', (r) => r.machineBusyBeforePct);
  row('  status', (r) => (r.ok ? 'ok' : 'FAILED'));

  const header = ['', ...results.map((r) => `${r.nodes} node${r.nodes > 1 ? 's' : ''}`)];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    '',
    `talkroom cluster benchmark: ${ROOMS} rooms, ${ROOMS * 2} sockets, ${CORES} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`,
    'multi-node runs: the two members of every room on different nodes (every message crosses Redis)',
    line(header),
    ...rows.map(line),
    '',
    'target: cross-node p50 round trip within 1.5× single-node',
  ];
  for (const v of verdicts)
    out.push(
      `  ${v.nodes} nodes: ${v.p50Pass === undefined ? 'n/a (missing run)' : `${v.p50Pass ? 'PASS' : 'FAIL'} (${v.p50Ratio}×)`}`,
    );
  out.push('', 'throughput by node count, and what limited it:');
  for (const r of results)
    out.push(
      `  ${r.nodes} node(s): ${r.throughput ? `${r.throughput.deliveredPerSecond} delivered/s — limited by ${r.throughput.limitedBy}` : 'no result'}`,
    );
  out.push('', machineNote);
  const disturbed = results.filter(
    (r) =>
      (r.machineBusyBeforePct ?? 0) > QUIET_BUSY_PCT ||
      (r.latency?.cpu.otherPct ?? 0) > DISTURBED_PCT ||
      (r.throughput?.cpu.otherPct ?? 0) > DISTURBED_PCT,
  );
  if (disturbed.length)
    out.push(
      '',
      `WARNING: other processes on the machine used much CPU around the ${disturbed.map((r) => `${r.nodes}-node`).join(', ')} run(s) ("CPU % other processes", "machine CPU % before the run"): those figures are disturbed; rerun on a quiet machine.`,
    );
  for (const r of results) {
    if (!r.ok) out.push('', `${r.nodes} node(s): FAILED: ${r.error}`);
    if (r.disconnects) out.push(`${r.nodes} node(s): ${r.disconnects} unexpected socket disconnects`);
    if (r.serverWarnings?.length) {
      out.push(`${r.nodes} node(s): servers logged warnings, e.g.:`);
      for (const w of r.serverWarnings.slice(0, 3)) out.push(`  ${w}`);
    }
  }
  out.push('', `took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return results.every((r) => r.ok);
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const startedAt = new Date();
  const t0 = now();
  log(
    `cluster benchmark: nodes ${NODE_COUNTS.join(', ')}; ${ROOMS} rooms, ${RATE} msg/s, ${SECONDS} s windows, ${INFLIGHT} in flight/room; redis prefix ${REDIS_PREFIX}`,
  );
  const dbName = `talkroom_bench_cluster_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${dbName}`);
  cleanups.push(async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });
  cleanups.push(async () => {
    const n = await dropRedisKeys();
    if (n) log(`deleted ${n} Redis keys under ${REDIS_PREFIX}`);
  });
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  if (!redisPid()) log('warning: redis-server pid not found (redis-cli info server); Redis CPU will read 0');

  let specs: RoomSpec[] | undefined;
  const results: RunResult[] = [];
  for (const n of NODE_COUNTS) {
    results.push(
      await runNodes(n, url.toString(), dbName, async (firstNodeUrl) => {
        if (!specs) {
          // Provisioned once, through the first node of the first run; later runs reuse the rooms.
          const t = now();
          specs = await provision(firstNodeUrl);
          log(`provisioned ${ROOMS} rooms in ${round((now() - t) / 1000, 1)} s`);
        }
        return specs;
      }),
    );
  }
  return report(results, startedAt, (now() - t0) / 1000) ? 0 : 1;
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

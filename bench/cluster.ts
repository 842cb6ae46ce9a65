/**
 * Cluster messaging benchmark (`npm run bench:cluster`).
 *
 * The messaging benchmark's load (rooms of two members, `message:send` →
 * the OTHER member's `message:new`) against talkroom on 1, 2 and 3 nodes in
 * one invocation. Every node is a `node server/main.ts` child process on the same
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
 * Target (first round): cross-node p50 within 1.5× single-node; issue 14's P4: within
 * 1.2× at two nodes. Throughput grows with nodes until Redis or the load generator is
 * the limit, and the report says which.
 *
 * Sharded Redis adapter (BENCH_SHARDED=1, the default): one more two-node run whose
 * nodes are bench/sharded-server.ts — talkroom with the Socket.IO adapter swapped for
 * @socket.io/redis-adapter's sharded one (Redis 7 sharded pub/sub: SPUBLISH/SSUBSCRIBE,
 * one channel per room), before any socket connects. talkroom has no setting for it
 * yet; the wrapper exists so the figure can be measured before one is added.
 * On a machine with few cores every node, Redis, PostgreSQL and the load
 * generator share the same CPUs: more nodes add no CPU, and the report says so.
 *
 * The machine is shared: before each run the script waits (BENCH_QUIET_WAIT_SECONDS,
 * 60) for other processes to go quiet, and warns when they disturbed the figures.
 *
 * Env: BENCH_ROOMS (500), BENCH_RATE (500), BENCH_SECONDS (8), BENCH_WARMUP_SECONDS (2),
 *      BENCH_INFLIGHT (2), BENCH_NODES (1,2,3), BENCH_DATABASE_URL
 *      (postgres://postgres@127.0.0.1:5432/test), BENCH_REDIS_URL (redis://127.0.0.1:6379),
 *      BENCH_SHARDED (1), BENCH_QUICK=1 (50 rooms, 2 s windows, 1 and 2 nodes).
 * Writes bench/results/cluster-latest.json. All traffic stays on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { report } from './cluster/report.ts';
import {
  INFLIGHT,
  NODE_COUNTS,
  QUIET_WAIT_SECONDS,
  RAMP_SECONDS,
  RATE,
  REDIS_PREFIX,
  ROOMS,
  RUNS,
  type Run,
  type RunResult,
  SECONDS,
  WARMUP_SECONDS,
} from './cluster/settings.ts';
import { LoadGenerator, Phase } from './lib/load.ts';
import {
  type CpuSnapshot,
  type CpuUse,
  cpuBetween,
  cpuSnapshot,
  limitedBy,
  waitForQuietMachine,
} from './lib/machine.ts';
import { type BenchDatabase, createDatabase, pgPids } from './lib/postgres.ts';
import { assertAlive, cleanups, runMain, type ServerProc } from './lib/processes.ts';
import { dropRedisKeys, REDIS_URL, redisPid } from './lib/redis.ts';
import { provisionRooms, type RoomSpec } from './lib/rooms.ts';
import { startTarget, type Target } from './lib/servers.ts';
import { log, now, quantiles, round, sleep } from './lib/util.ts';

const SECRET = randomBytes(32).toString('hex');
const DRAIN_MS = 20_000;

/** CPU per delivered message: servers + Redis + PostgreSQL (the load generator is not counted). */
function perDelivered(cpu: CpuUse, delivered: number) {
  const g = (k: string) => cpu.groups[k]?.seconds ?? 0;
  const servers = g('servers');
  return {
    cpuUsPerDelivered:
      delivered > 0 ? round((1e6 * (servers + g('redis') + g('postgres'))) / delivered, 0) : undefined,
    serverCpuUsPerDelivered: delivered > 0 ? round((1e6 * servers) / delivered, 0) : undefined,
  };
}

async function runNodes(
  run: Run,
  db: BenchDatabase,
  rooms: (firstNodeUrl: string) => Promise<RoomSpec[]>,
): Promise<RunResult> {
  const n = run.nodes;
  const result: RunResult = { nodes: n, adapter: run.adapter, ok: false, crossNode: n > 1 };
  const started: Target[] = [];
  const nodes: ServerProc[] = [];
  const gen = new LoadGenerator();
  const label = `[${run.name}]`;
  try {
    result.machineBusyBeforePct = await waitForQuietMachine(run.name, QUIET_WAIT_SECONDS);
    // One at a time: the first applies the schema.
    for (let i = 0; i < n; i++) {
      const ports = {
        MEDIA_RTC_MIN_PORT: String(47000 + 100 * i),
        MEDIA_RTC_MAX_PORT: String(47099 + 100 * i),
      };
      const script = run.adapter === 'sharded' ? 'bench/sharded-server.ts' : 'server/main.ts';
      const env = { REDIS_URL, REDIS_PREFIX, MEDIA_WORKERS: '1', ...ports };
      started.push(await startTarget({ script, secret: SECRET, postgres: db, env, label: `node ${i}` }));
      nodes.push(started.at(-1)!.server);
    }
    log(`${label} servers ${nodes.map((x) => `pid ${x.pid} ${x.url}`).join(', ')}`);
    const alive = () => assertAlive(...nodes);
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
      await gen.drain(warm, DRAIN_MS);
    }
    alive();
    const redis = redisPid();
    let postgres = await pgPids(db.name);
    const snap = (): CpuSnapshot =>
      cpuSnapshot({
        servers: nodes.map((x) => x.pid),
        redis: [redis],
        postgres,
        loadGenerator: [process.pid],
      });

    // Latency at a fixed rate.
    const lat = new Phase();
    let c0 = snap();
    await gen.openLoop(lat, RATE, SECONDS);
    let c1 = snap();
    const deliveredInWindow = lat.delivered;
    const lostLat = await gen.drain(lat, DRAIN_MS);
    alive();
    const latCpu = cpuBetween(c0, c1);
    result.latency = {
      ratePerSecond: RATE,
      saturated: lat.saturated,
      sent: lat.sent,
      acked: lat.ackedOk,
      delivered: lat.delivered,
      errors: lat.errors,
      timeouts: lat.timeouts,
      lost: lostLat,
      roundTripMs: quantiles(lat.rtt),
      cpu: latCpu,
      ...perDelivered(latCpu, deliveredInWindow),
    };
    log(
      `${label} @${RATE}/s: p50 ${result.latency.roundTripMs.p50} ms, p99 ${result.latency.roundTripMs.p99} ms, ${result.latency.cpuUsPerDelivered} µs CPU/delivered`,
    );

    // Throughput, closed loop.
    const thr = new Phase();
    thr.recording = false;
    const stop = gen.closedLoop(thr, INFLIGHT);
    await sleep(RAMP_SECONDS * 1000);
    // The pool may have opened backends during the ramp: count them too.
    postgres = await pgPids(db.name);
    thr.recording = true;
    const a0 = thr.ackedOk;
    const d0 = thr.delivered;
    c0 = snap();
    await sleep(SECONDS * 1000);
    c1 = snap();
    const a1 = thr.ackedOk;
    const d1 = thr.delivered;
    thr.recording = false;
    stop();
    const lostThr = await gen.drain(thr, DRAIN_MS);
    alive();
    const secs = (c1.at - c0.at) / 1000;
    const cpu = cpuBetween(c0, c1);
    result.throughput = {
      inflightPerRoom: INFLIGHT,
      storedPerSecond: round((a1 - a0) / secs, 0),
      deliveredPerSecond: round((d1 - d0) / secs, 0),
      errors: thr.errors,
      timeouts: thr.timeouts,
      lost: lostThr,
      roundTripMs: quantiles(thr.rtt),
      cpu,
      ...perDelivered(cpu, d1 - d0),
      limitedBy: limitedBy(
        cpu,
        ['servers', 'redis', 'loadGenerator'],
        'likely waiting (PostgreSQL commits, round trips) — raise BENCH_INFLIGHT',
      ),
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
    await Promise.all(started.map((x) => x.stop()));
    result.serverWarnings = nodes.flatMap((x) => x.problems.samples).slice(0, 10);
  }
  return result;
}

await runMain(async () => {
  const startedAt = new Date();
  const t0 = now();
  log(
    `cluster benchmark: ${RUNS.map((r) => r.name).join(', ')}; ${ROOMS} rooms, ${RATE} msg/s, ${SECONDS} s windows, ${INFLIGHT} in flight/room; redis prefix ${REDIS_PREFIX}`,
  );
  log(`node counts ${NODE_COUNTS.join(', ')}`);
  const db = await createDatabase('talkroom_bench_cluster');
  cleanups.push(db.drop);
  cleanups.push(async () => {
    const n = await dropRedisKeys(REDIS_PREFIX);
    if (n) log(`deleted ${n} Redis keys under ${REDIS_PREFIX}`);
  });
  if (!redisPid()) log('warning: redis-server pid not found (redis-cli info server); Redis CPU will read 0');

  let specs: RoomSpec[] | undefined;
  const results: RunResult[] = [];
  for (const run of RUNS) {
    results.push(
      await runNodes(run, db, async (firstNodeUrl) => {
        if (!specs) {
          // Provisioned once, through the first node of the first run; later runs reuse the rooms.
          const t = now();
          specs = await provisionRooms(firstNodeUrl, SECRET, ROOMS);
          log(`provisioned ${ROOMS} rooms in ${round((now() - t) / 1000, 1)} s`);
        }
        return specs;
      }),
    );
  }
  return report(results, startedAt, (now() - t0) / 1000) ? 0 : 1;
});

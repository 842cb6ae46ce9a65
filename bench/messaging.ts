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
 * Socket.IO itself. Targets (first round): p50 within 2× the echo; ≥ 3,000 stored
 * messages/s sustained on PostgreSQL. Issue 14's goals, printed with figure and ratio:
 *  - P1: (round trip p50 − echo p50) ÷ the p50 of a PostgreSQL single-row commit, which the
 *    benchmark times itself (BENCH_COMMITS autocommit INSERTs, one at a time) on the same
 *    database in the same run, before the load: ≤ 1.1;
 *  - P2: stored msg/s on PostgreSQL ÷ echo msg/s (closed loop): ≥ 0.5;
 *  - P2e: the same on the embedded store: ≥ 0.3, with the server's event-loop delay p99 under
 *    50 ms and /healthz and /metrics (polled once a second) answering within 100 ms throughout.
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
 *      during the throughput window), BENCH_COMMITS (2000), BENCH_QUICK=1 (50 rooms,
 *      2 s windows, 200 msg/s: checks that it runs; figures meaningless).
 * Writes bench/results/messaging-latest.json. All traffic stays on 127.0.0.1.
 */

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monoMicros, newestProfile, summariseProfile } from './cpuprofile.ts';
import { LoadGenerator, Phase } from './lib/load.ts';
import { cpuBetween, cpuSnapshot, limitedBy, waitForQuietMachine } from './lib/machine.ts';
import { LagPoller, type Metrics, scrape, serverMetricsBetween } from './lib/metrics.ts';
import { measureCommit, PgSampler } from './lib/postgres.ts';
import { assertAlive, cleanupLater, runMain, stopServer } from './lib/processes.ts';
import { echoRooms, provisionRooms } from './lib/rooms.ts';
import { startTarget, type Target } from './lib/servers.ts';
import { log, now, quantiles, round, sleep } from './lib/util.ts';
import { report } from './messaging/report.ts';
import {
  COMMITS,
  CPU_PROF,
  DB_POOL_SIZE,
  DRAIN_MS,
  INFLIGHT,
  type LatencyResult,
  LIGHT_RATE,
  LIGHT_SECONDS,
  onPostgres,
  parseTargets,
  QUIET_WAIT_SECONDS,
  RAMP_SECONDS,
  RATE,
  ROOMS,
  SECONDS,
  type TargetName,
  type TargetResult,
  WARMUP_SECONDS,
} from './messaging/settings.ts';

const SECRET = randomBytes(32).toString('hex');
const SCRIPTS: Record<TargetName, string> = {
  echo: 'bench/echo-server.ts',
  embedded: 'server/main.ts',
  postgres: 'server/main.ts',
  'postgres-plain': 'bench/plain-server.ts',
};

async function runTarget(target: TargetName): Promise<TargetResult> {
  const result: TargetResult = { target, ok: false };
  const gen = new LoadGenerator();
  let started: Target | undefined;
  let sampler: PgSampler | undefined;
  const isTalkroom = target !== 'echo';
  const profDir = CPU_PROF && isTalkroom ? mkdtempSync(join(tmpdir(), 'talkroom-prof-')) : undefined;
  const removeProfDir = profDir
    ? cleanupLater(() => rmSync(profDir, { recursive: true, force: true }))
    : undefined;
  try {
    // 1. The server.
    result.machineBusyAtStartPct = await waitForQuietMachine(target, QUIET_WAIT_SECONDS);
    started = await startTarget({
      script: SCRIPTS[target],
      secret: SECRET,
      postgres: onPostgres(target),
      env: DB_POOL_SIZE ? { DB_POOL_SIZE } : {},
      nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
      label: target,
      beforeStart: async (db) => {
        if (!db) return;
        // P1's denominator, on the same database and machine, before the load starts.
        result.commitMs = await measureCommit(db.url, COMMITS);
        log(`[${target}] PostgreSQL single-row commit p50 ${result.commitMs.p50} ms (${COMMITS} commits)`);
      },
    });
    const srv = started.server;
    const dbName = started.db?.name;
    log(`[${target}] server pid ${srv.pid} on ${srv.url}`);
    const alive = () => assertAlive(srv);

    // 2. Rooms and sockets.
    let t = now();
    const rooms = isTalkroom ? await provisionRooms(srv.url, SECRET, ROOMS) : echoRooms(ROOMS);
    const provisionSeconds = round((now() - t) / 1000, 1);
    log(`[${target}] provisioned ${ROOMS} rooms in ${provisionSeconds} s`);
    t = now();
    await gen.connect([srv.url], rooms);
    const connectSeconds = round((now() - t) / 1000, 1);
    result.setup = { provisionSeconds, connectSeconds, sockets: gen.pairs.length * 2 };
    log(`[${target}] connected ${gen.pairs.length * 2} sockets in ${connectSeconds} s`);
    alive();

    if (dbName) {
      sampler = new PgSampler(dbName);
      await sampler.start();
    }
    const metricsNow = () => (isTalkroom ? scrape(srv.url) : Promise.resolve<Metrics>(new Map()));
    const snap = () =>
      cpuSnapshot({ server: [srv.pid], postgres: sampler?.pids ?? [], loadGenerator: [process.pid] });

    // 3. Idle baseline for the event-loop delay, then warm-up (discarded).
    await metricsNow();
    await sleep(1000);
    const idle = await metricsNow();
    if (isTalkroom)
      result.idleEventLoopDelayP99Ms = round((idle.get('nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000, 2);
    if (WARMUP_SECONDS > 0) {
      const warm = new Phase();
      warm.recording = false;
      await gen.openLoop(warm, RATE, WARMUP_SECONDS);
      const lost = await gen.drain(warm, DRAIN_MS);
      log(`[${target}] warm-up: ${warm.ackedOk}/${warm.sent} acked, ${lost} not settled`);
      alive();
    }

    // 4. Latency: steady open loop, light and then at the moderate rate the targets are about.
    const openLoop = async (rate: number, seconds: number): Promise<LatencyResult> => {
      const phase = new Phase();
      const lag = new LagPoller(isTalkroom ? srv.url : undefined);
      const m0 = await metricsNow();
      const c0 = snap();
      lag.start();
      await gen.openLoop(phase, rate, seconds);
      const lost = await gen.drain(phase, DRAIN_MS);
      const c1 = snap();
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

    // 5. Throughput: closed loop; a ramp, then the measured window in one-second slices.
    const thr = new Phase();
    thr.recording = false;
    const stop = gen.closedLoop(thr, INFLIGHT);
    await sleep(RAMP_SECONDS * 1000);
    thr.recording = true;
    const lag = new LagPoller(isTalkroom ? srv.url : undefined);
    const windowStartAt = now();
    const profFrom = monoMicros();
    const startAcked = thr.ackedOk;
    const startDelivered = thr.delivered;
    const c0 = snap();
    sampler?.reset();
    const m0 = await metricsNow();
    lag.start();
    /** Stored/s in each one-second slice of the window, and each slice's real length. */
    const perSecond: number[] = [];
    const secondMs: number[] = [];
    let lastAcked = startAcked;
    let lastAt = windowStartAt;
    for (let s = 0; s < SECONDS; s++) {
      await sleep(1000);
      const at = now();
      perSecond.push(round((thr.ackedOk - lastAcked) / ((at - lastAt) / 1000), 0));
      secondMs.push(round(at - lastAt, 0));
      lastAcked = thr.ackedOk;
      lastAt = at;
    }
    const windowEndAt = now();
    const profTo = monoMicros();
    const endAcked = thr.ackedOk;
    const endDelivered = thr.delivered;
    const c1 = snap();
    const [m1, eventLoopDelayMs] = await Promise.all([metricsNow(), lag.stop()]);
    thr.recording = false;
    stop();
    const lostThr = await gen.drain(thr, DRAIN_MS);
    alive();
    const windowSeconds = (windowEndAt - windowStartAt) / 1000;
    const cpu = cpuBetween(c0, c1);
    const pgPool = sampler?.summary(Number(DB_POOL_SIZE ?? 20));
    const waits = pgPool?.activeWaits.map((w) => `${w.wait} ${w.pct}%`).join(', ');
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
      cpu,
      limitedBy: limitedBy(
        cpu,
        ['server', 'loadGenerator'],
        pgPool
          ? `PostgreSQL's active backends were on: ${waits || 'nothing sampled'}`
          : 'waiting on the store',
      ),
      server: serverMetricsBetween(m0, m1, windowSeconds),
      eventLoopDelayMs,
      pgPool,
    };
    log(
      `[${target}] throughput (${INFLIGHT}/room in flight): ${result.throughput.storedPerSecond} stored/s, ${result.throughput.deliveredPerSecond} delivered/s; limited by ${result.throughput.limitedBy}`,
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
    if (started) {
      const server = started.server;
      await started.stop();
      result.serverProblems = server.problems;
      result.serverExit = server.exited;
      if (!result.ok && server.stderrTail.length) result.serverStderrTail = server.stderrTail.slice(-20);
    }
    await removeProfDir?.();
  }
  return result;
}

await runMain(async () => {
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
});

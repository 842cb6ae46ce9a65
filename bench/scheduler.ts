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
 * What it measures: the scheduler around a one-row effect. Each job's handler does one INSERT
 * (the record of the firing), a stand-in for the message a reminder posts; a real reminder
 * (src/services/bookings/timers.ts) also reads and locks its booking and users and audits,
 * about ten statements in its own transaction, and is not what this times.
 *
 * Three modes, one after the other in the same run, against the same rows:
 *  - scheduler: each node runs a real Scheduler (src/jobs/scheduler.ts) on the system clock
 *    with its defaults (lease 30 s, max idle 30 s, batch 100, concurrency 8); the handler is a
 *    transaction handler: its INSERT goes in the scheduler's transaction that deletes the jobs,
 *    a claimed batch split into up to 8 such transactions (one commit per group, not per job).
 *  - scheduler-own: the same, with the handler committing its own INSERT (one commit per job,
 *    as the booking timers and webhook deliveries do); the jobs' rows deleted a group at a time.
 *  - baseline: each node runs a bare loop: DELETE … WHERE id IN (SELECT … due … ORDER BY run_at
 *    LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING, the same INSERT per row (one commit each)
 *    with the same concurrency (8), and a 10 ms sleep whenever nothing is due.
 *
 * For each mode, in order:
 *  1. idle (empty jobs table): each node's CPU over BENCH_IDLE_SECONDS, in % of one core;
 *  2. spread: BENCH_JOBS rows (kind 'bench.reminder') with run_at uniform at random (seeded, so
 *     the same offsets in both modes) over BENCH_SPREAD_SECONDS, starting BENCH_LEAD_SECONDS
 *     ahead, inserted in one statement; then each node is sent 'wake' (what main.ts's Redis
 *     wake broadcast does when another node schedules a job). Lateness per job = when its
 *     effect was committed (its node's clock) − run_at (also printed: fired_at, when the handler
 *     started); throughput = jobs / (last firing − first run_at); exactly-once = every id
 *     fired, none twice, the jobs table empty afterwards;
 *  3. idle again after the minute, and idle with one job due in an hour (the common case in
 *     production: nothing due, but something scheduled);
 *  4. burst: the same rows all due at one instant (BENCH_BURST=0 skips): drain time and rate.
 *
 * Why the baseline is fair: same machine, same database, same rows and run_at offsets, same
 * two processes and pools, same per-row recording work with the same concurrency and batch,
 * same index (the claim filters dead_at IS NULL like the scheduler's, so both use jobs_due).
 * Against scheduler-own it does strictly less per job (no lease UPDATE, no completing DELETE,
 * no nextDue read, no timer bookkeeping) but pays for it by polling every 10 ms, so the
 * comparison shows what the lease-and-sleep design costs in lateness and throughput, and what
 * it saves when idle. The scheduler mode commits a group of effects at once, which the
 * baseline's one commit per row does not: there it is the faster.
 *
 * The machine may be shared: before each load phase the script waits (BENCH_QUIET_WAIT_SECONDS)
 * for a quiet machine, and it reports the CPU used by other processes in each window.
 *
 * Env: BENCH_JOBS (10000), BENCH_SPREAD_SECONDS (60), BENCH_LEAD_SECONDS (5), BENCH_IDLE_SECONDS
 *      (5), BENCH_BURST (1), BENCH_QUIET_WAIT_SECONDS (20), BENCH_ONLY (modes, comma-separated:
 *      scheduler,scheduler-own,baseline), BENCH_CPU_PROF=1 (each node under --cpu-prof: its hot
 *      spots over the burst printed and kept in the results),
 *      BENCH_DATABASE_URL (admin URL, postgres://postgres@127.0.0.1:5432/test), BENCH_QUICK=1
 *      (1,000 jobs over 5 s, 1 s idle windows: checks that it runs; figures meaningless).
 * Issue 14's P7 is the burst phase: 10,000 reminders due at the same instant on two nodes, p99
 * lateness < 1 s and each fired exactly once; the report prints it with figure and ratio.
 * Writes bench/results/scheduler-latest.json. All traffic stays on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStore } from '../src/store/index.ts';
import { monoMicros, newestProfile, summariseProfile } from './cpuprofile.ts';
import { waitForQuietMachine } from './lib/machine.ts';
import { createDatabase } from './lib/postgres.ts';
import { cleanups, runMain } from './lib/processes.ts';
import { log, sleep } from './lib/util.ts';
import { type BenchNode, startNode } from './scheduler/nodes.ts';
import { idleWindow, offsets, runPhase } from './scheduler/phase.ts';
import { type ModeResult, report } from './scheduler/report.ts';
import {
  BURST,
  CPU_PROF,
  IDLE_SECONDS,
  JOBS,
  KIND,
  LEAD_SECONDS,
  MODES,
  type Mode,
  NODES,
  QUIET_WAIT_SECONDS,
  SPREAD_SECONDS,
} from './scheduler/settings.ts';

async function runMode(mode: Mode, url: string, dbName: string, c: pg.Client): Promise<ModeResult> {
  const result: ModeResult = { mode, ok: false, nodeProblems: {}, quietBusyPct: {} };
  const nodes: BenchNode[] = [];
  const profDirs: string[] = [];
  let burstWindow: [number, number] | undefined;
  try {
    for (let i = 1; i <= NODES; i++) {
      const profDir = CPU_PROF ? mkdtempSync(join(tmpdir(), 'talkroom-sched-prof-')) : undefined;
      if (profDir) profDirs.push(profDir);
      nodes.push(await startNode(mode, `${mode}-${i}`, url, profDir));
    }
    log(`[${mode}] ${NODES} nodes up (pids ${nodes.map((n) => n.pid).join(', ')})`);
    await sleep(1000);

    log(`[${mode}] idle, empty jobs table, ${IDLE_SECONDS} s`);
    result.idleBefore = await idleWindow(c, dbName, nodes, IDLE_SECONDS);

    result.quietBusyPct.spread = await waitForQuietMachine(`${mode}-spread`, QUIET_WAIT_SECONDS);
    const offs = offsets(JOBS, SPREAD_SECONDS * 1000);
    log(`[${mode}] spread: ${JOBS} jobs over ${SPREAD_SECONDS} s, first due in ${LEAD_SECONDS} s`);
    result.spread = await runPhase(c, dbName, nodes, `${mode}-spread`, offs, LEAD_SECONDS * 1000);
    log(
      `[${mode}] spread: lateness p50 ${result.spread.latenessMs.p50} ms, p99 ${result.spread.latenessMs.p99} ms, max ${result.spread.latenessMs.max} ms; ${result.spread.throughputPerSecond} jobs/s`,
    );

    await sleep(1000);
    log(`[${mode}] idle after the minute, ${IDLE_SECONDS} s`);
    result.idleAfter = await idleWindow(c, dbName, nodes, IDLE_SECONDS);

    await c.query(
      `INSERT INTO jobs (id, kind, run_at, payload, created_at)
       VALUES ('future', $1, now() + interval '1 hour', '{"phase":"future"}', now())`,
      [KIND],
    );
    for (const node of nodes) node.wake();
    await sleep(500);
    log(`[${mode}] idle with one job due in an hour, ${IDLE_SECONDS} s`);
    result.idleWithFutureJob = await idleWindow(c, dbName, nodes, IDLE_SECONDS);
    await c.query(`DELETE FROM jobs WHERE id = 'future'`);

    if (BURST) {
      result.quietBusyPct.burst = await waitForQuietMachine(`${mode}-burst`, QUIET_WAIT_SECONDS);
      log(`[${mode}] burst: ${JOBS} jobs all due at one instant`);
      const from = monoMicros();
      result.burst = await runPhase(c, dbName, nodes, `${mode}-burst`, new Array(JOBS).fill(0), 1500);
      burstWindow = [from, monoMicros()];
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
    profDirs.forEach((dir, i) => {
      // Written by the node as it exits; the window is the burst (the whole run without one).
      const file = newestProfile(dir);
      const [from, to] = burstWindow ?? [0, Number.MAX_SAFE_INTEGER];
      if (file) {
        result.profiles ??= {};
        result.profiles[nodes[i]?.name ?? `node-${i}`] = summariseProfile(file, from, to);
      }
      rmSync(dir, { recursive: true, force: true });
    });
    await c.query('DELETE FROM jobs').catch(() => {});
  }
  return result;
}

await runMain(async () => {
  const startedAt = new Date();
  const t0 = Date.now();
  const db = await createDatabase('talkroom_bench_sched');
  cleanups.push(db.drop);
  const store = await openStore({ databaseUrl: db.url, poolSize: 2 });
  await store.db.exec(
    `CREATE TABLE bench_fired (phase text NOT NULL, job_id text NOT NULL, node text NOT NULL,
       due_at timestamptz NOT NULL, fired_at timestamptz NOT NULL, attempts integer NOT NULL)`,
  );
  await store.db.close();
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  cleanups.push(() => c.end());
  log(
    `scheduler benchmark: ${JOBS} jobs over ${SPREAD_SECONDS} s, ${NODES} nodes, modes ${MODES.join(', ')}; database ${db.name}`,
  );
  const results: ModeResult[] = [];
  for (const m of MODES) results.push(await runMode(m, db.url, db.name, c));
  return report(results, startedAt, (Date.now() - t0) / 1000) ? 0 : 1;
});

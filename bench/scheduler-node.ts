/**
 * One "node" of the scheduler benchmark (bench/scheduler.ts forks two of these).
 *
 * Usage (by the parent only, over an IPC channel):
 *   node bench/scheduler-node.ts <scheduler|scheduler-own|baseline> <name>
 * Env: BENCH_NODE_DATABASE_URL (the benchmark's database), BENCH_NODE_MAX_SECONDS (hard stop, 900).
 *
 * The handler writes one row per job, the record of the firing: a stand-in for the one row a
 * reminder posts (its message). It is not a real reminder: that one (src/services/bookings/
 * timers.ts) also reads and locks the booking and its two users, renders the text and audits, in
 * its own transaction, about ten statements; this benchmark measures the scheduler around a
 * one-row effect, not the reminder's own cost.
 *  - scheduler: a real Scheduler from src/jobs/scheduler.ts on the system clock, its default
 *    lease, idle bound, batch and concurrency; the handler is a transaction handler (inTx): the
 *    row is written in the scheduler's transaction that deletes the job, a group of jobs a commit.
 *  - scheduler-own: the same Scheduler with the handler committing its own row per job (as the
 *    booking timers and webhooks do today); the scheduler deletes the jobs a group at a time.
 *  - baseline: a bare loop that claims and deletes due rows in one statement (DELETE … FOR
 *    UPDATE SKIP LOCKED … RETURNING), writes the same record per row (one commit each) with the
 *    same concurrency, and polls every 10 ms when nothing is due.
 *
 * All record (phase, job id, node, due = the row's run_at, fired = Date.now() when the handler
 * starts, attempts) into bench_fired, which has no unique constraint, so a job fired twice shows.
 * Each node also keeps, per phase, each job's lateness when its effect was committed (due →
 * the commit, read by the parent in its stats): a grouped transaction commits after the whole
 * group, so the firing time alone would flatter it.
 * The Db handed to the Scheduler counts its queries by kind (claim, complete, nextDue, …), in
 * its transactions too, so the parent can tell wasted wake-ups and idle polling apart from work.
 *
 * IPC in: {cmd:'wake'} (what main.ts's Redis wake broadcast does), {cmd:'stats', id, monitor}
 * (monitor: sample event-loop delay until the next stats), {cmd:'stop'}.
 * IPC out: {type:'ready'}, {type:'stats', id, …}, {type:'stopped'}.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { systemClock } from '../src/clock.ts';
import { Scheduler } from '../src/jobs/scheduler.ts';
import { createLogger } from '../src/log.ts';
import { type Db, openDb, type Queryable } from '../src/store/db.ts';
import type { Job } from '../src/store/jobs.ts';

const mode = process.argv[2];
const name = process.argv[3] ?? 'node';
const url = process.env.BENCH_NODE_DATABASE_URL;
if ((mode !== 'scheduler' && mode !== 'scheduler-own' && mode !== 'baseline') || !url || !process.send) {
  process.stderr.write(
    'usage: forked by bench/scheduler.ts: scheduler-node.ts <scheduler|scheduler-own|baseline> <name>\n',
  );
  process.exit(2);
}
const send = (m: unknown) => process.send?.(m);

// A hard bound on this process's life, whatever the parent does.
setTimeout(
  () => {
    process.stderr.write(`${name}: BENCH_NODE_MAX_SECONDS reached; exiting\n`);
    process.exit(3);
  },
  Number(process.env.BENCH_NODE_MAX_SECONDS ?? 900) * 1000,
).unref();
process.on('disconnect', () => process.exit(0));

// ---------------------------------------------------------------- query accounting

interface Count {
  n: number;
  /** Calls that returned no rows (an empty claim is a wake-up that found nothing to do). */
  empty: number;
  ms: number;
}
const counts: Record<string, Count> = {};
const kindOf = (sql: string): string => {
  const s = sql.trimStart();
  if (s.startsWith('UPDATE jobs SET locked_by = $1')) return 'claim';
  if (s.startsWith('DELETE FROM jobs WHERE id = ANY')) return 'complete';
  if (s.startsWith('SELECT LEAST(')) return 'nextDue';
  if (s.startsWith('UPDATE jobs SET locked_by = NULL')) return 'fail';
  if (s.startsWith('INSERT INTO bench_fired')) return 'record';
  if (s.startsWith('DELETE FROM jobs WHERE id IN')) return 'baselineClaimDelete';
  return 'other';
};

function count(kind: string, t0: number, empty: boolean): void {
  const c = counts[kind] ?? { n: 0, empty: 0, ms: 0 };
  counts[kind] = c;
  c.n++;
  if (empty) c.empty++;
  c.ms += performance.now() - t0;
}

const countingQuery =
  (q: Queryable): Queryable['query'] =>
  async <T>(sql: string, params?: readonly unknown[]): Promise<T[]> => {
    const t0 = performance.now();
    const rows = await q.query<T>(sql, params);
    count(kindOf(sql), t0, rows.length === 0);
    return rows;
  };

/** A transaction counts as 'tx' (its BEGIN to its COMMIT), its statements by kind. */
function counting(db: Db): Db {
  return {
    kind: db.kind,
    keyring: db.keyring,
    query: countingQuery(db),
    exec: (sql) => db.exec(sql),
    tx: async (fn) => {
      const t0 = performance.now();
      const out = await db.tx((q) => fn({ query: countingQuery(q), exec: (sql) => q.exec(sql) }));
      count('tx', t0, false);
      return out;
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

const db = counting(await openDb({ databaseUrl: url }));
const RECORD = `INSERT INTO bench_fired (phase, job_id, node, due_at, fired_at, attempts) VALUES ($1, $2, $3, $4, $5, $6)`;
const record = async (
  q: Queryable,
  phase: unknown,
  id: string,
  runAt: Date,
  firedAt: Date,
  attempts: number,
) => {
  await q.query(RECORD, [String(phase), id, name, runAt, firedAt, attempts]);
};

/** Per phase, each job's lateness (ms) when its effect was committed. */
const committed: Record<string, number[]> = {};
const committedNow = (phase: unknown, runAt: Date) => {
  const key = String(phase);
  committed[key] ??= [];
  committed[key].push(Date.now() - runAt.getTime());
};

// Event-loop delay is sampled only during load phases (the parent says when): its 10 ms timer
// would otherwise show up in the idle CPU figure.
const delay = monitorEventLoopDelay({ resolution: 10 });
let handled = 0;

// ---------------------------------------------------------------- the three kinds of node

let stop: () => Promise<void>;
let wake: () => void = () => {};

if (mode === 'scheduler' || mode === 'scheduler-own') {
  const log = createLogger('warn');
  const fire = async (job: Job, q: Queryable) => {
    const firedAt = new Date();
    handled++;
    await record(q, job.payload.phase, job.id, job.runAt, firedAt, job.attempts);
  };
  const scheduler = new Scheduler({
    db,
    clock: systemClock,
    log,
    handlers: {
      'bench.reminder': mode === 'scheduler' ? { inTx: fire } : (job: Job) => fire(job, db),
    },
    // 'done' comes once the job's row is deleted: with inTx, in the commit of its effect.
    onOutcome: (job, outcome) => {
      if (outcome === 'done') committedNow(job.payload.phase, job.runAt);
    },
  });
  scheduler.start();
  wake = () => scheduler.wake();
  stop = () => scheduler.stop();
} else {
  const BATCH = 100;
  const CONCURRENCY = 8;
  const POLL_MS = 10;
  /** One poll: claim-and-delete up to BATCH due rows, then record each (CONCURRENCY at a time). */
  const once = async (): Promise<void> => {
    const rows = await db.query<{ id: string; run_at: Date; payload: { phase?: unknown } }>(
      `DELETE FROM jobs WHERE id IN (
         SELECT id FROM jobs WHERE dead_at IS NULL AND run_at <= $1
          ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING id, run_at, payload`,
      [new Date(), BATCH],
    );
    if (rows.length === 0) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      return;
    }
    rows.sort((a, b) => a.run_at.getTime() - b.run_at.getTime());
    let i = 0;
    const worker = async () => {
      while (i < rows.length) {
        const r = rows[i++]!;
        handled++;
        await record(db, r.payload.phase, r.id, r.run_at, new Date(), 1);
        committedNow(r.payload.phase, r.run_at);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, rows.length) }, worker));
  };
  let running = true;
  let errors = 0;
  const loop = (async () => {
    while (running) {
      try {
        await once();
      } catch (e) {
        if (errors++ < 5) process.stderr.write(`${name}: baseline loop failed: ${(e as Error).message}\n`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  })();
  stop = async () => {
    running = false;
    await loop;
  };
}

// ---------------------------------------------------------------- IPC

process.on('message', (m: { cmd?: string; id?: number; monitor?: boolean }) => {
  if (m.cmd === 'wake') wake();
  else if (m.cmd === 'stats') {
    const cpu = process.cpuUsage();
    send({
      type: 'stats',
      id: m.id,
      cpuMicros: cpu.user + cpu.system,
      at: performance.now() + performance.timeOrigin,
      handled,
      counts: structuredClone(counts),
      committed: structuredClone(committed),
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      loopDelayMaxMs: delay.max / 1e6,
    });
    delay.reset();
    if (m.monitor) delay.enable();
    else delay.disable();
  } else if (m.cmd === 'stop') {
    void (async () => {
      await stop();
      await db.close();
      send({ type: 'stopped' });
      process.disconnect?.();
    })();
  }
});

send({ type: 'ready', pid: process.pid });

import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Db, Queryable } from '../store/db.ts';
import { type Job, JobStore } from '../store/jobs.ts';

/** A handler that commits its own effect (its own transaction, a webhook's HTTP call). */
export type JobHandler = (job: Job) => Promise<void>;

/**
 * A handler whose whole effect is written through the transaction it is given.
 * The scheduler runs such jobs a group at a time in one transaction that also
 * deletes their rows: a job's effect and its completion commit together or not
 * at all (exactly once, even when its node dies or its lease runs out), and a
 * group pays one commit instead of one per job. A group that fails runs again
 * job by job, so a handler may run more than once before it commits: it must
 * do nothing outside `q`.
 */
export interface TxJobHandler {
  inTx: (job: Job, q: Queryable) => Promise<void>;
}

/** Batches one runDue claims at most. */
export const MAX_DUE_ROUNDS = 50;

export interface SchedulerOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  handlers: Record<string, JobHandler | TxJobHandler>;
  /** How long a claimed job is this node's before another may take it over. */
  leaseMs?: number;
  /** Longest sleep with nothing due: bounds how late a job scheduled by a node that died is noticed. */
  maxIdleMs?: number;
  batch?: number;
  /** Handlers that commit their own effect running at once. */
  concurrency?: number;
  /**
   * Transactions at once for transaction handlers, sharing out each claimed
   * batch (default: 4, at most `concurrency`). Fewer transactions side by side
   * make larger groups, each one commit: 10,000 jobs due at one instant on two
   * nodes drained in 1.46-2.23 s (median 1.8) with 4, 1.98-2.43 s (median 2.16)
   * with 8, three runs each alternating (bench:scheduler).
   */
  groups?: number;
  /** Attempts before a job is given up (kept in the table with dead_at set). */
  maxAttempts?: (kind: string) => number;
  /** Told how each attempt ended (metrics): done (committed), failed with a retry ahead, or failed for good. */
  onOutcome?: (job: Job, outcome: JobOutcome) => void;
}

export type JobOutcome = 'done' | 'retry' | 'failed';

/** Jobs claimed together, and when their lease runs out (ms). */
interface Claimed {
  jobs: Job[];
  until: number;
}

/** A job's row was no longer this node's when its group came to delete it: the group rolls back. */
class LeaseLost extends Error {}

/**
 * Runs the durable jobs. Each node claims due jobs with FOR UPDATE SKIP LOCKED
 * under a lease, so across nodes a job runs once, and one whose node died runs
 * again after its lease. Between jobs it sleeps until the next one is due (no
 * polling while idle); `wake()` cuts the sleep short when a job is added.
 */
export class Scheduler {
  readonly nodeId = `node-${randomUUID().slice(0, 8)}`;
  readonly #o: Required<Omit<SchedulerOptions, 'maxAttempts' | 'onOutcome'>> &
    Pick<SchedulerOptions, 'maxAttempts' | 'onOutcome'>;
  readonly #jobs: JobStore;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #started = false;
  #again = false;

  constructor(o: SchedulerOptions) {
    const concurrency = o.concurrency ?? 8;
    this.#o = {
      leaseMs: 30_000,
      maxIdleMs: 30_000,
      batch: 100,
      groups: Math.min(4, concurrency),
      ...o,
      concurrency,
    };
    this.#jobs = new JobStore(o.db);
  }

  start(): void {
    this.#started = true;
    this.wake();
  }

  async stop(): Promise<void> {
    this.#started = false;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** Re-reads the job table soon: a job was added or moved. */
  wake(): void {
    if (!this.#started) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
    });
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        await this.runDue();
      } while (this.#again && this.#started);
      if (!this.#started) return;
      const next = await this.#jobs.nextDue();
      const now = this.#o.clock.now().getTime();
      const delay = next ? Math.min(Math.max(next.getTime() - now, 0), this.#o.maxIdleMs) : this.#o.maxIdleMs;
      this.#timer = setTimeout(() => this.wake(), delay);
      this.#timer.unref();
    } catch (e) {
      this.#o.log.error({ err: e }, 'scheduler loop failed; retrying');
      this.#timer = setTimeout(() => this.wake(), 1000);
      this.#timer.unref();
    }
  }

  /**
   * Claims and runs the jobs due now, at most MAX_DUE_ROUNDS batches of them;
   * returns how many ran. Tests call this after moving the clock. The loop
   * goes on with what is left after a turn of the event loop (the next job is
   * due now), so handlers that keep adding due jobs cannot hold one call forever.
   */
  async runDue(): Promise<number> {
    let total = 0;
    let ahead: Promise<Claimed> | undefined;
    try {
      for (let round = 0; round < MAX_DUE_ROUNDS; round++) {
        let claimed = ahead ? await ahead : undefined;
        ahead = undefined;
        // Claimed while the previous batch ran, it may have missed what that batch added.
        if (!claimed?.jobs.length) claimed = await this.#claim();
        const { jobs, until } = claimed;
        if (jobs.length === 0) return total;
        // A full batch: more is likely due, so the next claim runs beside this batch
        // instead of after it (in a burst the claim was a third of each round).
        if (jobs.length === this.#o.batch && round + 1 < MAX_DUE_ROUNDS) ahead = this.#claim();
        // A job still waiting when the batch's lease runs out is not started: another
        // node may claim it now, and a handler that commits its own effect would run twice.
        const leased = () => this.#o.clock.now().getTime() < until;
        const inTx: Job[] = [];
        const own: Job[] = [];
        for (const job of jobs) (typeof this.#o.handlers[job.kind] === 'object' ? inTx : own).push(job);
        const ran = await Promise.all([this.#runGroups(inTx, leased), this.#runEach(own, leased)]);
        total += ran[0] + ran[1];
        if (jobs.length < this.#o.batch) return total;
      }
      return total;
    } finally {
      // A batch that threw leaves the jobs claimed ahead to their lease, as a node that died would.
      ahead?.catch(() => {});
    }
  }

  async #claim(): Promise<Claimed> {
    const now = this.#o.clock.now();
    const jobs = await this.#jobs.claim(this.nodeId, now, this.#o.leaseMs, this.#o.batch);
    return { jobs, until: now.getTime() + this.#o.leaseMs };
  }

  /**
   * Transaction-handled jobs: up to `concurrency` transactions side by side,
   * each taking the batch's next job as soon as its previous one is written, so
   * a slow transaction takes fewer (with a fixed split, the batch waited for
   * its slowest group).
   */
  async #runGroups(jobs: Job[], leased: () => boolean): Promise<number> {
    let i = 0;
    const take = () => (i < jobs.length && leased() ? jobs[i++] : undefined);
    const worker = async () => {
      while (i < jobs.length && leased()) await this.#runGroup(take);
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.groups, jobs.length) }, worker));
    return i;
  }

  /** One transaction: the effect of each job it takes, then the deletion of all their rows, or none of it. */
  async #runGroup(take: () => Job | undefined): Promise<void> {
    const first = take();
    if (!first) return;
    const group = [first];
    try {
      await this.#o.db.tx(async (q) => {
        for (let job: Job | undefined = first; job; job = take()) {
          if (job !== first) group.push(job);
          await (this.#o.handlers[job.kind] as TxJobHandler).inTx(job, q);
        }
        const removed = await new JobStore(q).complete(
          group.map((j) => j.id),
          this.nodeId,
        );
        if (removed.length < group.length) throw new LeaseLost();
      });
    } catch (e) {
      // Nothing of the group committed: each job runs again on its own, so a
      // failing job (or one whose lease ran out) is retried or dropped alone.
      if (group.length > 1) for (const one of group) await this.#runGroup(once(one));
      else if (e instanceof LeaseLost)
        this.#o.log.warn(
          { jobId: first.id, kind: first.kind },
          'job lease ran out and another node took it: this run rolled back',
        );
      else await this.#failed(first, e);
      return;
    }
    for (const job of group) this.#o.onOutcome?.(job, 'done');
  }

  /**
   * Jobs whose handlers commit their own effect, `concurrency` at a time. Their
   * rows are deleted as they finish, a group per statement: whatever finished
   * while the previous deletion was in flight goes in the next one.
   */
  async #runEach(jobs: Job[], leased: () => boolean): Promise<number> {
    if (jobs.length === 0) return 0;
    const done: Job[] = [];
    let flushing: Promise<void> | undefined;
    let flushError: unknown;
    const flush = async () => {
      while (done.length) {
        const finished = done.splice(0);
        await this.#jobs.complete(
          finished.map((j) => j.id),
          this.nodeId,
        );
        for (const j of finished) this.#o.onOutcome?.(j, 'done');
      }
    };
    const kick = () => {
      // A failed deletion leaves the rows under their lease (they run again
      // after it, as if this node had died); runDue reports it at the end.
      flushing ??= flush()
        .catch((e: unknown) => {
          flushError ??= e;
        })
        .finally(() => {
          flushing = undefined;
        });
    };
    let i = 0;
    const worker = async () => {
      while (i < jobs.length && leased()) {
        const job = jobs[i++]!;
        if (await this.#attempt(job)) {
          done.push(job);
          kick();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, jobs.length) }, worker));
    await flushing;
    if (flushError === undefined) await flush();
    if (flushError !== undefined) throw flushError;
    return i;
  }

  /** Runs a self-committing handler; false (and the failure recorded) if it threw. */
  async #attempt(job: Job): Promise<boolean> {
    const handler = this.#o.handlers[job.kind];
    try {
      if (typeof handler !== 'function') throw new Error(`no handler for job kind ${job.kind}`);
      await handler(job);
      return true;
    } catch (e) {
      await this.#failed(job, e);
      return false;
    }
  }

  async #failed(job: Job, e: unknown): Promise<void> {
    const now = this.#o.clock.now();
    const max = this.#o.maxAttempts?.(job.kind) ?? 5;
    const retryAt = job.attempts >= max ? null : new Date(now.getTime() + backoffMs(job.attempts));
    const err = (e as Error).message ?? String(e);
    if (retryAt) {
      this.#o.log.warn({ jobId: job.id, kind: job.kind, attempts: job.attempts, err }, 'job failed');
    } else {
      // Kept in the table: GET /v1/admin/jobs/failed lists it, POST …/retry runs it again.
      this.#o.log.error(
        { jobId: job.id, kind: job.kind, attempts: job.attempts, err },
        'job failed for good after its last attempt',
      );
    }
    await this.#jobs.fail(job.id, this.nodeId, err, retryAt, now);
    this.#o.onOutcome?.(job, retryAt ? 'retry' : 'failed');
  }
}

/** Hands out one job, then nothing. */
function once(job: Job): () => Job | undefined {
  let left: Job | undefined = job;
  return () => {
    const j = left;
    left = undefined;
    return j;
  };
}

/** 1 s, 2 s, 4 s … capped at an hour. */
export const backoffMs = (attempts: number): number =>
  Math.min(1000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

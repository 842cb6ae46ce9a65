import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/db.ts';
import { type Job, JobStore } from '../store/jobs.ts';

export type JobHandler = (job: Job) => Promise<void>;

/** Batches one runDue claims at most. */
export const MAX_DUE_ROUNDS = 50;

export interface SchedulerOptions {
  db: Db;
  clock: Clock;
  log: Logger;
  handlers: Record<string, JobHandler>;
  /** How long a claimed job is this node's before another may take it over. */
  leaseMs?: number;
  /** Longest sleep with nothing due: bounds how late a job scheduled by a node that died is noticed. */
  maxIdleMs?: number;
  batch?: number;
  concurrency?: number;
  /** Attempts before a job is given up (kept in the table with dead_at set). */
  maxAttempts?: (kind: string) => number;
  /** Told how each attempt ended (metrics): done, failed with a retry ahead, or failed for good. */
  onOutcome?: (job: Job, outcome: JobOutcome) => void;
}

export type JobOutcome = 'done' | 'retry' | 'failed';

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
    this.#o = { leaseMs: 30_000, maxIdleMs: 30_000, batch: 100, concurrency: 8, ...o };
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
    for (let round = 0; round < MAX_DUE_ROUNDS; round++) {
      const claimed = await this.#jobs.claim(
        this.nodeId,
        this.#o.clock.now(),
        this.#o.leaseMs,
        this.#o.batch,
      );
      if (claimed.length === 0) return total;
      total += claimed.length;
      let i = 0;
      const worker = async () => {
        while (i < claimed.length) await this.#run(claimed[i++]!);
      };
      await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, claimed.length) }, worker));
      if (claimed.length < this.#o.batch) return total;
    }
    return total;
  }

  async #run(job: Job): Promise<void> {
    const handler = this.#o.handlers[job.kind];
    const now = () => this.#o.clock.now();
    try {
      if (!handler) throw new Error(`no handler for job kind ${job.kind}`);
      await handler(job);
    } catch (e) {
      const max = this.#o.maxAttempts?.(job.kind) ?? 5;
      const retryAt = job.attempts >= max ? null : new Date(now().getTime() + backoffMs(job.attempts));
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
      await this.#jobs.fail(job.id, this.nodeId, err, retryAt, now());
      this.#o.onOutcome?.(job, retryAt ? 'retry' : 'failed');
      return;
    }
    await this.#jobs.complete(job.id, this.nodeId);
    this.#o.onOutcome?.(job, 'done');
  }
}

/** 1 s, 2 s, 4 s … capped at an hour. */
export const backoffMs = (attempts: number): number =>
  Math.min(1000 * 2 ** Math.max(0, attempts - 1), 3_600_000);

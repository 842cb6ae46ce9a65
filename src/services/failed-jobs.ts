import type { Clock } from '../clock.ts';
import { AppError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { type FailedJob, JobStore } from '../store/jobs.ts';
import { readCursor, writeCursor } from './cursor.ts';

const DEFAULT_PAGE = 100;

/** A failed job as the admin routes show it: what it was, how often it ran, why it last failed. */
const view = (j: FailedJob) => ({
  id: j.id,
  kind: j.kind,
  attempts: j.attempts,
  lastError: j.lastError,
  failedAt: j.failedAt.toISOString(),
  createdAt: j.createdAt.toISOString(),
});

/**
 * Jobs that used up their attempts stay in the job table; an operator lists
 * them and runs one again. A webhook delivery is such a job, so redelivering
 * an event is a retry of its job: same payload, same event id.
 */
export class FailedJobs {
  readonly #d: { db: Db; clock: Clock; wakeScheduler: () => void };
  constructor(d: { db: Db; clock: Clock; wakeScheduler: () => void }) {
    this.#d = d;
  }

  async list(q: { cursor?: string | undefined; limit?: number | undefined }) {
    const after = q.cursor === undefined ? undefined : readCursor(q.cursor);
    const limit = q.limit ?? DEFAULT_PAGE;
    const rows = await new JobStore(this.#d.db).failed(after, limit + 1);
    const jobs = rows.slice(0, limit);
    if (rows.length <= limit) return { jobs: jobs.map(view), hasMore: false };
    const last = jobs.at(-1)!;
    return { jobs: jobs.map(view), hasMore: true, next: writeCursor(last.failedAt.toISOString(), last.id) };
  }

  /** Runs a failed job again now, with a fresh set of attempts. */
  async retry(id: string) {
    const now = this.#d.clock.now();
    const job = await new JobStore(this.#d.db).retry(id, now);
    if (!job) throw new AppError('not_found', `no failed job ${id}`);
    this.#d.wakeScheduler();
    return { job: { id: job.id, kind: job.kind, runAt: job.runAt.toISOString() } };
  }
}

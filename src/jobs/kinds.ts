import type { Queryable } from '../store/db.ts';
import { type Job, JobStore, WEBHOOK_DELIVER, type WebhookEvent, webhookJob } from '../store/jobs.ts';
import type { RekeyCursor } from '../store/rekey.ts';

/**
 * Every kind of durable job and its payload: the one list that scheduling
 * (JobQueue.add) and the handlers (JobHandlers) are typed by, so a job kind
 * nobody handles, or a payload its handler does not expect, is a compile error.
 */
export interface JobPayloads {
  'booking.confirm_deadline': { bookingId: string };
  'booking.reminder': { bookingId: string; offsetMs: number };
  'booking.no_show_check': { bookingId: string };
  'booking.session_end': { bookingId: string };
  'booking.messaging_start': { bookingId: string };
  'booking.messaging_end': { bookingId: string };
  'billing.rollover': { clientId: string };
  [WEBHOOK_DELIVER]: { event: WebhookEvent };
  'privacy.rekey': { pass: string; step: number; cursor: RekeyCursor };
  'privacy.retention': Record<string, never>;
}

export type JobKind = keyof JobPayloads;

/** A claimed job of one kind, its payload as that kind's. */
export interface TypedJob<K extends JobKind> extends Omit<Job, 'kind' | 'payload'> {
  kind: K;
  payload: JobPayloads[K];
}

export type JobHandlers = { [K in JobKind]: (job: TypedJob<K>) => Promise<void> };

/** Attempts before a job is given up: a receiver may be down for a while, so webhooks try longer. */
export const maxAttempts = (kind: string): number => (kind === WEBHOOK_DELIVER ? 12 : 5);

/**
 * The handlers as the scheduler holds them (by the kind a row names). The one
 * place a stored payload is taken as its kind's: only JobQueue.add writes it.
 */
export const byKind = (h: JobHandlers): Record<string, (job: Job) => Promise<void>> =>
  h as unknown as Record<string, (job: Job) => Promise<void>>;

/** Scheduling inside a transaction (or on the database), typed by kind; `added` hears of each job added. */
export class JobQueue {
  readonly #store: JobStore;
  readonly #added: () => void;
  constructor(q: Queryable, added: () => void = () => {}) {
    this.#store = new JobStore(q);
    this.#added = added;
  }

  /** Adds a job; one with that id already there is kept (scheduling is idempotent by id). */
  async add<K extends JobKind>(id: string, kind: K, runAt: Date, payload: JobPayloads[K], now: Date) {
    await this.#store.schedule(id, kind, runAt, payload, now);
    this.#added();
  }

  /** Queues a webhook in the envelope every event goes out in. Payloads carry ids, never message text. */
  async webhook(type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    const { jobId, kind, event } = webhookJob(type, data, now);
    await this.add(jobId, kind, now, { event }, now);
  }

  cancel(ids: readonly string[]): Promise<void> {
    return this.#store.cancel(ids);
  }

  cancelByPrefix(prefix: string): Promise<void> {
    return this.#store.cancelByPrefix(prefix);
  }
}

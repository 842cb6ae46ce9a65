import type { Clock } from '../clock.ts';
import { JobQueue } from '../jobs/kinds.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/db.ts';
import { ErasureStore } from '../store/erasure.ts';

const HOUR = 3_600_000;
/** Messages per transaction; a run goes on until none are left. */
const BATCH = 500;

/** The job of one hourly slot: every node names it alike, so a slot has one job however many nodes schedule it. */
const slotId = (at: Date) => `retention:${new Date(Math.floor(at.getTime() / HOUR) * HOUR).toISOString()}`;

/**
 * RETENTION_THERAPY / RETENTION_SUPPORT: once an hour, a scheduler job (one
 * node runs it) turns messages older than the setting into tombstones and
 * deletes the recordings they carried, skipping rooms of anyone on legal
 * hold. Each run schedules the next slot's.
 */
export interface RetentionDeps {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  retention: { therapyMs: number | undefined; supportMs: number | undefined };
}

export class Retention {
  readonly #d: RetentionDeps;
  constructor(d: RetentionDeps) {
    this.#d = d;
  }

  get enabled(): boolean {
    const r = this.#d.retention;
    return r.therapyMs !== undefined || r.supportMs !== undefined;
  }

  /** At start: this slot's run, if retention is set (a no-op when another node scheduled it). */
  async schedule(): Promise<void> {
    if (!this.enabled) return;
    const now = this.#d.clock.now();
    await new JobQueue(this.#d.db).add(slotId(now), 'privacy.retention', now, {}, now);
  }

  readonly run = async (): Promise<void> => {
    const now = this.#d.clock.now();
    const total = { messages: 0, recordings: 0 };
    for (const [kind, ms] of [
      ['therapy', this.#d.retention.therapyMs],
      ['support', this.#d.retention.supportMs],
    ] as const) {
      if (ms === undefined) continue;
      const before = new Date(now.getTime() - ms);
      for (;;) {
        const r = await this.#d.db.tx((q) => new ErasureStore(q).expire(kind, before, BATCH));
        total.messages += r.messages;
        total.recordings += r.recordings;
        // Counted as each batch commits.
        this.#d.metrics.retentionRemoved.inc({ what: 'messages' }, r.messages);
        this.#d.metrics.retentionRemoved.inc({ what: 'recordings' }, r.recordings);
        if (r.messages < BATCH) break;
      }
    }
    if (total.messages) this.#d.log.info(total, 'retention removed old content');
    if (this.enabled) {
      const next = new Date(now.getTime() + HOUR);
      const at = new Date(Math.floor(next.getTime() / HOUR) * HOUR);
      await new JobQueue(this.#d.db).add(slotId(next), 'privacy.retention', at, {}, now);
    }
  };
}

import type { Clock } from '../src/clock.ts';
import type { Config } from '../src/config.ts';
import { byKind, type JobHandlers, maxAttempts } from '../src/jobs/kinds.ts';
import { Scheduler } from '../src/jobs/scheduler.ts';
import type { Logger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import type { Db } from '../src/store/db.ts';
import { WEBHOOK_DELIVER } from '../src/store/jobs.ts';

/** The durable-job scheduler with a handler for every job kind (a kind left out does not compile), counted in metrics. */
export function createScheduler(o: {
  db: Db;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  config: Config;
  handlers: JobHandlers;
}): Scheduler {
  const { metrics } = o;
  return new Scheduler({
    db: o.db,
    clock: o.clock,
    log: o.log,
    leaseMs: o.config.scheduler.leaseMs,
    maxIdleMs: o.config.scheduler.maxIdleMs,
    handlers: byKind(o.handlers),
    maxAttempts,
    onOutcome: (job, outcome) => {
      if (outcome === 'failed') metrics.jobsFailed.inc({ kind: job.kind });
      if (job.kind === WEBHOOK_DELIVER) {
        metrics.webhookDeliveries.inc({
          outcome: outcome === 'done' ? 'delivered' : outcome === 'retry' ? 'retried' : 'failed',
        });
      }
    },
  });
}

import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { byKind, type JobHandlers, maxAttempts } from '../jobs/kinds.ts';
import { Scheduler } from '../jobs/scheduler.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Db } from '../store/db.ts';
import { WEBHOOK_DELIVER } from '../store/jobs.ts';

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

import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Store } from '../store/index.ts';
import type { MessagingSessionGate, RoomEvents } from './ports.ts';
import type { DomainEvent } from './unit-of-work.ts';

/** Services take one object of dependencies, assembled once in the composition root, server/ (or by a test). */
export interface ServiceDeps {
  store: Store;
  clock: Clock;
  log: Logger;
  events: RoomEvents;
  gate: MessagingSessionGate;
  config: Config;
  metrics: Metrics;
  /** Tells the scheduler (on every node) that jobs were added. */
  wakeScheduler: () => void;
  /** Tells the subscribers (wired in the composition root) what a committed change did. */
  publish: (...events: DomainEvent[]) => void;
}

import type { SchedulerWake } from '../jobs/wake.ts';
import type { Logger } from '../log.ts';
import type { RedisConnections } from './redis.ts';

/**
 * The scheduler wake-up over Redis pub/sub: other nodes sleep until their
 * next known job, so a node that adds one tells them on `<prefix>:jobs`. A
 * lost message costs only latency: every scheduler looks again within
 * SCHEDULER_MAX_IDLE anyway.
 */
export class RedisSchedulerWake implements SchedulerWake {
  readonly #redis: Pick<RedisConnections, 'pub' | 'sub'>;
  readonly #channel: string;
  readonly #log: Logger;
  readonly #listeners: Array<() => void> = [];

  constructor(o: { redis: Pick<RedisConnections, 'pub' | 'sub'>; prefix: string; log: Logger }) {
    this.#redis = o.redis;
    this.#channel = `${o.prefix}:jobs`;
    this.#log = o.log;
  }

  async start(): Promise<this> {
    await this.#redis.sub.subscribe(this.#channel, () => this.#wake());
    return this;
  }

  notify(): void {
    this.#wake();
    this.#redis.pub.publish(this.#channel, '1').catch((e: Error) => {
      this.#log.debug({ err: e.message }, 'scheduler wake-up not published');
    });
  }

  onWake(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** Stops waking; the connections are closed with the node's others (an unsubscribe could wait out an outage). */
  async close(): Promise<void> {
    this.#listeners.length = 0;
  }

  #wake(): void {
    for (const fn of this.#listeners) fn();
  }
}

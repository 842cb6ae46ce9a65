import type { Logger } from '../log.ts';
import type { NodeLiveness } from '../services/liveness.ts';
import type { RedisConnections } from './redis.ts';

export interface RedisNodeLivenessOptions {
  redis: Pick<RedisConnections, 'pub'>;
  prefix: string;
  nodeId: string;
  log: Logger;
  /** How long a heartbeat lasts without renewal (default 10 s); renewed every third of that. */
  ttlMs?: number;
}

/**
 * Node liveness over Redis: each node keeps a heartbeat key
 * (`<prefix>:node:<nodeId>`) with an expiry it renews, so a node that dies
 * disappears once its key expires. While Redis cannot be asked, every node
 * counts as alive (the stored presence flags are all there is to go on).
 */
export class RedisNodeLiveness implements NodeLiveness {
  readonly nodeId: string;
  readonly #pub: RedisConnections['pub'];
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: RedisNodeLivenessOptions) {
    this.nodeId = o.nodeId;
    this.#pub = o.redis.pub;
    this.#prefix = o.prefix;
    this.#log = o.log;
    this.#ttlMs = o.ttlMs ?? 10_000;
  }

  async start(): Promise<this> {
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat(), Math.max(Math.floor(this.#ttlMs / 3), 50));
    this.#timer.unref();
    return this;
  }

  async alive(nodeIds: readonly string[]): Promise<Set<string>> {
    const others = [...new Set(nodeIds.filter((id) => id !== this.nodeId))];
    const out = new Set(nodeIds.filter((id) => id === this.nodeId));
    if (!others.length) return out;
    try {
      const beats = await this.#pub.mGet(others.map((id) => this.key(id)));
      others.forEach((id, i) => {
        if (beats[i] !== null && beats[i] !== undefined) out.add(id);
      });
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'could not check node liveness; counting nodes as alive');
      for (const id of others) out.add(id);
    }
    return out;
  }

  /** Stops the heartbeat and removes it: the other nodes see this one gone at once. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#pub.del(this.key(this.nodeId)).catch(() => {});
  }

  key(nodeId: string): string {
    return `${this.#prefix}:node:${nodeId}`;
  }

  async #beat(): Promise<void> {
    try {
      await this.#pub.set(this.key(this.nodeId), String(Date.now()), { PX: this.#ttlMs });
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'node heartbeat failed');
    }
  }
}

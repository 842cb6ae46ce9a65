import type { Logger } from '../log.ts';
import type { NodeLiveness } from '../services/liveness.ts';
import { type PresenceStore, SocketCounts } from '../services/presence.ts';
import type { RedisConnections } from './redis.ts';

export interface RedisPresenceOptions {
  redis: Pick<RedisConnections, 'pub'>;
  prefix: string;
  nodeId: string;
  liveness: NodeLiveness;
  log: Logger;
  /** How long a node's counts last in Redis without renewal: the node heartbeat's TTL (default 10 s). */
  ttlMs?: number;
}

/**
 * Presence over Redis. Each node keeps its socket counts in a hash of its own,
 * `<prefix>:online:<nodeId>` (userId → sockets), whose expiry it renews on the
 * heartbeat's period and TTL; the node ids are kept in the set
 * `<prefix>:nodes`. `online` is the union of the hashes of the nodes whose
 * heartbeat is alive, so a node that dies stops counting at once when its
 * heartbeat lapses, and its hash expires with it: no ghosts.
 *
 * This node's counts are kept in memory and are the source of truth: Redis
 * gets the absolute count (HSET, HDEL at 0), so a write lost to a Redis outage
 * is repaired by rewriting the whole hash on the next renewal, and an expired
 * hash (Redis restarted, or the node stalled past the TTL) is rewritten too.
 * While Redis cannot be asked, `online` answers for this node's sockets only.
 */
export class RedisPresence implements PresenceStore {
  readonly #pub: RedisConnections['pub'];
  readonly #prefix: string;
  readonly #nodeId: string;
  readonly #liveness: NodeLiveness;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #counts = new SocketCounts();
  /** A write failed: Redis no longer matches #counts until the hash is rewritten. */
  #dirty = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: RedisPresenceOptions) {
    this.#pub = o.redis.pub;
    this.#prefix = o.prefix;
    this.#nodeId = o.nodeId;
    this.#liveness = o.liveness;
    this.#log = o.log;
    this.#ttlMs = o.ttlMs ?? 10_000;
  }

  async start(): Promise<this> {
    await this.#renew();
    this.#timer = setInterval(() => void this.#renew(), Math.max(Math.floor(this.#ttlMs / 3), 50));
    this.#timer.unref();
    return this;
  }

  async connected(userId: string): Promise<boolean> {
    const first = this.#counts.add(userId);
    await this.#write(userId);
    return first;
  }

  async disconnected(userId: string): Promise<boolean> {
    const last = this.#counts.remove(userId);
    await this.#write(userId);
    return last;
  }

  async online(userIds: readonly string[]): Promise<Set<string>> {
    const out = new Set(userIds.filter((id) => this.#counts.has(id)));
    const rest = [...new Set(userIds.filter((id) => !out.has(id)))];
    if (!rest.length) return out;
    try {
      const nodes = (await this.#pub.sMembers(this.nodesKey())).filter((id) => id !== this.#nodeId);
      if (!nodes.length) return out;
      const live = await this.#liveness.alive(nodes);
      const dead = nodes.filter((id) => !live.has(id));
      if (dead.length) this.#pub.sRem(this.nodesKey(), dead).catch(() => {});
      const answers = await Promise.all([...live].map((id) => this.#pub.hmGet(this.key(id), rest)));
      for (const counts of answers) {
        counts.forEach((n, i) => {
          if (n !== null && Number(n) > 0) out.add(rest[i]!);
        });
      }
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'could not read presence; answering for this node only');
    }
    return out;
  }

  /** Removes this node's counts: the other nodes see its users gone at once. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#pub
      .multi()
      .del(this.key(this.#nodeId))
      .sRem(this.nodesKey(), this.#nodeId)
      .exec()
      .catch(() => {});
  }

  key(nodeId: string): string {
    return `${this.#prefix}:online:${nodeId}`;
  }

  nodesKey(): string {
    return `${this.#prefix}:nodes`;
  }

  async #write(userId: string): Promise<void> {
    if (this.#closed) return;
    const key = this.key(this.#nodeId);
    const n = this.#counts.get(userId);
    try {
      if (n > 0) await this.#pub.multi().hSet(key, userId, n).pExpire(key, this.#ttlMs).exec();
      else await this.#pub.hDel(key, userId);
    } catch (e) {
      this.#dirty = true;
      this.#log.warn({ err: (e as Error).message, userId }, 'could not record presence; retrying on renewal');
    }
  }

  /** Renews the hash's expiry (on the heartbeat's period), rewriting it when Redis lost track. */
  async #renew(): Promise<void> {
    if (this.#closed) return;
    const key = this.key(this.#nodeId);
    try {
      await this.#pub.sAdd(this.nodesKey(), this.#nodeId);
      const renewed = await this.#pub.pExpire(key, this.#ttlMs);
      // Taken now, in step with the writes queued on the same connection after it.
      const entries = this.#counts.entries();
      if (!this.#dirty && (renewed || !entries.length)) return;
      this.#dirty = false;
      const tx = this.#pub.multi().del(key);
      if (entries.length) tx.hSet(key, Object.fromEntries(entries)).pExpire(key, this.#ttlMs);
      await tx.exec();
    } catch (e) {
      this.#dirty = true;
      this.#log.warn({ err: (e as Error).message }, 'could not renew presence');
    }
  }
}

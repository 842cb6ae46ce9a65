import type { RedisConnections } from '../redis.ts';

/** Refreshes the key's expiry only while it still names this node. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Takes the key over only while it still names the (dead) node it named. */
const TAKE_OVER = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end`;
/** Deletes the key only while it still names this node. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface PlacementOptions {
  redis: Pick<RedisConnections, 'pub'>;
  prefix: string;
  nodeId: string;
  /** How long a placement lasts without renewal. */
  ttlMs: number;
}

/**
 * Where each live session's router lives: a Redis key per session
 * (`<prefix>:live:<sessionId>`) naming the node, with an expiry that node
 * renews while the session is open. Every change a node makes to a key that
 * another node may hold is conditional on what the key names (Lua scripts),
 * so two nodes never both believe they hold one session for long.
 */
export class Placements {
  readonly nodeId: string;
  readonly #pub: RedisConnections['pub'];
  readonly #prefix: string;
  readonly #ttlMs: number;
  /** Sessions this node placed on itself. */
  readonly #held = new Set<string>();

  constructor(o: PlacementOptions) {
    this.nodeId = o.nodeId;
    this.#pub = o.redis.pub;
    this.#prefix = o.prefix;
    this.#ttlMs = o.ttlMs;
  }

  /** The sessions this node holds (to renew). */
  held(): string[] {
    return [...this.#held];
  }

  async owner(sessionId: string): Promise<string | undefined> {
    const v = await this.#pub.get(this.#key(sessionId));
    return typeof v === 'string' ? v : undefined;
  }

  /** Places a session nobody holds here; false if another node placed it first. */
  async claim(sessionId: string): Promise<boolean> {
    const set = await this.#pub.set(this.#key(sessionId), this.nodeId, { NX: true, PX: this.#ttlMs });
    if (set !== 'OK') return false;
    this.#held.add(sessionId);
    return true;
  }

  /** Holds (or keeps holding) a session whose router is open here. */
  async hold(sessionId: string): Promise<void> {
    await this.#pub.set(this.#key(sessionId), this.nodeId, { PX: this.#ttlMs });
    this.#held.add(sessionId);
  }

  /** Takes a session over from a dead node; false if the key no longer names it (another node was quicker). */
  async takeOver(sessionId: string, deadOwner: string): Promise<boolean> {
    const taken = await this.#pub.eval(TAKE_OVER, {
      keys: [this.#key(sessionId)],
      arguments: [deadOwner, this.nodeId, String(this.#ttlMs)],
    });
    if (Number(taken) !== 1) return false;
    this.#held.add(sessionId);
    return true;
  }

  /** Extends the placement; false if the key names another node now (this node was cut off past the expiry). */
  async renew(sessionId: string): Promise<boolean> {
    const renewed = await this.#pub.eval(RENEW, {
      keys: [this.#key(sessionId)],
      arguments: [this.nodeId, String(this.#ttlMs)],
    });
    if (Number(renewed) === 1) return true;
    this.#held.delete(sessionId);
    return false;
  }

  /** Gives the session up, so the next join places it anew (wherever). */
  async release(sessionId: string): Promise<void> {
    this.#held.delete(sessionId);
    await this.#pub.eval(RELEASE, { keys: [this.#key(sessionId)], arguments: [this.nodeId] });
  }

  #key(sessionId: string): string {
    return `${this.#prefix}:live:${sessionId}`;
  }
}

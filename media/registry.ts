import { peerLimits } from './config.ts';
import { MediaError } from './errors.ts';
import { label } from './validate.ts';

/**
 * One kind of entity of a session (transports, producers, consumers), keyed by
 * mediasoup id, each entry naming the peer that owns it. The session removes
 * an entry on the entity's observer 'close', which mediasoup emits on every
 * path (own close, transport closed, producer gone, router closed).
 */
export class Registry<T extends { peerId: string }> {
  readonly #what: keyof typeof peerLimits;
  readonly #entries = new Map<string, T>();

  constructor(what: keyof typeof peerLimits) {
    this.#what = what;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(id: string): T | undefined {
    return this.#entries.get(id);
  }

  set(id: string, entry: T): void {
    this.#entries.set(id, entry);
  }

  delete(id: string): void {
    this.#entries.delete(id);
  }

  clear(): void {
    this.#entries.clear();
  }

  entries(): [string, T][] {
    return [...this.#entries];
  }

  values(): T[] {
    return [...this.#entries.values()];
  }

  /** The entry `id`, if it is the peer's: not_found, then forbidden (ids from clients can be anything). */
  own(peerId: string, id: unknown): T {
    const what = this.#what.slice(0, -1);
    const entry = typeof id === 'string' ? this.#entries.get(id) : undefined;
    if (!entry) throw new MediaError('not_found', `${what} ${label(id)} not found`);
    if (entry.peerId !== peerId)
      throw new MediaError('forbidden', `${what} ${label(id)} belongs to another peer`);
    return entry;
  }

  // The count is checked before the await that creates the entity, so
  // concurrent requests can pass it together; signaling's rate limits bound
  // that, and the limit is a ceiling against abuse, not an exact quota.
  checkLimit(peerId: string): void {
    let count = 0;
    for (const entry of this.#entries.values()) if (entry.peerId === peerId) count += 1;
    const limit = peerLimits[this.#what];
    if (count >= limit) throw new MediaError('forbidden', `limit: a peer has at most ${limit} ${this.#what}`);
  }
}

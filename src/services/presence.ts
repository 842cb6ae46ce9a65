/**
 * Which users have a socket open. Each node counts its own sockets per user;
 * `online` answers for the whole cluster. A cluster implements it over Redis
 * (cluster/presence.ts), where a node's counts expire with its heartbeat, so a
 * node that dies leaves no ghosts. None of these throw: presence is a hint,
 * and losing it must never break a connection or a room list.
 */
export interface PresenceStore {
  /** A socket of the user opened on this node; true when it is the user's first one on this node. */
  connected(userId: string): Promise<boolean>;
  /** A socket of the user closed on this node; true when it was the user's last one on this node. */
  disconnected(userId: string): Promise<boolean>;
  /** The ones of userIds with a socket open on any live node. */
  online(userIds: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

/** Socket counts per user on one node (what every implementation keeps for its own node). */
export class SocketCounts {
  readonly #counts = new Map<string, number>();

  /** Adds one; true when it is the first. */
  add(userId: string): boolean {
    const n = (this.#counts.get(userId) ?? 0) + 1;
    this.#counts.set(userId, n);
    return n === 1;
  }

  /** Removes one; true when it was the last. */
  remove(userId: string): boolean {
    const n = (this.#counts.get(userId) ?? 0) - 1;
    if (n > 0) {
      this.#counts.set(userId, n);
      return false;
    }
    return this.#counts.delete(userId);
  }

  get(userId: string): number {
    return this.#counts.get(userId) ?? 0;
  }

  has(userId: string): boolean {
    return this.#counts.has(userId);
  }

  entries(): [string, number][] {
    return [...this.#counts];
  }
}

/** One node on its own (no Redis): its sockets are all there is. */
export function localPresence(): PresenceStore {
  const counts = new SocketCounts();
  return {
    connected: async (userId) => counts.add(userId),
    disconnected: async (userId) => counts.remove(userId),
    online: async (userIds) => new Set(userIds.filter((id) => counts.has(id))),
    close: async () => {},
  };
}

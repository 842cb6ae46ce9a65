// setTimeout fires at once for delays above 2^31-1 ms; a later instant is re-armed for.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Instants at which things run out — the sockets' tokens — on one timer.
 *
 * A timer per socket cost every idle socket a Timeout, its closure and, since
 * no two sockets wait the same number of milliseconds, a timer list of its own
 * in Node's timer queue. Here the things due at the same instant (a JWT's `exp`
 * is in whole seconds, so sockets whose tokens were minted in the same second
 * share one) are one set, and one timer is armed for the earliest instant.
 * When it fires, every instant that has come is handed to `expire`, and it is
 * armed again for the earliest left: a look at each pending instant, at most
 * once per instant that passes.
 *
 * `now` is the caller's clock (tests move it); the timer waits in real time for
 * the difference, so a clock moved back makes it fire early, find nothing due
 * and re-arm, and a clock moved ahead is seen when it fires.
 */
export class Expiries<T> {
  readonly #due = new Map<number, Set<T>>();
  readonly #now: () => number;
  readonly #expire: (item: T) => void;
  #timer: NodeJS.Timeout | undefined;
  /** The instant the timer is armed for; Infinity while none is. */
  #armedFor = Number.POSITIVE_INFINITY;

  constructor(now: () => number, expire: (item: T) => void) {
    this.#now = now;
    this.#expire = expire;
  }

  /** `item` runs out at `at` (ms since the epoch). */
  add(item: T, at: number): void {
    const items = this.#due.get(at);
    if (items) items.add(item);
    else this.#due.set(at, new Set([item]));
    if (at < this.#armedFor) this.#arm(at);
  }

  /** Forgets `item`, added for `at`. The timer is left as it is: if nothing is due when it fires, it re-arms. */
  delete(item: T, at: number): void {
    const items = this.#due.get(at);
    if (items?.delete(item) && items.size === 0) this.#due.delete(at);
  }

  /** How many items are waiting (for tests and metrics). */
  get size(): number {
    let n = 0;
    for (const items of this.#due.values()) n += items.size;
    return n;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = at;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, Math.min(at - this.#now(), MAX_TIMER_MS)));
    // Waiting for an expiry is no reason to keep the process alive.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#now();
    let next = Number.POSITIVE_INFINITY;
    for (const [at, items] of this.#due) {
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      // Deleted first: what `expire` does to an item (a socket that disconnects deletes itself) finds it gone.
      this.#due.delete(at);
      for (const item of items) this.#expire(item);
    }
    if (next < this.#armedFor) this.#arm(next);
  }
}

/**
 * Counts requests that have been accepted but not yet answered, so a graceful
 * shutdown can stop taking new work and still finish every acknowledgement.
 */
export class InFlight {
  #count = 0;
  #draining = false;
  #waiters: Array<() => void> = [];
  #lastArrival = 0;

  get draining(): boolean {
    return this.#draining;
  }

  get count(): number {
    return this.#count;
  }

  /** A request arrived (answered or refused): the connection it came on is not quiet yet. */
  arrived(): void {
    this.#lastArrival = performance.now();
  }

  /**
   * Resolves once no request has arrived for `quietMs` and none is in flight,
   * or after `maxMs`. Requests a client sent just before it heard of the
   * shutdown are still on their way when draining starts; closing before they
   * are read would leave them with no answer at all, where `unavailable` tells
   * the client to retry elsewhere.
   */
  async quiesce(quietMs: number, maxMs: number): Promise<boolean> {
    const until = performance.now() + maxMs;
    for (;;) {
      const quietFor = performance.now() - this.#lastArrival;
      if (this.#count === 0 && quietFor >= quietMs) return true;
      if (performance.now() >= until) return false;
      await new Promise((r) =>
        setTimeout(r, Math.max(1, Math.min(quietMs - quietFor, until - performance.now()))),
      );
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    this.#count++;
    try {
      return await fn();
    } finally {
      this.#count--;
      if (this.#count === 0) for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Stops new work: callers check `draining` (new requests get `unavailable`, /readyz 503). */
  stopTaking(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.arrived(); // the quiet period counts from here at the earliest
  }

  /** Stops new work and resolves once in-flight work is done or the grace runs out. */
  drain(graceMs: number): Promise<boolean> {
    this.stopTaking();
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), graceMs);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/**
 * Counts requests that have been accepted but not yet answered, so a graceful
 * shutdown can stop taking new work and still finish every acknowledgement.
 */
export class InFlight {
  #count = 0;
  #draining = false;
  #waiters: Array<() => void> = [];

  get draining(): boolean {
    return this.#draining;
  }

  get count(): number {
    return this.#count;
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

  /** Stops new work (callers check `draining`) and resolves once in-flight work is done or the grace runs out. */
  drain(graceMs: number): Promise<boolean> {
    this.#draining = true;
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

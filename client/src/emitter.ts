/** A small typed event emitter that runs the same in browsers and Node (no node:events). */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  readonly #listeners = new Map<keyof Events, Set<(...args: never[]) => void>>();

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(event: K, fn: Events[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(fn);
    return () => this.off(event, fn);
  }

  off<K extends keyof Events>(event: K, fn: Events[K]): void {
    this.#listeners.get(event)?.delete(fn);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const fn of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (fn as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (e) {
        // A listener's bug must not stop the SDK's own bookkeeping.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}

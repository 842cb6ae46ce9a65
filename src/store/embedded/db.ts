import { setImmediate as turnOfTheLoop } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { Keyring } from '../../privacy/keyring.ts';
import type { Db, Queryable } from '../queryable.ts';

/**
 * PGlite runs PostgreSQL on the server's own thread: a statement is
 * synchronous WebAssembly, and a queue of them resolves one after another in
 * microtasks, so without a pause a backlog of sends would hold the event loop
 * (health checks, metrics, other rooms' traffic) until it drained. Statements
 * and transactions run one at a time, as PGlite runs them anyway, and after
 * SLICE_MS of them back to back the next waits one turn of the event loop,
 * so other I/O is served at least that often.
 */
const SLICE_MS = 5;

class Turns {
  #tail: Promise<unknown> = Promise.resolve();
  #sliceStart = performance.now();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const mine = this.#tail.then(async () => {
      if (performance.now() - this.#sliceStart >= SLICE_MS) {
        await turnOfTheLoop();
        this.#sliceStart = performance.now();
      }
      return fn();
    });
    this.#tail = mine.catch(() => {});
    return mine;
  }
}

export class EmbeddedDb implements Db {
  readonly kind = 'embedded' as const;
  readonly keyring: Keyring | undefined;
  readonly #pg: PGlite;
  readonly #turns = new Turns();
  constructor(pglite: PGlite, keyring: Keyring | undefined) {
    this.keyring = keyring;
    this.#pg = pglite;
  }
  query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.#turns.run(async () => (await this.#pg.query<T>(sql, params as unknown[])).rows);
  }
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.#turns.run(() =>
      this.#pg.transaction(async (t) =>
        fn({
          query: async <R>(sql: string, params: readonly unknown[] = []) =>
            (await t.query<R>(sql, params as unknown[])).rows,
          exec: async (sql: string) => {
            await t.exec(sql);
          },
        }),
      ),
    );
  }
  exec(sql: string): Promise<void> {
    return this.#turns.run(async () => {
      await this.#pg.exec(sql);
    });
  }
  ping(): Promise<void> {
    return this.query('SELECT 1').then(() => {});
  }
  async close(): Promise<void> {
    if (!this.#pg.closed) await this.#pg.close();
  }
  /** A copy of the whole cluster as a tar archive (the embedded template, src/store/embedded/template.ts). */
  dump(): Promise<Blob> {
    return this.#turns.run(() => this.#pg.dumpDataDir('none'));
  }
}

import { setImmediate as turnOfTheLoop } from 'node:timers/promises';
import { type PGlite, parse, protocol } from '@electric-sql/pglite';
import type { Keyring } from '../../privacy/keyring.ts';
import type { Db, Queryable, Row } from '../queryable.ts';

/**
 * PGlite runs PostgreSQL on the server's own thread: a statement is
 * synchronous WebAssembly, and a queue of them resolves one after another in
 * microtasks, so without a pause a backlog of sends would hold the event loop
 * (health checks, metrics, other rooms' traffic) until it drained. Statements
 * and transactions run one at a time, as PGlite runs them anyway, and after
 * SLICE_MS of them back to back the next waits one turn of the event loop,
 * so other I/O is served at least that often.
 */
const SLICE_MS = 3;

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

/**
 * Parameterised statements are prepared once under a name, as on PostgreSQL
 * (src/store/postgres.ts). PGlite's own query() parses, plans and describes
 * the text on every call, in six trips into WebAssembly; a named statement is
 * one trip (bind, describe, execute, sync). Their number is bounded by the
 * code's SQL texts; past the bound (dynamic SQL) a statement is parsed unnamed
 * on each call, still under one hold of the lock (Statements.run).
 */
const MAX_NAMED = 1000;
const { serialize } = protocol;
// PGlite's file systems here (NODEFS on disk, MEMFS in memory) write through: its sync is for browser storage.
const NO_SYNC = { syncToFs: false };

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

interface Prepared {
  name: string;
  types: number[];
}

class Statements {
  readonly #pg: PGlite;
  readonly #named = new Map<string, Promise<Prepared>>();
  /** Names are never reused: one whose parse failed (say, in an aborted transaction) may be tried again. */
  #made = 0;
  constructor(pg: PGlite) {
    this.#pg = pg;
  }

  async run<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    let prepared = this.#named.get(sql);
    if (!prepared && this.#named.size < MAX_NAMED) {
      // Kept at once, so statements sent side by side share one name and one parse.
      const name = `s${this.#made++}`;
      prepared = this.#exclusive(() => this.#prepare(name, sql));
      this.#named.set(sql, prepared);
      prepared.catch(() => this.#named.delete(sql));
    }
    if (prepared) {
      const st = await prepared;
      return this.#exclusive(() => this.#execute<T>(st, params));
    }
    // Past the bound: the unnamed statement, parsed and run under one hold of the lock.
    return this.#exclusive(async () => this.#execute<T>(await this.#prepare('', sql), params));
  }

  /**
   * Under the lock PGlite's own statements take: one transaction's statements
   * may be sent side by side (Promise.all), and PGlite collects an exchange's
   * answers in one place per instance.
   */
  #exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.#pg._runExclusiveQuery(fn);
  }

  async #prepare(name: string, sql: string): Promise<Prepared> {
    const { messages } = await this.#pg.execProtocol(
      joined([
        serialize.parse({ name, text: sql }),
        serialize.describe({ type: 'S', name }),
        serialize.sync(),
      ]),
      NO_SYNC,
    );
    return { name, types: parse.parseDescribeStatementResults(messages) };
  }

  async #execute<T>(st: Prepared, params: readonly unknown[]): Promise<T[]> {
    // As PGlite's query() does: each value by its parameter's type, else as text.
    const values = params.map((v, i) => {
      if (v === null || v === undefined) return null;
      const to = this.#pg.serializers[st.types[i]!];
      return to ? to(v) : String(v);
    });
    const { messages } = await this.#pg.execProtocol(
      joined([
        serialize.bind({ statement: st.name, values }),
        serialize.describe({ type: 'P' }),
        serialize.execute({}),
        serialize.sync(),
      ]),
      NO_SYNC,
    );
    return (parse.parseResults(messages, this.#pg.parsers)[0]?.rows ?? []) as T[];
  }
}

export class EmbeddedDb implements Db {
  readonly kind = 'embedded' as const;
  readonly keyring: Keyring | undefined;
  readonly #pg: PGlite;
  readonly #turns = new Turns();
  readonly #statements: Statements;
  constructor(pglite: PGlite, keyring: Keyring | undefined) {
    this.keyring = keyring;
    this.#pg = pglite;
    this.#statements = new Statements(pglite);
  }
  query<T = Row>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.#turns.run(() => this.#run<T>(sql, params));
  }
  #run<T>(sql: string, params: readonly unknown[]): Promise<T[]> {
    if (params.length === 0) return this.#pg.query<T>(sql).then((r) => r.rows);
    return this.#statements.run<T>(sql, params);
  }
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.#turns.run(() =>
      this.#pg.transaction(async (t) =>
        fn({
          query: <R>(sql: string, params: readonly unknown[] = []) =>
            params.length === 0 ? t.query<R>(sql).then((r) => r.rows) : this.#statements.run<R>(sql, params),
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

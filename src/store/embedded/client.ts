import { Worker } from 'node:worker_threads';
import type { Keyring } from '../../privacy/keyring.ts';
import type { Db, Queryable, Row } from '../queryable.ts';
import {
  ERROR_FIELDS,
  type ErrorShape,
  type Reply,
  type Request,
  type Started,
  type WorkerInit,
} from './protocol.ts';

/** A statement that failed in the embedded store, with PostgreSQL's fields (code, constraint, …) as pg gives them. */
export class DatabaseError extends Error {
  override name = 'DatabaseError';
  code?: string;
  constructor(shape: ErrorShape) {
    super(shape.message);
    for (const f of ERROR_FIELDS) if (shape[f] !== undefined) (this as Record<string, unknown>)[f] = shape[f];
  }
}

type Call = Request extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The embedded store as the server's thread sees it: PGlite runs in a worker
 * thread (worker.ts), so PostgreSQL's CPU never blocks the event loop that
 * answers sockets, /healthz and /metrics. Statements are posted without
 * waiting for one another and run in order. A transaction holds the store:
 * while it is open, statements from outside it wait here, in order, so
 * nothing interleaves inside it (PGlite is one session).
 */
export class EmbeddedDb implements Db {
  readonly kind = 'embedded' as const;
  readonly keyring: Keyring | undefined;
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (rows: Row[]) => void; reject: (e: unknown) => void }>();
  #nextId = 1;
  /** Why nothing more can run: closed, or the thread died. */
  #stopped: Error | undefined;
  #closing: Promise<void> | undefined;
  #txOpen = false;
  /** Sent in this turn of the event loop, posted together at its end. */
  #outbox: Request[] = [];
  /** Waiting for a transaction to end: statements (sent as they leave) and transactions (each holds the store). */
  readonly #waiting: { tx: boolean; go: () => void }[] = [];

  private constructor(worker: Worker, keyring: Keyring | undefined) {
    this.#worker = worker;
    this.keyring = keyring;
    worker.on('message', (r: Reply[]) => this.#answer(r));
    // A thread that dies fails what it was asked and everything after: an error, never a hang.
    worker.on('error', (e) => this.#stop(new Error(`the embedded store stopped: ${e.message}`)));
    worker.on('exit', (code) => this.#stop(new Error(`the embedded store's thread exited (code ${code})`)));
    // Idle, the thread does not keep the process alive (as PGlite on the main thread did not).
    worker.unref();
  }

  /**
   * Starts the thread and waits for PGlite to open (copying `template` into a
   * fresh `dir` first). `script` is the thread's module: worker.ts, or in a
   * test one that wraps it.
   */
  static async open(
    init: WorkerInit,
    keyring: Keyring | undefined,
    script = new URL('./worker.ts', import.meta.url),
  ): Promise<EmbeddedDb> {
    const worker = new Worker(script, { workerData: init });
    let onMessage!: (s: Started) => void;
    let onError!: (e: Error) => void;
    let onExit!: (code: number) => void;
    const started = await new Promise<Started>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new Error(`the embedded store's thread exited (code ${code}) while opening`));
      worker.once('message', onMessage).once('error', onError).once('exit', onExit);
    }).finally(() => worker.off('message', onMessage).off('error', onError).off('exit', onExit));
    if (!started.started) {
      await worker.terminate();
      throw new DatabaseError(started.error);
    }
    return new EmbeddedDb(worker, keyring);
  }

  #send(call: Call): Promise<Row[]> {
    if (this.#stopped) return Promise.reject(this.#stopped);
    const req = { ...call, id: this.#nextId++ } as Request;
    return new Promise((resolve, reject) => {
      this.#pending.set(req.id, { resolve, reject });
      if (this.#pending.size === 1) this.#worker.ref();
      if (this.#outbox.length === 0) queueMicrotask(() => this.#flush());
      this.#outbox.push(req);
    });
  }

  /**
   * What was sent in this turn goes as one message (a group commit's
   * statements, the reads beside them): crossing the thread costs a wake-up
   * and a copy per message, about 24 µs of CPU each way and back per
   * statement against 4 µs in bursts of 64 (measured here, busy machine).
   */
  #flush(): void {
    const batch = this.#outbox;
    this.#outbox = [];
    if (this.#stopped) return;
    try {
      this.#worker.postMessage(batch);
    } catch {
      // A parameter that cannot be cloned (a function, a class with private state): that call fails, nothing else.
      for (const req of batch) {
        try {
          this.#worker.postMessage([req]);
        } catch (e) {
          this.#settle(req.id, (p) => p.reject(e));
        }
      }
    }
  }

  #settle(
    id: number,
    how: (p: { resolve: (rows: Row[]) => void; reject: (e: unknown) => void }) => void,
  ): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
    how(p);
  }

  #answer(replies: Reply[]): void {
    for (const r of replies) {
      this.#settle(r.id, (p) => (r.ok ? p.resolve(r.rows) : p.reject(new DatabaseError(r.error))));
    }
  }

  #stop(e: Error): void {
    this.#stopped ??= e;
    for (const p of this.#pending.values()) p.reject(this.#stopped);
    this.#pending.clear();
  }

  /** Undefined when the store is free now (a transaction then takes it); else resolves in turn. */
  #turn(tx: boolean): Promise<void> | undefined {
    if (!this.#txOpen && this.#waiting.length === 0) {
      this.#txOpen = tx;
      return undefined;
    }
    return new Promise((go) => this.#waiting.push({ tx, go }));
  }

  #release(): void {
    this.#txOpen = false;
    while (this.#waiting.length > 0) {
      const next = this.#waiting.shift()!;
      this.#txOpen = next.tx;
      next.go();
      if (next.tx) return;
    }
  }

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const wait = this.#turn(false);
    if (wait) await wait;
    return (await this.#send({ op: 'query', sql, params })) as T[];
  }

  async exec(sql: string): Promise<void> {
    const wait = this.#turn(false);
    if (wait) await wait;
    await this.#send({ op: 'exec', sql });
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const wait = this.#turn(true);
    if (wait) await wait;
    let open = true;
    const inside = <R>(call: Call): Promise<R[]> =>
      open
        ? (this.#send(call) as Promise<R[]>)
        : Promise.reject(new Error('statement after its transaction ended'));
    // BEGIN is not waited for on its own: the statements follow it in order, and a failed BEGIN fails them.
    const begun = this.#send({ op: 'exec', sql: 'BEGIN' });
    begun.catch(() => {});
    try {
      const out = await fn({
        query: (sql, params = []) => inside({ op: 'query', sql, params }),
        exec: async (sql) => {
          await inside({ op: 'exec', sql });
        },
      });
      await begun;
      await this.#send({ op: 'commit' });
      return out;
    } catch (e) {
      open = false;
      await this.#send({ op: 'exec', sql: 'ROLLBACK' }).catch(() => {});
      throw e;
    } finally {
      open = false;
      this.#release();
    }
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  /** Waits for an open transaction, shuts PostgreSQL down (a checkpoint) and ends the thread. Safe to call twice. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const wait = this.#turn(true);
      if (wait) await wait;
      try {
        if (!this.#stopped) await this.#send({ op: 'close' });
      } finally {
        this.#stopped ??= new Error('the embedded store is closed');
        this.#release();
        await this.#worker.terminate();
      }
    })();
    return this.#closing;
  }
}

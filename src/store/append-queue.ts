import type { Message } from '../domain/types.ts';
import type { Db } from './db.ts';
import { MessagesRepo, type NewMessage } from './messages.ts';

type Result = { message: Message; duplicate: boolean };
interface Pending {
  m: NewMessage;
  resolve: (r: Result) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the message hot path. A durable append costs a WAL flush
 * (fsync) per commit, and under load that flush, not the SQL, is the limit.
 * Sends that arrive while earlier ones are being written are appended
 * together in one transaction: one flush for the batch, and every sender is
 * acknowledged only after that commit. With no backlog a batch is one message,
 * so an idle server adds no delay.
 *
 * If a batch fails (say two retries of one clientMsgId raced on another node),
 * its messages are appended one by one, so one bad message never fails the others.
 *
 * A room is written by one batch at a time: a batch takes the room row's lock
 * until it commits, so a second batch holding the same room would only wait on
 * that lock with a connection held (PostgreSQL's active backends were 93 % in
 * Lock:transactionid under the messaging benchmark's closed loop). Its sends
 * wait here instead, in order, and go in the next batch.
 */
export class AppendQueue {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  #pending: Pending[] = [];
  #inFlight = 0;
  /** Rooms an in-flight batch is writing. */
  readonly #busy = new Set<string>();

  constructor(db: Db, o: { maxBatch?: number; maxInFlight?: number } = {}) {
    this.#db = db;
    this.#maxBatch = o.maxBatch ?? 64;
    // Embedded PGlite runs one transaction at a time; more would only queue.
    this.#maxInFlight = o.maxInFlight ?? (db.kind === 'embedded' ? 1 : 4);
  }

  append(m: NewMessage): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ m, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#maxInFlight && this.#pending.length > 0) {
      const batch = this.#take();
      // Every pending send is for a room being written: that batch pumps again when it is done.
      if (batch.length === 0) return;
      const rooms = new Set(batch.map((p) => p.m.roomId));
      for (const r of rooms) this.#busy.add(r);
      this.#inFlight++;
      this.#write(batch).finally(() => {
        for (const r of rooms) this.#busy.delete(r);
        this.#inFlight--;
        this.#pump();
      });
    }
  }

  /** The oldest sends whose rooms no batch is writing, up to a batch; the rest stay in order. */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    let i = 0;
    for (; i < this.#pending.length && batch.length < this.#maxBatch; i++) {
      const p = this.#pending[i]!;
      (this.#busy.has(p.m.roomId) ? rest : batch).push(p);
    }
    this.#pending = i < this.#pending.length ? rest.concat(this.#pending.slice(i)) : rest;
    return batch;
  }

  async #write(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      const [p] = batch as [Pending];
      await new MessagesRepo(this.#db, this.#db.keyring).append(p.m).then(p.resolve, p.reject);
      return;
    }
    let results: Result[];
    try {
      // Rooms are locked in a fixed order so two batches never deadlock.
      const ordered = [...batch.keys()].sort(
        (a, b) => batch[a]!.m.roomId.localeCompare(batch[b]!.m.roomId) || a - b,
      );
      results = await this.#db.tx(async (q) => {
        const repo = new MessagesRepo(q, this.#db.keyring);
        const out: Result[] = new Array(batch.length);
        // Sent together, not one after the other: a transaction's statements run in the order sent on both
        // backends (one connection; the embedded store's one thread), so the rooms are still locked in order,
        // and the batch waits on the database once rather than once per message (the embedded store's
        // thread would idle while the event loop came round to send the next one).
        await Promise.all(
          ordered.map(async (i) => {
            out[i] = await repo.append(batch[i]!.m, { retry: false });
          }),
        );
        return out;
      });
    } catch {
      for (const p of batch)
        await new MessagesRepo(this.#db, this.#db.keyring).append(p.m).then(p.resolve, p.reject);
      return;
    }
    for (const [i, p] of batch.entries()) p.resolve(results[i]!);
  }
}

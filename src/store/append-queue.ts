import type { Db } from './db.ts';
import { type Appended, MessagesRepo, type NewMessage, PlanChanged } from './messages.ts';

interface Pending {
  m: NewMessage;
  resolve: (r: Appended) => void;
  reject: (e: unknown) => void;
}

/**
 * Group commit for the message hot path. A durable append costs a WAL flush
 * (fsync) per commit, and under load that flush, not the SQL, is the limit.
 * Sends that arrive while earlier ones are being written are appended
 * together in one statement (a transaction of its own): one round trip and
 * one flush for the batch, and every sender is
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
    this.#maxBatch = o.maxBatch ?? (db.kind === 'embedded' ? 16 : 64);
    // Embedded PGlite runs one transaction at a time; more would only queue.
    this.#maxInFlight = o.maxInFlight ?? (db.kind === 'embedded' ? 1 : 4);
  }

  append(m: NewMessage): Promise<Appended> {
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
    const repo = new MessagesRepo(this.#db, this.#db.keyring);
    if (batch.length === 1) {
      const [p] = batch as [Pending];
      await repo.append(p.m).then(p.resolve, p.reject);
      return;
    }
    // Rooms are locked in a fixed order so two batches never deadlock; the sort
    // is stable, so one room's sends keep their order (and their seqs follow it).
    const ordered = [...batch].sort((a, b) => a.m.roomId.localeCompare(b.m.roomId));
    let results: (Appended | PlanChanged)[];
    try {
      results = await repo.appendAll(ordered.map((p) => p.m));
    } catch {
      for (const p of ordered) await repo.append(p.m).then(p.resolve, p.reject);
      return;
    }
    for (const [i, p] of ordered.entries()) {
      const r = results[i]!;
      if (r instanceof PlanChanged) p.reject(r);
      else p.resolve(r);
    }
  }
}

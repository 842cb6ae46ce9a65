import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import type { Actor } from '../domain/types.ts';
import { JobQueue, type TypedJob } from '../jobs/kinds.ts';
import type { Logger } from '../log.ts';
import type { Db, Queryable } from '../store/db.ts';
import { type RekeyCursor, RekeyStore } from '../store/rekey.ts';
import { audit } from './audit.ts';

export interface RekeyBatches {
  /** Messages per transaction. */
  messages: number;
  /** Chunks per transaction (up to 256 KiB each). */
  chunks: number;
  /** Batches per job run: a run stays well inside the scheduler's lease, then hands on to the next job. */
  perRun: number;
}
const BATCHES: RekeyBatches = { messages: 200, chunks: 8, perRun: 20 };

/**
 * `POST /v1/admin/rekey`: re-seals every stored value under the first key of
 * ENCRYPTION_KEYS, in the background. The work is a chain of scheduler jobs
 * (so one node runs each step, and a step a dead node held runs again after
 * its lease); each job carries the cursor where it starts, so a crash resumes
 * from the last step that was handed on, and redoing a batch changes nothing.
 */
export class RekeyService {
  readonly #d: { db: Db; clock: Clock; log: Logger; wakeScheduler: () => void };
  readonly #b: RekeyBatches;
  constructor(d: { db: Db; clock: Clock; log: Logger; wakeScheduler: () => void }, batches = BATCHES) {
    this.#d = d;
    this.#b = batches;
  }

  #store(): RekeyStore {
    const keys = this.#d.db.keyring;
    if (!keys) throw new Error('this store has no keys to rekey with');
    return new RekeyStore(this.#d.db, keys);
  }

  /** Starts a pass; what is left to re-seal when it starts. */
  async start(actor: Actor): Promise<{ key: string; remaining: { messages: number; chunks: number } }> {
    const store = this.#store();
    const remaining = await store.remaining();
    const now = this.#d.clock.now();
    // The pass and its audit entry start together.
    await this.#d.db.tx(async (q) => {
      await this.#next(q, randomUUID(), 0, {});
      await audit(q, actor, 'keys.rekey', now);
    });
    this.#d.wakeScheduler();
    return { key: this.#d.db.keyring!.current, remaining };
  }

  /** Step ids are the pass's and the step's number: a step run twice hands on to the same next step. */
  async #next(q: Queryable, pass: string, step: number, cursor: RekeyCursor): Promise<void> {
    const now = this.#d.clock.now();
    await new JobQueue(q).add(`rekey:${pass}:${step}`, 'privacy.rekey', now, { pass, step, cursor }, now);
  }

  /** One step of a pass: up to `perRun` batches from the job's cursor, then the next step. */
  readonly run = async (job: TypedJob<'privacy.rekey'>): Promise<void> => {
    const store = this.#store();
    const { pass, step } = job.payload;
    let cursor = job.payload.cursor;
    let done = false;
    for (let i = 0; i < this.#b.perRun && !done; i++) {
      if (cursor.chunk === undefined) {
        const r = await store.messages(cursor.messageId, this.#b.messages);
        // Messages done: chunks from the start (every id sorts after '').
        cursor = r.last === null ? { chunk: { attachmentId: '', idx: -1 } } : { messageId: r.last };
      } else {
        const r = await store.chunks(cursor.chunk, this.#b.chunks);
        if (r.last === null) done = true;
        else cursor = { chunk: r.last };
      }
    }
    if (done) this.#d.log.info({ key: this.#d.db.keyring!.current }, 'rekey pass finished');
    else {
      await this.#next(this.#d.db, pass, step + 1, cursor);
      this.#d.wakeScheduler();
    }
  };
}

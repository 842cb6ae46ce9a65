import type { Clock } from '../clock.ts';
import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import { ErasureStore } from '../store/erasure.ts';
import { audit } from './audit.ts';

const adminOnly = (actor: Actor) => {
  if (actor.role !== 'admin') throw new AppError('forbidden', 'this needs the admin role');
};

/** `POST /v1/users/:id/erase` and `PUT /v1/users/:id/hold`: each one transaction with its audit entry. */
export class Erasure {
  readonly #d: { db: Db; clock: Clock };
  constructor(d: { db: Db; clock: Clock }) {
    this.#d = d;
  }

  async erase(actor: Actor, userId: string): Promise<{ erased: { messages: number; recordings: number } }> {
    adminOnly(actor);
    const now = this.#d.clock.now();
    return this.#d.db.tx(async (q) => {
      const store = new ErasureStore(q);
      // The user's row is locked: a hold set meanwhile waits for this erasure, or stops it.
      const hold = await store.onHold(userId, true);
      if (hold === null) throw new AppError('not_found', `user ${userId} not found`);
      if (hold) throw new AppError('legal_hold', `user ${userId} is on legal hold; lift the hold to erase`);
      const erased = await store.eraseUser(userId);
      await audit(q, actor, 'user.erase', now, { subjectId: userId });
      return { erased };
    });
  }

  async hold(actor: Actor, userId: string, hold: boolean): Promise<{ userId: string; hold: boolean }> {
    adminOnly(actor);
    const now = this.#d.clock.now();
    return this.#d.db.tx(async (q) => {
      if (!(await new ErasureStore(q).setHold(userId, hold)))
        throw new AppError('not_found', `user ${userId} not found`);
      await audit(q, actor, 'user.hold', now, { subjectId: userId });
      return { userId, hold };
    });
  }
}

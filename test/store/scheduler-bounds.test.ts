import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { MAX_DUE_ROUNDS, Scheduler } from '../../src/jobs/scheduler.ts';
import { createLogger } from '../../src/log.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { JobStore } from '../../src/store/jobs.ts';
import { backends } from '../helpers/backends.ts';

const log = createLogger('silent');
const T0 = '2026-11-20T10:00:00Z';

describe.each(backends)('the scheduler’s loop is bounded on the $name store', (backend) => {
  let store: Store;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    store = await openStore({ databaseUrl: db.databaseUrl });
  });
  afterAll(async () => {
    await store?.db.close();
    await drop?.();
  });

  it('a handler that keeps scheduling jobs due now cannot hold one runDue forever; the next call goes on', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    let n = 0;
    const s = new Scheduler({
      db: store.db,
      clock,
      log,
      batch: 1,
      handlers: {
        // Every run adds another job, due at once (up to 500, so that an unbounded runDue ends too).
        again: async () => {
          if (n < 500) await jobs.schedule(`again-${++n}`, 'again', clock.now(), {}, clock.now());
        },
      },
    });
    await jobs.schedule('again-0', 'again', clock.now(), {}, clock.now());
    expect(await s.runDue()).toBe(MAX_DUE_ROUNDS);
    expect(await jobs.nextDue()).toEqual(clock.now()); // the rest is still due, for the loop's next turn
    expect(await s.runDue()).toBe(MAX_DUE_ROUNDS);
    expect(n).toBe(2 * MAX_DUE_ROUNDS);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { MAX_DUE_ROUNDS, Scheduler } from '../../src/jobs/scheduler.ts';
import { createLogger } from '../../src/log.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { JobStore } from '../../src/store/jobs.ts';
import { backends, postgres } from '../helpers/backends.ts';

const log = createLogger('silent');
const T0 = '2026-11-20T10:00:00Z';

function recorder() {
  const ran: string[] = [];
  return { ran, handler: async (job: { id: string }) => void ran.push(job.id) };
}

describe.each(backends)('the durable scheduler on the $name store', (backend) => {
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

  it('runs a job when it falls due, once, and forgets it', async () => {
    const clock = new ManualClock(T0);
    const r = recorder();
    const s = new Scheduler({ db: store.db, clock, log, handlers: { tick: r.handler } });
    const jobs = new JobStore(store.db);
    await jobs.schedule('a', 'tick', new Date('2026-11-20T10:05:00Z'), {}, clock.now());
    await jobs.schedule('a', 'tick', new Date('2026-11-20T10:01:00Z'), {}, clock.now()); // same id: kept as it was
    expect(await s.runDue()).toBe(0);
    clock.set('2026-11-20T10:04:59Z');
    expect(await s.runDue()).toBe(0);
    clock.set('2026-11-20T10:05:00Z');
    expect(await s.runDue()).toBe(1);
    expect(await s.runDue()).toBe(0);
    expect(r.ran).toEqual(['a']);
    expect(await jobs.nextDue()).toBeNull();
  });

  it('retries a failing job with backoff and gives up after its attempts, keeping it for inspection', async () => {
    const clock = new ManualClock(T0);
    let calls = 0;
    const s = new Scheduler({
      db: store.db,
      clock,
      log,
      handlers: {
        flaky: async () => {
          calls++;
          throw new Error('receiver down');
        },
      },
      maxAttempts: () => 3,
    });
    await new JobStore(store.db).schedule('f', 'flaky', clock.now(), {}, clock.now());
    await s.runDue();
    expect(calls).toBe(1);
    clock.advance(999);
    await s.runDue();
    expect(calls).toBe(1); // the first retry waits a second
    clock.advance(1);
    await s.runDue();
    clock.advance(2000);
    await s.runDue();
    expect(calls).toBe(3);
    clock.advance(3_600_000);
    await s.runDue();
    expect(calls).toBe(3);
    const [row] = await store.db.query<{ attempts: number; last_error: string; dead_at: Date | null }>(
      `SELECT attempts, last_error, dead_at FROM jobs WHERE id = 'f'`,
    );
    expect(row).toMatchObject({ attempts: 3, last_error: 'receiver down' });
    expect(row?.dead_at).not.toBeNull();
  });

  it('takes over a job whose node died holding it, once its lease has run out', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    await jobs.schedule('orphan', 'tick', clock.now(), {}, clock.now());
    const claimed = await jobs.claim('dead-node', clock.now(), 30_000, 10);
    expect(claimed.map((j) => j.id)).toEqual(['orphan']);
    const r = recorder();
    const s = new Scheduler({ db: store.db, clock, log, handlers: { tick: r.handler }, leaseMs: 30_000 });
    clock.advance(29_999);
    expect(await s.runDue()).toBe(0);
    clock.advance(2);
    expect(await s.runDue()).toBe(1);
    expect(r.ran).toEqual(['orphan']);
    // The dead node coming back cannot complete or fail a job it no longer holds.
    await jobs.complete('orphan', 'dead-node');
    expect(await store.db.query(`SELECT 1 FROM jobs WHERE id = 'orphan'`)).toEqual([]);
  });

  it('sleeps until the next job is due and runs it on time when started', async () => {
    const r = recorder();
    const done = new Promise<void>((resolve) => {
      r.handler = async (job) => {
        r.ran.push(job.id);
        resolve();
      };
    });
    const s = new Scheduler({
      db: store.db,
      clock: { now: () => new Date() },
      log,
      handlers: { tick: (job) => r.handler(job) },
    });
    s.start();
    await new JobStore(store.db).schedule('soon', 'tick', new Date(Date.now() + 100), {}, new Date());
    s.wake();
    await done;
    await s.stop();
    expect(r.ran).toEqual(['soon']);
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

describe('the scheduler across nodes', () => {
  it('runs each job exactly once when two nodes race for them', async () => {
    const db = await postgres.create();
    const a = await openStore({ databaseUrl: db.databaseUrl });
    const b = await openStore({ databaseUrl: db.databaseUrl });
    try {
      const clock = new ManualClock(T0);
      const jobs = new JobStore(a.db);
      for (let i = 0; i < 300; i++)
        await jobs.schedule(`j${i}`, 'tick', new Date(Date.parse(T0) - i), {}, clock.now());
      const ran: string[] = [];
      const handler = async (job: { id: string }) => {
        await new Promise((resolve) => setImmediate(resolve));
        ran.push(job.id);
      };
      const nodeA = new Scheduler({ db: a.db, clock, log, handlers: { tick: handler }, batch: 20 });
      const nodeB = new Scheduler({ db: b.db, clock, log, handlers: { tick: handler }, batch: 20 });
      const [ranA, ranB] = await Promise.all([nodeA.runDue(), nodeB.runDue()]);
      expect(ranA + ranB).toBe(300);
      expect(ranA).toBeGreaterThan(0);
      expect(ranB).toBeGreaterThan(0);
      expect(new Set(ran).size).toBe(300);
      expect(ran).toHaveLength(300);
    } finally {
      await a.db.close();
      await b.db.close();
      await db.drop();
    }
  });

  it('loses no job across a restart and fires none twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'talkroom-jobs-'));
    try {
      const clock = new ManualClock(T0);
      const first = await openStore({ dataDir: dir });
      await new JobStore(first.db).schedule(
        'later',
        'tick',
        new Date('2026-11-20T11:00:00Z'),
        { n: 1 },
        clock.now(),
      );
      const r1 = recorder();
      expect(await new Scheduler({ db: first.db, clock, log, handlers: { tick: r1.handler } }).runDue()).toBe(
        0,
      );
      await first.db.close();

      const second = await openStore({ dataDir: dir });
      const r2 = recorder();
      const s = new Scheduler({ db: second.db, clock, log, handlers: { tick: r2.handler } });
      clock.set('2026-11-20T11:00:00Z');
      expect(await s.runDue()).toBe(1);
      expect(await s.runDue()).toBe(0);
      expect(r2.ran).toEqual(['later']);
      await second.db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { type JobOutcome, MAX_DUE_ROUNDS, Scheduler, type TxJobHandler } from '../../src/jobs/scheduler.ts';
import { createLogger } from '../../src/log.ts';
import type { Queryable } from '../../src/store/db.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { type Job, JobStore } from '../../src/store/jobs.ts';
import { backends, postgres } from '../helpers/backends.ts';

const log = createLogger('silent');
const T0 = '2026-11-20T10:00:00Z';

const at = (msBeforeT0: number) => new Date(Date.parse(T0) - msBeforeT0);

const EFFECTS = 'CREATE TABLE IF NOT EXISTS effects (job_id text NOT NULL, node text NOT NULL)';
/** The effect a job leaves: a row with no unique constraint, so one written twice shows. */
const effect = async (q: Queryable, job: Job, node = 'n') => {
  await q.query('INSERT INTO effects (job_id, node) VALUES ($1, $2)', [job.id, node]);
};
const effects = async (q: Queryable) =>
  (await q.query<{ job_id: string; node: string }>('SELECT job_id, node FROM effects ORDER BY job_id')).map(
    (r) => `${r.job_id}:${r.node}`,
  );

function outcomes() {
  const seen: string[] = [];
  return { seen, onOutcome: (job: Job, o: JobOutcome) => void seen.push(`${job.id}:${o}`) };
}

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
    await store.db.exec(EFFECTS);
  });
  afterEach(async () => {
    await store.db.exec('DELETE FROM jobs; DELETE FROM effects');
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

  it('does not start a job whose lease ran out while it waited in its batch; it is claimed again', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    await jobs.schedule('slow', 'tick', at(2), {}, clock.now());
    await jobs.schedule('next', 'tick', at(1), {}, clock.now());
    const ran: string[] = [];
    const tick = async (job: Job) => {
      ran.push(job.id);
      if (job.id === 'slow') clock.advance(30_001); // the batch's lease is over when it ends
    };
    const s = new Scheduler({ db: store.db, clock, log, concurrency: 1, handlers: { tick } });
    expect(await s.runDue()).toBe(1);
    expect(ran).toEqual(['slow']);
    expect(await s.runDue()).toBe(1);
    expect(ran).toEqual(['slow', 'next']);
    expect(await store.db.query('SELECT id FROM jobs')).toEqual([]);
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

  it('commits a group of transaction handlers in one transaction with the deletion of their rows, once each', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    for (let i = 0; i < 10; i++) await jobs.schedule(`g${i}`, 'rec', at(10 - i), {}, clock.now());
    const txs = vi.spyOn(store.db, 'tx');
    const o = outcomes();
    const rec: TxJobHandler = { inTx: (job, q) => effect(q, job) };
    const s = new Scheduler({
      db: store.db,
      clock,
      log,
      concurrency: 2,
      handlers: { rec },
      onOutcome: o.onOutcome,
    });
    expect(await s.runDue()).toBe(10);
    expect(txs).toHaveBeenCalledTimes(2); // 10 claimed, two groups of 5
    txs.mockRestore();
    expect(await effects(store.db)).toEqual(Array.from({ length: 10 }, (_, i) => `g${i}:n`));
    expect(await store.db.query('SELECT id FROM jobs')).toEqual([]);
    expect(o.seen.sort()).toEqual(Array.from({ length: 10 }, (_, i) => `g${i}:done`));
    expect(await s.runDue()).toBe(0);
  });

  it('shares a batch among `groups` transactions (4 by default), however many own-commit handlers run at once', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    for (let i = 0; i < 12; i++) await jobs.schedule(`d${i}`, 'rec', at(12 - i), {}, clock.now());
    const txs = vi.spyOn(store.db, 'tx');
    const rec: TxJobHandler = { inTx: (job, q) => effect(q, job) };
    expect(await new Scheduler({ db: store.db, clock, log, handlers: { rec } }).runDue()).toBe(12);
    expect(txs).toHaveBeenCalledTimes(4); // concurrency 8, but 4 groups of 3
    for (let i = 0; i < 6; i++) await jobs.schedule(`e${i}`, 'rec', at(6 - i), {}, clock.now());
    txs.mockClear();
    expect(await new Scheduler({ db: store.db, clock, log, groups: 2, handlers: { rec } }).runDue()).toBe(6);
    expect(txs).toHaveBeenCalledTimes(2);
    txs.mockRestore();
  });

  it('a failing job rolls its group back: the others commit once on their own, it alone is retried', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    for (const [i, id] of ['a', 'bad', 'c'].entries())
      await jobs.schedule(id, 'rec', at(3 - i), {}, clock.now());
    const calls: string[] = [];
    let failing = true;
    const rec: TxJobHandler = {
      inTx: async (job, q) => {
        calls.push(job.id);
        await effect(q, job);
        if (job.id === 'bad' && failing) throw new Error('receiver down');
      },
    };
    const o = outcomes();
    const s = new Scheduler({
      db: store.db,
      clock,
      log,
      concurrency: 1,
      handlers: { rec },
      onOutcome: o.onOutcome,
    });
    expect(await s.runDue()).toBe(3);
    // The group (a, bad) rolled back at bad; then each job on its own.
    expect(calls).toEqual(['a', 'bad', 'a', 'bad', 'c']);
    expect(await effects(store.db)).toEqual(['a:n', 'c:n']);
    expect(o.seen).toEqual(['a:done', 'bad:retry', 'c:done']);
    expect(await store.db.query('SELECT id, attempts, last_error, run_at FROM jobs')).toEqual([
      { id: 'bad', attempts: 1, last_error: 'receiver down', run_at: new Date(Date.parse(T0) + 1000) },
    ]);

    failing = false;
    clock.advance(999);
    expect(await s.runDue()).toBe(0);
    clock.advance(1);
    expect(await s.runDue()).toBe(1);
    expect(await effects(store.db)).toEqual(['a:n', 'bad:n', 'c:n']);
    expect(await store.db.query('SELECT id FROM jobs')).toEqual([]);
  });

  it('deletes the rows of jobs that commit their own effect as they finish; a failing one is retried alone', async () => {
    const clock = new ManualClock(T0);
    const jobs = new JobStore(store.db);
    const ids = ['o1', 'o2', 'o-bad', 'o3', 'o4'];
    for (const [i, id] of ids.entries()) await jobs.schedule(id, 'own', at(5 - i), {}, clock.now());
    const ran: string[] = [];
    const o = outcomes();
    const s = new Scheduler({
      db: store.db,
      clock,
      log,
      handlers: {
        own: async (job) => {
          ran.push(job.id);
          if (job.id === 'o-bad') throw new Error('receiver down');
        },
      },
      onOutcome: o.onOutcome,
    });
    expect(await s.runDue()).toBe(5);
    expect(ran).toEqual(ids);
    expect(o.seen.sort()).toEqual(['o-bad:retry', 'o1:done', 'o2:done', 'o3:done', 'o4:done']);
    expect(await store.db.query('SELECT id, attempts FROM jobs')).toEqual([{ id: 'o-bad', attempts: 1 }]);
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

  it('rolls back the run of a node whose lease ran out before it committed: each effect lands once, by the node that took over', async () => {
    const db = await postgres.create();
    const a = await openStore({ databaseUrl: db.databaseUrl });
    const b = await openStore({ databaseUrl: db.databaseUrl });
    try {
      await a.db.exec(EFFECTS);
      const clock = new ManualClock(T0);
      const jobs = new JobStore(a.db);
      await jobs.schedule('x', 'rec', at(2), {}, clock.now());
      await jobs.schedule('y', 'rec', at(1), {}, clock.now());

      // Node A holds both in one group and stops inside y's handler, x's effect written but not committed.
      const gate = Promise.withResolvers<void>();
      const inside = Promise.withResolvers<void>();
      let first = true;
      const onA = outcomes();
      const nodeA = new Scheduler({
        db: a.db,
        clock,
        log,
        leaseMs: 30_000,
        concurrency: 1,
        onOutcome: onA.onOutcome,
        handlers: {
          rec: {
            inTx: async (job, q) => {
              if (job.id === 'y' && first) {
                first = false;
                inside.resolve();
                await gate.promise;
              }
              await effect(q, job, 'A');
            },
          },
        },
      });
      const runA = nodeA.runDue();
      await inside.promise;

      // A's lease runs out; node B takes both jobs over and commits them.
      clock.advance(30_001);
      const onB = outcomes();
      const nodeB = new Scheduler({
        db: b.db,
        clock,
        log,
        onOutcome: onB.onOutcome,
        handlers: { rec: { inTx: (job, q) => effect(q, job, 'B') } },
      });
      expect(await nodeB.runDue()).toBe(2);

      // A goes on: its group finds the rows no longer its own and rolls back, then each job alone.
      gate.resolve();
      expect(await runA).toBe(2);
      expect(await effects(a.db)).toEqual(['x:B', 'y:B']);
      expect(onB.seen).toEqual(['x:done', 'y:done']);
      expect(onA.seen).toEqual([]);
      expect(await a.db.query('SELECT id FROM jobs')).toEqual([]);
    } finally {
      await a.db.close();
      await b.db.close();
      await db.drop();
    }
  });
});

/**
 * Idle-socket memory benchmark (`npm run bench:sockets`), issue 14's P3.
 *
 * BENCH_SOCKETS authenticated sockets (two per therapy room, each the room's client or provider,
 * joined to the room as in bench/messaging.ts), connected and then left idle. For each server, in
 * one run: its heap after a full collection before the sockets connect and after they are all
 * connected and idle (bench/lib/heap-probe.ts, loaded with --expose-gc: SIGUSR2 → gc → one JSON
 * line), and its RSS. Heap per idle socket = the difference ÷ sockets.
 *  - echo: bench/echo-server.ts, a bare Socket.IO server (same options as talkroom's) whose
 *    sockets join their room's channel: what Socket.IO itself keeps per socket;
 *  - postgres: talkroom on PostgreSQL, rooms provisioned through the admin API before the first
 *    reading (so what provisioning left on the heap is not counted);
 *  - embedded (--only embedded): the same on the embedded store (PGlite's memory is WebAssembly
 *    memory outside the V8 heap: it shows in RSS, not in the heap figure).
 * Goal (P3): talkroom's heap per idle socket ÷ bare Socket.IO's ≤ 1.3.
 *
 * Usage: node bench/sockets.ts [--only echo,postgres,embedded]
 * Env: BENCH_SOCKETS (10000), BENCH_IDLE_SECONDS (3: idle before the second reading),
 *      BENCH_QUIET_WAIT_SECONDS (30), BENCH_DATABASE_URL, BENCH_QUICK=1 (400 sockets).
 * Writes bench/results/sockets-latest.json. All traffic stays on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { HEAP_PROBE_ARGS, HeapReader, type HeapReading } from './lib/heap.ts';
import { LoadGenerator } from './lib/load.ts';
import { waitForQuietMachine } from './lib/machine.ts';
import { runMain } from './lib/processes.ts';
import { echoRooms, provisionRooms } from './lib/rooms.ts';
import { type Target as Started, startTarget } from './lib/servers.ts';
import { Columns, type Goal, goalLines, type Outcome, problemLines } from './lib/table.ts';
import {
  log,
  machineLine,
  now,
  num,
  parseOnly,
  ratio,
  resultsHeader,
  round,
  sleep,
  writeResults,
} from './lib/util.ts';

const SOCKETS = 2 * Math.round(num('BENCH_SOCKETS', 10_000, 2, 50_000, 400) / 2);
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 3, 0, 60, 1);
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 3600, 0);
const P3_GOAL = 1.3;
const SECRET = randomBytes(32).toString('hex');

type Target = 'echo' | 'postgres' | 'embedded';
const KNOWN: Target[] = ['echo', 'postgres', 'embedded'];

interface Result extends Outcome {
  target: Target;
  connectSeconds?: number;
  before?: HeapReading;
  after?: HeapReading;
  heapPerSocketBytes?: number;
  rssPerSocketBytes?: number;
}

async function runTarget(target: Target): Promise<Result> {
  const result: Result = { target, ok: false };
  const gen = new LoadGenerator();
  const heap = new HeapReader();
  let target_: Started | undefined;
  try {
    await waitForQuietMachine(target, QUIET_WAIT_SECONDS);
    target_ = await startTarget({
      script: target === 'echo' ? 'bench/echo-server.ts' : 'server/main.ts',
      secret: SECRET,
      postgres: target === 'postgres',
      env: { MEDIA_WORKERS: '1' },
      nodeArgs: HEAP_PROBE_ARGS,
      label: target,
      onRecord: heap.onRecord,
    });
    const srv = target_.server;
    let t = now();
    const rooms =
      target === 'echo' ? echoRooms(SOCKETS / 2) : await provisionRooms(srv.url, SECRET, SOCKETS / 2);
    log(`[${target}] ${rooms.length} rooms ready in ${round((now() - t) / 1000, 1)} s`);
    await sleep(1000);
    result.before = await heap.read(srv);
    t = now();
    await gen.connect([srv.url], rooms);
    result.connectSeconds = round((now() - t) / 1000, 1);
    log(`[${target}] ${SOCKETS} sockets connected in ${result.connectSeconds} s; idle ${IDLE_SECONDS} s`);
    await sleep(IDLE_SECONDS * 1000);
    result.after = await heap.read(srv);
    if (!result.after.collected) throw new Error('the server was not started with --expose-gc');
    result.heapPerSocketBytes = Math.round((result.after.heapUsed - result.before.heapUsed) / SOCKETS);
    result.rssPerSocketBytes = Math.round((result.after.rss - result.before.rss) / SOCKETS);
    log(`[${target}] heap per idle socket ${result.heapPerSocketBytes} B, RSS ${result.rssPerSocketBytes} B`);
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`[${target}] FAILED: ${(e as Error).message}`);
  } finally {
    result.unexpectedDisconnects = gen.unexpectedDisconnects;
    gen.close();
    if (target_) {
      await target_.stop();
      result.serverProblems = target_.server.problems;
    }
  }
  return result;
}

const kib = (b: number | undefined) => (b === undefined ? undefined : round(b / 1024, 2));
const mib = (b: number | undefined) => (b === undefined ? undefined : round(b / 2 ** 20, 1));

await runMain(async () => {
  const targets = parseOnly(process.argv.slice(2), KNOWN, ['echo', 'postgres']);
  const startedAt = new Date();
  log(`sockets benchmark: ${targets.join(', ')}; ${SOCKETS} sockets in ${SOCKETS / 2} rooms`);
  const results: Result[] = [];
  for (const t of targets) results.push(await runTarget(t));
  const echo = results.find((r) => r.target === 'echo');
  const goals: Goal[] = results
    .filter((r) => r.target !== 'echo')
    .map((r) => {
      const v = ratio(r.heapPerSocketBytes, echo?.heapPerSocketBytes);
      return {
        id: 'P3',
        metric: `heap per idle socket ÷ bare Socket.IO's, ${SOCKETS} authenticated sockets in their rooms (${r.target})`,
        goal: `≤ ${P3_GOAL}`,
        figure: `${kib(r.heapPerSocketBytes) ?? '?'} KiB ÷ ${kib(echo?.heapPerSocketBytes) ?? '?'} KiB`,
        ratio: v,
        pass: v === undefined ? undefined : v <= P3_GOAL,
        limit:
          v !== undefined && v > P3_GOAL
            ? 'what talkroom keeps per socket beyond Socket.IO (its socket.data, presence, per-socket rate limiter and listeners): a heap snapshot of the server shows which'
            : undefined,
      };
    });
  const file = writeResults('sockets', {
    ...resultsHeader('sockets', startedAt, (Date.now() - startedAt.getTime()) / 1000),
    config: { sockets: SOCKETS, rooms: SOCKETS / 2, idleSeconds: IDLE_SECONDS },
    goals,
    results,
  });
  const t = new Columns(results);
  t.row('heap before (MiB, after gc)', (r) => mib(r.before?.heapUsed));
  t.row('heap with sockets idle (MiB, after gc)', (r) => mib(r.after?.heapUsed));
  t.row('heap per idle socket (KiB)', (r) => kib(r.heapPerSocketBytes));
  t.row('  vs bare Socket.IO', (r) => ratio(r.heapPerSocketBytes, echo?.heapPerSocketBytes));
  t.row('RSS before / after (MiB)', (r) => r.after && `${mib(r.before?.rss)} / ${mib(r.after.rss)}`);
  t.row('RSS per idle socket (KiB)', (r) => kib(r.rssPerSocketBytes));
  t.row('connect (s)', (r) => r.connectSeconds);
  t.row('status', (r) => (r.ok ? 'ok' : 'FAILED'));
  const out = ['', `talkroom sockets benchmark: ${SOCKETS} idle sockets, ${machineLine()}`];
  out.push(...t.render(results.map((r) => r.target)), '', ...goalLines(goals));
  for (const r of results) out.push(...problemLines(r.target, r));
  out.push('', `results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
});

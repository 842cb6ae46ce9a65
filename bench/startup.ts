/**
 * Start-up benchmark (`npm run bench:startup`), issue 14's P8.
 *
 * talkroom on its embedded default (no DATABASE_URL, no REDIS_URL, everything else default) started
 * BENCH_STARTS times on a fresh, empty DATA_DIR, and once more on the DATA_DIR the last start left
 * (a restart): the time from spawning `node server/main.ts` to its first 200 from /healthz (polled
 * every 20 ms on a port chosen beforehand), and, after BENCH_IDLE_SECONDS with nothing to do, the
 * resident memory of the server process and of its child processes (mediasoup workers) apart.
 * What limited it: opening the embedded store alone (openStore in this process, on a fresh and
 * then on the same directory), and the server's own log lines, timed as they arrive (the longest
 * gaps between them are printed).
 * Goal (P8): fresh DATA_DIR to /healthz ≤ 3 s; idle RSS ≤ 200 MiB.
 *
 * Env: BENCH_STARTS (3), BENCH_IDLE_SECONDS (5), BENCH_QUIET_WAIT_SECONDS (30),
 *      BENCH_QUICK=1 (one fresh start, 2 s idle).
 * Writes bench/results/startup-latest.json. All traffic stays on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/index.ts';
import { procRssBytes, waitForQuietMachine } from './lib/machine.ts';
import { cleanupLater, runMain, type ServerProc, spawnServer, stopServer } from './lib/processes.ts';
import { Columns, type Goal, goalLines } from './lib/table.ts';
import {
  HOST,
  log,
  machineLine,
  now,
  num,
  ratio,
  resultsHeader,
  round,
  sleep,
  spread,
  writeResults,
} from './lib/util.ts';

const STARTS = Math.round(num('BENCH_STARTS', 3, 1, 20, 1));
const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 5, 0, 120, 2);
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 3600, 0);
const P8_START_GOAL_MS = 3000;
const P8_RSS_GOAL_MIB = 200;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

interface Start {
  kind: 'fresh' | 'restart';
  ok: boolean;
  error?: string;
  listeningMs?: number;
  healthzMs?: number;
  idleRssMiB?: number;
  childRssMiB?: number;
  children?: number;
  /** The longest gaps between the server's log lines before /healthz answered: where the time went. */
  slowest?: { after: string; before: string; ms: number }[];
}

async function start(kind: Start['kind'], dataDir: string): Promise<Start> {
  const result: Start = { kind, ok: false };
  const port = await freePort();
  const t0 = now();
  const lines: { at: number; msg: string }[] = [{ at: 0, msg: '(spawn)' }];
  let server: ServerProc | undefined;
  let polling = true;
  const healthz = (async () => {
    while (polling) {
      try {
        const res = await fetch(`http://${HOST}:${port}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return now() - t0;
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    return undefined;
  })();
  try {
    server = await spawnServer({
      env: {
        PORT: String(port),
        HOST,
        LOG_LEVEL: 'info',
        DATA_DIR: dataDir,
        AUTH_JWT_SECRET: randomBytes(32).toString('hex'),
        DATABASE_URL: '',
        REDIS_URL: '',
      },
      label: `talkroom (${kind})`,
      onRecord: (rec) => lines.push({ at: now() - t0, msg: rec.msg ?? '?' }),
    });
    result.listeningMs = round(lines.find((l) => l.msg === 'talkroom listening')!.at, 0);
    const h = await Promise.race([healthz, sleep(60_000).then(() => undefined)]);
    if (h === undefined) throw new Error('/healthz did not answer 200 within 60 s of listening');
    result.healthzMs = round(h, 0);
    const before = lines.filter((l) => l.at <= h);
    result.slowest = before
      .slice(1)
      .map((l, i) => ({ after: before[i]!.msg, before: l.msg, ms: round(l.at - before[i]!.at, 0) }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3);
    await sleep(IDLE_SECONDS * 1000);
    const kids = childPids(server.pid);
    result.idleRssMiB = round(procRssBytes(server.pid) / 2 ** 20, 1);
    result.childRssMiB = round(kids.reduce((a, p) => a + procRssBytes(p), 0) / 2 ** 20, 1);
    result.children = kids.length;
    log(
      `[${kind}] listening ${result.listeningMs} ms, /healthz ${result.healthzMs} ms; idle RSS ${result.idleRssMiB} MiB (+ ${result.childRssMiB} MiB in ${kids.length} child processes)`,
    );
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).message;
    log(`[${kind}] FAILED: ${result.error}`);
  } finally {
    polling = false;
    if (server) await stopServer(server);
  }
  return result;
}

/** Opening the embedded store alone (PGlite's start, and on a fresh directory its creation and the migrations). */
async function timeOpenStore(dataDir: string): Promise<number> {
  const t = now();
  const store = await openStore({ dataDir });
  const ms = now() - t;
  await store.db.close();
  return round(ms, 0);
}

await runMain(async () => {
  const startedAt = new Date();
  const busy = await waitForQuietMachine('startup', QUIET_WAIT_SECONDS);
  const storeDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-store-'));
  const removeStoreDir = cleanupLater(() => rmSync(storeDir, { recursive: true, force: true }));
  const openStoreMs = { fresh: await timeOpenStore(storeDir), existing: await timeOpenStore(storeDir) };
  await removeStoreDir();
  log(`embedded store alone: open fresh ${openStoreMs.fresh} ms, open existing ${openStoreMs.existing} ms`);
  const starts: Start[] = [];
  let dataDir = '';
  for (let i = 0; i < STARTS; i++) {
    dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-startup-'));
    const remove = cleanupLater(() => rmSync(dataDir, { recursive: true, force: true }));
    starts.push(await start('fresh', dataDir));
    if (i < STARTS - 1) await remove();
  }
  starts.push(await start('restart', dataDir));
  const fresh = starts.filter((s) => s.kind === 'fresh' && s.ok);
  const freshMs = spread(fresh.map((s) => s.healthzMs!));
  const rss = spread(fresh.map((s) => s.idleRssMiB!));
  const worst = fresh.slice().sort((a, b) => b.healthzMs! - a.healthzMs!)[0];
  const goals: Goal[] = [
    {
      id: 'P8',
      metric: `embedded default, fresh DATA_DIR: start to /healthz (p50 of ${fresh.length})`,
      goal: `≤ ${P8_START_GOAL_MS} ms`,
      figure: `${freshMs.p50 ?? '?'} ms (${freshMs.min ?? '?'}–${freshMs.max ?? '?'})`,
      ratio: ratio(freshMs.p50, P8_START_GOAL_MS),
      pass: freshMs.p50 === undefined ? undefined : freshMs.p50 <= P8_START_GOAL_MS,
      limit: `opening the embedded store alone (this process, same run) takes ${openStoreMs.fresh} ms on a fresh directory, ${openStoreMs.existing} ms on an existing one; the server's log: ${worst?.slowest?.map((g) => `${g.ms} ms between "${g.after}" and "${g.before}"`).join('; ')}`,
    },
    {
      id: 'P8',
      metric: `embedded default: idle RSS of the server process after ${IDLE_SECONDS} s (p50)`,
      goal: `≤ ${P8_RSS_GOAL_MIB} MiB`,
      figure: `${rss.p50 ?? '?'} MiB (+ ${fresh[0]?.childRssMiB ?? '?'} MiB in ${fresh[0]?.children ?? '?'} mediasoup worker process(es))`,
      ratio: ratio(rss.p50, P8_RSS_GOAL_MIB),
      pass: rss.p50 === undefined ? undefined : rss.p50 <= P8_RSS_GOAL_MIB,
      limit:
        'the embedded database (PGlite: PostgreSQL compiled to WebAssembly) lives in this process’s memory',
    },
  ];
  const file = writeResults('startup', {
    ...resultsHeader('startup', startedAt, (Date.now() - startedAt.getTime()) / 1000),
    machineBusyAtStartPct: busy,
    config: { starts: STARTS, idleSeconds: IDLE_SECONDS },
    openStoreMs,
    goals,
    starts,
  });
  const t = new Columns(starts);
  t.row('spawn → "talkroom listening" (ms)', (s) => s.listeningMs);
  t.row('spawn → /healthz 200 (ms)', (s) => s.healthzMs);
  t.row(`idle RSS after ${IDLE_SECONDS} s (MiB)`, (s) => s.idleRssMiB);
  t.row('child processes, RSS (MiB)', (s) => s.ok && `${s.children}, ${s.childRssMiB}`);
  t.row('status', (s) => (s.ok ? 'ok' : `FAILED: ${s.error}`));
  const out = ['', `talkroom start-up benchmark: embedded default, ${machineLine()}`];
  out.push(...t.render(starts.map((s, i) => `${s.kind} ${i + 1}`)), '', ...goalLines(goals));
  out.push('', `results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return starts.every((s) => s.ok) ? 0 : 1;
});

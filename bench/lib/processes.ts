/** Child processes of a benchmark run: started, watched, stopped, and killed (each by pid) however the run ends. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { SERVER_NODE_FLAGS } from '../../server/node-flags.ts';
import { HOST, log, ROOT } from './util.ts';

export const children = new Set<ChildProcess>();
export const cleanups: (() => Promise<void> | void)[] = [];

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      log(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** Runs `fn` now, and again at the end of the run if it is still registered; returns a function that runs it once. */
export function cleanupLater(fn: () => Promise<void> | void): () => Promise<void> {
  cleanups.push(fn);
  return async () => {
    const i = cleanups.indexOf(fn);
    if (i < 0) return;
    cleanups.splice(i, 1);
    await fn();
  };
}

/** A benchmark's entry point: exit code from `main`, cleanups and children handled on every way out. */
export async function runMain(main: () => Promise<number>): Promise<void> {
  process.on('exit', killChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      killChildren();
      setTimeout(() => process.exit(130), 10_000).unref();
      runCleanups().finally(() => process.exit(130));
    });
  }
  try {
    process.exitCode = await main();
  } catch (e) {
    log(`benchmark failed: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
  } finally {
    await runCleanups();
    killChildren();
    // A benchmark is done once it has reported: a socket or timer left open must not keep it running.
    process.exit();
  }
}

// ---------------------------------------------------------------- servers

/** A pino line as talkroom (and bench/echo-server.ts) prints it. */
export interface LogRecord {
  msg?: string;
  port?: number;
  level?: number;
  err?: { message?: string };
}

export interface ServerProc {
  proc: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Log lines at level warn (40) or above, and stderr lines. */
  problems: { count: number; samples: string[] };
  exited: { code: number | null; signal: string | null } | undefined;
  stderrTail: string[];
}

export interface SpawnOptions {
  script?: string;
  env: Record<string, string>;
  nodeArgs?: string[];
  label?: string;
  /** Every parsed log line, for what a benchmark watches besides readiness (media worker deaths). */
  onRecord?: (rec: LogRecord) => void;
  /** How long it may take to listen (300 s: a fresh embedded store on a busy machine has taken minutes). */
  startTimeoutMs?: number;
}

const READY = new Set(['talkroom listening', 'echo listening']);

/** Starts a server script (talkroom's server/main.ts by default) and resolves once it logs the port it listens on. */
export function spawnServer(o: SpawnOptions): Promise<ServerProc> {
  const script = o.script ?? 'server/main.ts';
  const label = o.label ?? script;
  const proc = track(
    spawn(process.execPath, [...SERVER_NODE_FLAGS, ...(o.nodeArgs ?? []), script], {
      cwd: ROOT,
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const s: ServerProc = {
    proc,
    pid: proc.pid ?? -1,
    port: 0,
    url: '',
    problems: { count: 0, samples: [] },
    exited: undefined,
    stderrTail: [],
  };
  const problem = (line: string) => {
    s.problems.count++;
    if (s.problems.samples.length < 10) s.problems.samples.push(line.slice(0, 600));
  };
  return new Promise((resolve, reject) => {
    const limit = o.startTimeoutMs ?? 300_000;
    const timer = setTimeout(
      () => reject(new Error(`${label} did not start listening within ${limit / 1000} s`)),
      limit,
    );
    proc.once('exit', (code, signal) => {
      s.exited = { code, signal };
      clearTimeout(timer);
      reject(
        new Error(
          `${label} exited (${code ?? signal}) before listening: ${s.stderrTail.slice(-10).join('\n')}`,
        ),
      );
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: LogRecord | undefined;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (!rec) return;
      if (!s.port && rec.msg && READY.has(rec.msg) && typeof rec.port === 'number') {
        s.port = rec.port;
        s.url = `http://${HOST}:${rec.port}`;
        clearTimeout(timer);
        resolve(s);
      }
      o.onRecord?.(rec);
      if (typeof rec.level === 'number' && rec.level >= 40) problem(line);
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      s.stderrTail.push(line);
      if (s.stderrTail.length > 50) s.stderrTail.shift();
      problem(`stderr: ${line}`);
    });
  });
}

export async function stopServer(s: ServerProc): Promise<void> {
  if (s.exited || s.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(t);
}

/** Throws once the server has exited: a run's figures are void after that. */
export function assertAlive(...servers: ServerProc[]): void {
  const dead = servers.find((x) => x.exited || x.proc.exitCode !== null);
  if (dead) throw new Error(`server pid ${dead.pid} exited during the run`);
}

/** talkroom's settings for a load test: this machine only, limits far above the offered load. */
export function talkroomEnv(secret: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PORT: '0',
    HOST,
    // 'talkroom listening' (which carries the port) is an info line.
    LOG_LEVEL: 'info',
    AUTH_JWT_SECRET: secret,
    SOCKET_RATE_LIMIT: '100000',
    HTTP_RATE_LIMIT: '100000',
    CONNECT_RATE_LIMIT: '1000000',
    SOCKETS_PER_USER: '10000',
    DATABASE_URL: '',
    REDIS_URL: '',
    ...extra,
  };
}

/** The at-rest key benchmarks on PostgreSQL configure, as production does. */
export const BENCH_ENCRYPTION_KEYS = `bench:${Buffer.alloc(32, 1).toString('base64')}`;

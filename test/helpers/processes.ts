import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { SERVER_NODE_FLAGS } from '../../server/node-flags.ts';
import { mintToken } from '../../src/auth/tokens.ts';
import { postgres, TEST_REDIS_URL } from './backends.ts';
import { answerOf, TEST_ENCRYPTION_KEYS, TEST_LIMITS, TEST_SECRET } from './server.ts';
import { remember, rememberPayload, suiteLog } from './suite-logs.ts';

/**
 * Real talkroom server processes (`node server/main.ts`), for the tests that need
 * more than one node: several processes on one PostgreSQL database and one
 * Redis, each on a port of its own.
 */

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** The project's Node 24 (node_modules/.bin/node), or this process's Node if that is missing. */
export function nodeBinary(): string {
  const local = join(REPO_ROOT, 'node_modules/.bin/node');
  if (existsSync(local)) return local;
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 24) return process.execPath;
  throw new Error(`talkroom needs Node 24; found ${process.version} and no ${local}`);
}

/** One line the server logged: pino's JSON, or `{ raw }` for a line that is not JSON. */
export type LogLine = Record<string, any>;

export interface ServerProcess {
  name: string;
  pid: number;
  port: number;
  url: string;
  /** The "talkroom listening" log line. */
  listening: LogLine;
  /** Every line logged on stdout so far. */
  logs(): LogLine[];
  /** Everything the process wrote, stdout and stderr interleaved, for failure messages. */
  output(): string;
  /** Resolves with the first logged line (already logged or still to come) that matches; rejects on exit or timeout. */
  waitForLog(match: (line: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful: SIGTERM, then SIGKILL if it has not exited within the bound. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Abrupt: SIGKILL, as a crashed or lost node. */
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  name: string;
  /** The server's whole configuration (PATH and HOME are added; nothing else is inherited). */
  env: Record<string, string>;
  /** How long to wait for "talkroom listening". */
  startTimeoutMs?: number;
}

/** A server process's settings on a test PostgreSQL database: sealed, the test secret, generous limits. */
export function processEnv(o: {
  databaseUrl: string;
  dataDir: string;
  port?: string;
}): Record<string, string> {
  return {
    PORT: o.port ?? '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    DATABASE_URL: o.databaseUrl,
    ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    AUTH_JWT_SECRET: TEST_SECRET,
    DATA_DIR: o.dataDir,
    SHUTDOWN_GRACE: '5s',
    ...TEST_LIMITS,
  };
}

/** Starts `node server/main.ts` and resolves once it logs "talkroom listening". */
export async function spawnServer(o: SpawnOptions): Promise<ServerProcess> {
  const child: ChildProcess = spawn(nodeBinary(), [...SERVER_NODE_FLAGS, 'server/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A worker that dies must not leave servers behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const lines: LogLine[] = [];
  const chunks: string[] = [];
  const events = new EventEmitter();
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    chunks.push(chunk);
    suiteLog(chunk);
    pending += chunk;
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      const text = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text);
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      events.emit('line', line);
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => chunks.push(chunk));

  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      process.removeListener('exit', killOnExit);
      events.emit('exit', exit);
      resolveExit(exit);
    });
    child.once('error', (err) => {
      chunks.push(`\n[spawn error] ${err.message}\n`);
      exit ??= { code: null, signal: null };
      process.removeListener('exit', killOnExit);
      events.emit('exit', exit);
      resolveExit(exit);
    });
  });

  const output = () => chunks.join('');
  const describe = () => `${o.name} (pid ${child.pid})`;

  const waitForLog = (match: (line: LogLine) => boolean, what: string, timeoutMs = 5000) =>
    new Promise<LogLine>((resolveLine, reject) => {
      const found = lines.find(match);
      if (found) return resolveLine(found);
      const cleanup = () => {
        clearTimeout(timer);
        events.off('line', onLine);
        events.off('exit', onExit);
      };
      const onLine = (line: LogLine) => {
        if (!match(line)) return;
        cleanup();
        resolveLine(line);
      };
      const onExit = (e: { code: number | null; signal: NodeJS.Signals | null }) => {
        cleanup();
        reject(
          new Error(
            `${describe()} exited (code ${e.code}, signal ${e.signal}) before logging ${what}; its output:\n${output()}`,
          ),
        );
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(`${describe()} did not log ${what} within ${timeoutMs} ms; its output:\n${output()}`),
        );
      }, timeoutMs);
      events.on('line', onLine);
      if (exit) onExit(exit);
      else events.on('exit', onExit);
    });

  const kill = async () => {
    if (!exit) child.kill('SIGKILL');
    return exited;
  };
  const stop = async (timeoutMs = 15_000) => {
    if (exit) return exit;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), timeoutMs);
    });
    const first = await Promise.race([exited, late]);
    clearTimeout(timer);
    return first === 'late' ? kill() : first;
  };

  let listening: LogLine;
  try {
    listening = await waitForLog(
      (l) => l.msg === 'talkroom listening',
      '"talkroom listening"',
      o.startTimeoutMs ?? 30_000,
    );
  } catch (e) {
    await kill();
    throw e;
  }
  const port = Number(listening.port);
  return {
    name: o.name,
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}`,
    listening,
    logs: () => [...lines],
    output,
    waitForLog,
    exited,
    stop,
    kill,
  };
}

export interface ApiResponse {
  status: number;
  body: any;
  headers: Headers;
}

export interface Cluster {
  nodes: ServerProcess[];
  databaseUrl: string;
  redisPrefix: string;
  token(sub: string, role: string, opts?: { rooms?: string[]; expiresInSec?: number }): string;
  /** A REST call to one node; returns status and parsed JSON. */
  api(
    node: ServerProcess,
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown },
  ): Promise<ApiResponse>;
  /** A socket.io-client connected to one node (the server joins it to its rooms before acknowledging). */
  connect(node: ServerProcess, token: string): Promise<Socket>;
  /** Disconnects every socket opened so far. */
  disconnectAll(): void;
  /**
   * A rolling restart of one node: SIGTERM, wait for its exit, then start a
   * new process with the same settings (on a new port) in its place in `nodes`.
   * Resolves with how the old process exited and the new one.
   */
  restart(
    node: ServerProcess,
  ): Promise<{ exit: { code: number | null; signal: NodeJS.Signals | null }; node: ServerProcess }>;
  /** Stops every node, drops the database and removes the data directories. */
  stop(): Promise<void>;
}

/** One node of a cluster as a target for the shared fixtures (test/helpers/fixtures.ts). */
export const onNode = (c: Cluster, node: ServerProcess) => ({
  token: c.token,
  api: (method: string, path: string, opts?: { token?: string; body?: unknown }) =>
    c.api(node, method, path, opts),
});

export interface ClusterOptions {
  nodes: number;
  /** Extra settings for every node. */
  env?: Record<string, string>;
  /** Extra settings for one node (index 0 is node-a), over `env`. */
  nodeEnv?: (index: number) => Record<string, string>;
  /**
   * How long each node may take to start (default 90 s): nodes start side by
   * side on a shared 2-core machine, where one start alone takes a few seconds.
   */
  startTimeoutMs?: number;
}

/**
 * N server processes on a fresh PostgreSQL database and the test Redis, under
 * a Redis prefix of their own so that parallel runs do not hear each other.
 */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const db = await postgres.create();
  const root = mkdtempSync(join(tmpdir(), 'talkroom-cluster-'));
  const redisPrefix = `talkroom-test-${randomBytes(6).toString('hex')}`;
  const sockets: Socket[] = [];
  const started: ServerProcess[] = [];

  const cleanup = async () => {
    for (const s of sockets) s.disconnect();
    await Promise.allSettled(started.map((n) => n.stop()));
    await db.drop();
    rmSync(root, { recursive: true, force: true });
  };

  const spawnNode = (i: number, generation = 0) => {
    const name = `node-${String.fromCharCode(97 + i)}${generation ? `-${generation + 1}` : ''}`;
    const dataDir = join(root, name);
    mkdirSync(dataDir);
    return spawnServer({
      name,
      startTimeoutMs: o.startTimeoutMs ?? 90_000,
      env: {
        ...processEnv({ databaseUrl: db.databaseUrl!, dataDir }),
        REDIS_URL: TEST_REDIS_URL,
        REDIS_PREFIX: redisPrefix,
        ...o.env,
        ...o.nodeEnv?.(i),
      },
    }).then((n) => {
      started.push(n);
      return n;
    });
  };
  const settled = await Promise.allSettled(Array.from({ length: o.nodes }, (_, i) => spawnNode(i)));
  const generations = new Map<number, number>();
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await cleanup();
    throw failed.reason;
  }
  const nodes = settled.map((r) => (r as PromiseFulfilledResult<ServerProcess>).value);

  let stopped = false;
  return {
    nodes,
    databaseUrl: db.databaseUrl!,
    redisPrefix,
    token: (sub, role, opts = {}) => {
      const token = mintToken(
        TEST_SECRET,
        { sub, role, ...(opts.rooms ? { rooms: opts.rooms } : {}) },
        { expiresInSec: opts.expiresInSec ?? 3600 },
      );
      remember(token);
      return token;
    },
    async api(node, method, path, opts = {}) {
      rememberPayload(opts.body);
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      return answerOf(
        await fetch(node.url + path, { method, headers, body, signal: AbortSignal.timeout(10_000) }),
      );
    },
    async connect(node, token) {
      const s = connectSocket(node.url, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: 5000,
      });
      sockets.push(s);
      await new Promise<void>((resolveConnect, reject) => {
        s.once('connect', () => resolveConnect());
        s.once('connect_error', (err) => reject(new Error(`connecting to ${node.name}: ${err.message}`)));
      });
      return s;
    },
    disconnectAll() {
      for (const s of sockets.splice(0)) s.disconnect();
    },
    async restart(node) {
      const i = nodes.indexOf(node);
      if (i < 0) throw new Error(`${node.name} is not a node of this cluster`);
      const exit = await node.stop();
      const generation = (generations.get(i) ?? 0) + 1;
      generations.set(i, generation);
      const fresh = await spawnNode(i, generation);
      nodes[i] = fresh;
      return { exit, node: fresh };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await cleanup();
    },
  };
}

/** Tokens and REST calls against one spawned server (JSON, or raw bytes for uploads; binary answers as Buffers). */
export function processClient(server: ServerProcess) {
  const token = (sub: string, role: string, o: { rooms?: string[] } = {}) => {
    const minted = mintToken(TEST_SECRET, { sub, role, ...(o.rooms ? { rooms: o.rooms } : {}) });
    remember(minted);
    return minted;
  };
  const api = async (
    method: string,
    path: string,
    o: { token?: string; body?: unknown; raw?: Buffer; type?: string } = {},
  ) => {
    rememberPayload(o.body);
    const res = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${o.token}`, 'content-type': o.type ?? 'application/json' },
      body: o.raw ? new Uint8Array(o.raw) : JSON.stringify(o.body),
    });
    const type = res.headers.get('content-type') ?? '';
    return {
      status: res.status,
      body: type.includes('json') ? await res.json() : Buffer.from(await res.arrayBuffer()),
    };
  };
  return { token, api };
}

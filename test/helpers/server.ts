import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { Ack, RequestAnswer, RequestEvent, RequestInput } from '../../protocol/index.ts';
import { type RunningServer, startServer } from '../../server/main.ts';
import { mintToken } from '../../src/auth/tokens.ts';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import type { Logger } from '../../src/log.ts';
import type { MessagingSessionGate } from '../../src/services/ports.ts';
import { freePortBase } from '../media/helpers.ts';
import type { Backend } from './backends.ts';
import { remember, rememberAnswer, rememberPayload, suiteLogger } from './suite-logs.ts';

export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123456789';
export const TEST_ENCRYPTION_KEYS = `test:${Buffer.alloc(32, 7).toString('base64')}`;

export interface TestServer extends RunningServer {
  token(sub: string, role: string, opts?: { rooms?: string[]; expiresInSec?: number }): string;
  /** A REST call; returns status and parsed JSON. */
  api(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown; raw?: Buffer; type?: string },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /** A connected socket.io-client for a user, or for a join link's participant (rejects on connect_error). */
  connect(token: string | { joinToken: string }): Promise<Socket>;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  backend: Backend;
  env?: Record<string, string>;
  clock?: Clock;
  gate?: MessagingSessionGate;
  logger?: Logger;
  /** false: the scheduler only runs when the test calls scheduler.runDue() (manual clock). */
  runScheduler?: boolean;
  /** Start mediasoup workers (one, unless MEDIA_WORKERS says otherwise): only live-session tests need them. */
  media?: boolean;
  /**
   * How test sockets connect: 'default' is socket.io-client's own default (HTTP
   * long-polling first, then the upgrade to WebSocket), as every real client
   * starts; 'websocket' skips polling. Default: 'websocket'.
   */
  transport?: Transport;
}

/** Rate limits no test reaches by accident (a test of a limit sets its own). */
export const TEST_LIMITS = {
  SOCKET_RATE_LIMIT: '1000',
  HTTP_RATE_LIMIT: '1000',
  CONNECT_RATE_LIMIT: '100000',
  AUTH_FAILURE_LIMIT: '100000',
};

export type Transport = 'default' | 'websocket';
export const transports: { transport: Transport }[] = [{ transport: 'default' }, { transport: 'websocket' }];

export async function startTestServer(o: TestServerOptions): Promise<TestServer> {
  const db = await o.backend.create();
  // Test files run in parallel: each media-enabled server gets its own port range.
  const mediaPorts = o.media ? await freePortBase(20) : 40_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-test-'));
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    AUTH_JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: 'silent',
    SHUTDOWN_GRACE: '5s',
    MEDIA_WORKERS: '1',
    MEDIA_RTC_MIN_PORT: String(mediaPorts),
    MEDIA_RTC_MAX_PORT: String(mediaPorts + 19),
    ...TEST_LIMITS,
    ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS } : {}),
    ...o.env,
  });
  const server = await startServer(config, {
    clock: o.clock,
    gate: o.gate,
    runScheduler: o.runScheduler,
    media: o.media ?? false,
    logger: o.logger ?? suiteLogger(),
    memoryStore: true,
  });
  const sockets: Socket[] = [];
  let stopped = false;
  return {
    ...server,
    token: (sub, role, opts = {}) => {
      const token = mintToken(
        TEST_SECRET,
        { sub, role, ...(opts.rooms ? { rooms: opts.rooms } : {}) },
        { expiresInSec: opts.expiresInSec ?? 365 * 86_400 },
      );
      remember(token);
      return token;
    },
    async api(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | ArrayBuffer | undefined;
      if (opts.raw) {
        body = opts.raw.buffer.slice(
          opts.raw.byteOffset,
          opts.raw.byteOffset + opts.raw.byteLength,
        ) as ArrayBuffer;
        if (opts.type) headers['content-type'] = opts.type;
      } else if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        headers['content-type'] = 'application/json';
      }
      remember(opts.token);
      rememberPayload(opts.body);
      return answerOf(await fetch(server.url + path, { method, headers, body }));
    },
    async connect(token) {
      remember(token);
      const s = connectSocket(server.url, {
        auth: typeof token === 'string' ? { token } : token,
        ...(o.transport === 'default' ? {} : { transports: ['websocket'] }),
        reconnection: false,
        forceNew: true,
      });
      sockets.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      return s;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const s of sockets) s.disconnect();
      await server.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A REST answer as the helpers give it: status, the body parsed when it is JSON (its join links noted), headers. */
export async function answerOf(res: Response): Promise<{ status: number; body: any; headers: Headers }> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  rememberAnswer(parsed, res.headers);
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * Sends a request event and resolves with its acknowledgement (a missing one fails the test, bounded).
 * Typed from the contract: the payload is the event's input and the answer its acknowledgement.
 */
export function request<E extends RequestEvent>(
  socket: Socket,
  event: E,
  payload?: RequestInput<E>,
): Promise<Ack<RequestAnswer<E>>> {
  return rawRequest(socket, event, payload) as Promise<Ack<RequestAnswer<E>>>;
}

/**
 * The same without the contract's types: for tests that send what the contract refuses (a wrong
 * payload, an unknown event) and check the server's answer to it.
 */
export function rawRequest(socket: Socket, event: string, payload?: unknown): Promise<Ack<unknown>> {
  rememberPayload(payload);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${event} within 60 s`)), 60_000);
    const done = (ack: Ack<unknown>) => {
      clearTimeout(timer);
      rememberAnswer(ack);
      resolve(ack);
    };
    if (payload === undefined) socket.emit(event, done);
    else socket.emit(event, payload, done);
  });
}

/** Resolves with the next event of that name (or rejects after a bound, so a missing event fails instead of hanging). */
export function nextEvent<T = any>(socket: Socket, event: string, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (data: T) => {
      clearTimeout(timer);
      resolve(data);
    });
  });
}

/** Collects every event of that name into an array, for asserting on what did (not) arrive. */
export function collect<T = any>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (d: T) => seen.push(d));
  return seen;
}

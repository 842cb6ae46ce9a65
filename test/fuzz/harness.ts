import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { ManualClock } from '../../src/clock.ts';
import { ERROR_CODES } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import type { Backend } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { encode, MARK } from './values.ts';

/**
 * The fuzzers' common ground: how many runs from which seed, the checks every
 * answer must pass, and the world they run in (a real server with a room, its
 * members, strangers and bookings, so valid ids are hit as well as invalid ones).
 *
 * The seed is fixed (deterministic-ish: the server's timing is not), so a
 * plain run explores the same cases each time; FUZZ_SEED=<n> explores others
 * and FUZZ_RUNS=<n> sets every property's number of runs. A failure prints how
 * to replay it: the same FUZZ_SEED (and FUZZ_RUNS) on the whole file repeats
 * the sequence, the server's state included; FUZZ_SEED with FUZZ_PATH and `-t`
 * repeats the failing case alone. FUZZ_SHRINK=1 shrinks a counterexample
 * (slower: each step is a request); FUZZ_STATS=1 prints what the answers were.
 */
export const FUZZ = {
  seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20_261_116,
  runs: process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined,
  path: process.env.FUZZ_PATH || undefined,
  shrink: process.env.FUZZ_SHRINK === '1',
  /** FUZZ_STATS=1: print what the answers were, to see that the generators reach past validation. */
  stats: process.env.FUZZ_STATS === '1',
};

/** Answers seen, by what was asked and what came back (printed with FUZZ_STATS=1). */
export const answers = new Map<string, number>();
export function tally(key: string): void {
  if (FUZZ.stats) answers.set(key, (answers.get(key) ?? 0) + 1);
}
export function printTally(title: string): void {
  if (!FUZZ.stats) return;
  const lines = [...answers]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, n]) => `${String(n).padStart(5)} ${k}`);
  console.log(`${title}\n${lines.join('\n')}`);
  answers.clear();
}

/** One request's bound: a liveness check, not a timing assertion. */
export const REQUEST_TIMEOUT_MS = 10_000;
/** vitest's bound on one property: above every run's own bound, so the seed is reported first. */
export const PROPERTY_TIMEOUT_MS = 300_000;

/** Runs a property; a failure reports the seed and path that replay it. */
export async function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: (value: T) => Promise<void>,
  runs: number,
): Promise<void> {
  const details = await fc.check(fc.asyncProperty(arb, check), {
    seed: FUZZ.seed,
    numRuns: FUZZ.runs ?? runs,
    endOnFailure: !FUZZ.shrink,
    ...(FUZZ.path ? { path: FUZZ.path } : {}),
  });
  if (!details.failed) return;
  const cause =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const example = short(fc.stringify(details.counterexample), 2_000);
  throw new Error(
    `${name} failed after ${details.numRuns} runs: ${cause}\n` +
      `Replay: FUZZ_SEED=${details.seed}${FUZZ.runs ? ` FUZZ_RUNS=${FUZZ.runs}` : ''} on the whole file (the server reaches the same state; ` +
      `concurrent properties replay their batches, not their interleaving), ` +
      `or FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''} with -t for this test (this case alone)\n` +
      `Counterexample: ${example}`,
  );
}

export function within<T>(p: Promise<T>, what: string, ms = REQUEST_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer to ${what} within ${ms} ms (a hang)`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

// ---- what must never happen in-process --------------------------------------

/** Uncaught exceptions and unhandled rejections while fuzzing (vitest fails on them too; these name them). */
export function recordCrashes(): { crashes: string[]; stop(): void } {
  const crashes: string[] = [];
  const onError = (e: unknown) => crashes.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return {
    crashes,
    stop() {
      process.off('uncaughtException', onError);
      process.off('unhandledRejection', onError);
    },
  };
}

/** Heap in use after a full collection (gc exposed at run time, so no flag is needed). */
export function settledHeap(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
/** Growth over a whole fuzz run that is not a leak: caches and stored rows, with a wide margin. */
export const HEAP_GROWTH_LIMIT = 96 * 1024 * 1024;

// ---- the shape of every answer -----------------------------------------------

const KNOWN = new Set(Object.keys(ERROR_CODES));

/** An error as the contract says: a known code (never internal), a message that does not echo client text. */
export function checkError(error: unknown, where: string): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e !== 'object' || e === null || Object.keys(e).sort().join() !== 'code,message') {
    throw new Error(`${where}: error is not { code, message }: ${short(error)}`);
  }
  if (typeof e.code !== 'string' || !KNOWN.has(e.code))
    throw new Error(`${where}: unknown code ${short(e.code)}`);
  if (e.code === 'internal')
    throw new Error(`${where}: internal error (a server fault): ${short(e.message)}`);
  if (typeof e.message !== 'string') throw new Error(`${where}: message is not a string`);
  if (e.message.includes(MARK))
    throw new Error(`${where}: the message echoes client text: ${short(e.message)}`);
  return { code: e.code, message: e.message };
}

export function short(v: unknown, max = 300): string {
  let s: string;
  try {
    s = typeof v === 'string' ? v : JSON.stringify(v);
  } catch {
    s = String(v);
  }
  return s === undefined ? 'undefined' : s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

export interface RestRequest {
  method: string;
  path: string;
  authorization?: string | undefined;
  /** A JSON value (encoded with encode()), or raw bytes with their headers. */
  json?: unknown;
  raw?: { body: string | Uint8Array; type?: string | undefined; encoding?: string | undefined } | undefined;
}

/** Sends one request; never a 5xx, and every non-2xx answer is `{ error: { code, message } }` with its code's status. */
export async function restCall(base: string, r: RestRequest): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (r.authorization !== undefined) headers.authorization = r.authorization;
  let body: string | Uint8Array | undefined;
  if (r.json !== undefined) {
    body = encode(r.json);
    headers['content-type'] = 'application/json';
  } else if (r.raw) {
    body = r.raw.body;
    if (r.raw.type !== undefined) headers['content-type'] = r.raw.type;
    if (r.raw.encoding !== undefined) headers['content-encoding'] = r.raw.encoding;
  }
  if (r.method === 'GET' || r.method === 'HEAD') body = undefined;
  const what = `${r.method} ${r.path.slice(0, 200)}`;
  const res = await within(
    fetch(base + r.path, { method: r.method, headers, body: body as BodyInit | undefined }),
    what,
  );
  const text = await within(res.text(), `${what} (body)`);
  if (res.status >= 500) throw new Error(`${what}: answered ${res.status}: ${short(text)}`);
  if (r.method === 'HEAD') return { status: res.status, body: undefined };
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  if (res.status >= 300) {
    const error = (parsed as { error?: unknown })?.error;
    if (typeof parsed !== 'object' || parsed === null || Object.keys(parsed).join() !== 'error') {
      throw new Error(`${what}: answered ${res.status} without { error }: ${short(text)}`);
    }
    const { code, message } = checkError(error, what);
    const status = ERROR_CODES[code as keyof typeof ERROR_CODES];
    if (status !== res.status)
      throw new Error(`${what}: code ${code} came with HTTP ${res.status}, not ${status}`);
    tally(
      `${r.method} ${route(r.path)} ${res.status} ${code}${code === 'invalid_input' ? ` ${message.split(':')[0]}` : ''}`,
    );
  } else tally(`${r.method} ${route(r.path)} ${res.status}`);
  return { status: res.status, body: parsed };
}

/** A path with its ids and odd segments blanked, for the tally. */
function route(path: string): string {
  return path
    .split('?')[0]!
    .split('/')
    .map((seg, i) =>
      i > 2 &&
      !/^(messages|plan|escalations|attachments|slots|confirm|decline|cancel|reschedule|purchase)$/.test(seg)
        ? ':x'
        : seg,
    )
    .join('/');
}

// ---- sockets, spoken raw ----------------------------------------------------

/**
 * A socket.io-client socket whose requests are written as raw Socket.IO
 * packets, so payloads the client's own encoder cannot handle (10,000-deep
 * nesting, -0, 1e400) reach the server as such. Acknowledgements are matched by
 * id and counted: two for one request would be a bug.
 */
export class RawSocket {
  readonly socket: Socket;
  #nextId = 1_000_000;
  readonly #waiting = new Map<number, { resolve(data: unknown[]): void; reject(e: Error): void }>();
  /** Acks per request id; more than one is a double acknowledgement. */
  readonly acks = new Map<number, number>();
  disconnects: string[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.io.on('packet', (p: { type: number; id?: number; data?: unknown }) => {
      if ((p.type !== 3 && p.type !== 6) || p.id === undefined || p.id < 1_000_000) return;
      this.acks.set(p.id, (this.acks.get(p.id) ?? 0) + 1);
      this.#waiting.get(p.id)?.resolve(Array.isArray(p.data) ? p.data : [p.data]);
      this.#waiting.delete(p.id);
    });
    socket.on('disconnect', (reason) => {
      this.disconnects.push(reason);
      for (const w of this.#waiting.values()) w.reject(new SocketClosed(reason));
      this.#waiting.clear();
    });
  }

  static async open(
    url: string,
    token: string,
    transport: 'websocket' | 'default' = 'websocket',
  ): Promise<RawSocket> {
    const socket = connectSocket(url, {
      auth: { token },
      ...(transport === 'websocket' ? { transports: ['websocket'] } : {}),
      reconnection: false,
      forceNew: true,
    });
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      }),
      'socket connect',
    );
    return new RawSocket(socket);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** The size of the last packet written. */
  lastBytes = 0;

  /** Writes `[event, ...args]` as one EVENT packet; with `ack`, resolves with the acknowledgement's arguments. */
  send(event: unknown, args: unknown[], ack: boolean): Promise<unknown[]> | undefined {
    const engine = (this.socket.io as unknown as { engine: { write(data: string): void } }).engine;
    const body = encode([event, ...args]);
    this.lastBytes = Buffer.byteLength(body);
    if (!ack) {
      engine.write(`2${body}`);
      return undefined;
    }
    const id = this.#nextId++;
    const answered = new Promise<unknown[]>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    if (!this.connected) this.#waiting.get(id)?.reject(new SocketClosed('closed before sending'));
    engine.write(`2${id}${body}`);
    return answered;
  }

  /**
   * A request that must be answered, once, in the one ack shape. A packet
   * past Socket.IO's buffer may instead close the connection ('closed'), as
   * the library does today; any answer it gets must still be in the one shape.
   */
  async request(event: string, args: unknown[], what = event): Promise<Ack | 'closed'> {
    const answered = this.send(event, args, true)!;
    const oversized = this.lastBytes > MAX_PACKET_BYTES;
    try {
      return checkAck(await within(answered, what), what);
    } catch (e) {
      if (e instanceof SocketClosed && oversized) return 'closed';
      throw e;
    }
  }

  /** No request was acknowledged twice. */
  checkAcks(): void {
    for (const [id, n] of this.acks) if (n > 1) throw new Error(`request ${id} was acknowledged ${n} times`);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** The server closed the socket before acknowledging. */
export class SocketClosed extends Error {
  constructor(reason: string) {
    super(`the server closed the socket before acknowledging (${reason})`);
  }
}

export type Ack =
  | { ok: true; data: any; error?: undefined }
  | { ok: false; error: { code: string; message: string }; data?: undefined };

/** Socket.IO's maxHttpBufferSize on the server (signaling/server.ts): a bigger packet may close the connection. */
export const MAX_PACKET_BYTES = 256 * 1024;

export function checkAck(args: unknown[], what: string): Ack {
  if (args.length !== 1) throw new Error(`${what}: the ack has ${args.length} arguments, not 1`);
  const a = args[0] as { ok?: unknown; data?: unknown; error?: unknown };
  if (typeof a !== 'object' || a === null) throw new Error(`${what}: the ack is not an object: ${short(a)}`);
  const fields = Object.keys(a).sort().join();
  if (a.ok === true && fields === 'data,ok') return { ok: true, data: a.data };
  if (a.ok === false && fields === 'error,ok') return { ok: false, error: checkError(a.error, what) };
  throw new Error(`${what}: the ack is not {ok,data} or {ok:false,error}: ${short(a)}`);
}

// ---- the world ---------------------------------------------------------------

// Monday 2026-11-16 07:00 in New York, where the providers work 09:00-17:00.
export const MONDAY = '2026-11-16T12:00:00Z';
export const WED_10AM = '2026-11-18T15:00:00.000Z';
export const WED_11AM = '2026-11-18T16:00:00.000Z';

export interface World {
  s: TestServer;
  clock: ManualClock;
  /** Error-level log lines: each is a server fault (or a client fault logged as one). */
  errorLogs: string[];
  roomId: string;
  strangerRoomId: string;
  supportRoomId: string;
  client: string;
  provider: string;
  users: string[];
  bookings: { pending: string; confirmed: string };
  attachmentId: string;
  joinTokens: string[];
  tokens: {
    admin: string;
    client: string;
    provider: string;
    strangerClient: string;
    strangerProvider: string;
    support: string;
    clinical: string;
    bot: string;
    botElsewhere: string;
  };
  /** Every id of the world: rooms, users, bookings, the attachment. */
  ids: string[];
}

/** A real server and a world in it: a therapy room with a booking pending and one confirmed, a stranger pair, a support room. */
export async function startWorld(backend: Backend, o: { media?: boolean } = {}): Promise<World> {
  const clock = new ManualClock(MONDAY);
  const errorLogs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      const line = chunk.toString();
      try {
        const entry = JSON.parse(line) as { level: number; msg?: string; err?: { message?: string } };
        if (entry.level >= 50) errorLogs.push(`${entry.msg}: ${short(entry.err?.message ?? '')}`);
      } catch {}
      done();
    },
  });
  const s = await startTestServer({
    backend,
    clock,
    runScheduler: false,
    media: o.media ?? false,
    logger: createLogger('warn', sink),
  });
  const r = await therapyRoom(s, { client: 'client-1', provider: 'provider-1' });
  const x = await therapyRoom(s, { client: 'stranger-c', provider: 'stranger-p' });
  for (const [id, role] of [
    ['support-1', 'support'],
    ['clinical-1', 'clinical'],
  ] as const) {
    await ok(
      s.api('PUT', `/v1/users/${id}`, { token: r.admin, body: { role, displayName: id, timezone: 'UTC' } }),
    );
  }
  const support = await ok(
    s.api('POST', '/v1/rooms', { token: r.admin, body: { kind: 'support', requesterId: r.client } }),
  );
  const book = async (startsAt: string) =>
    (
      await ok(
        s.api('POST', '/v1/bookings', {
          token: r.clientToken,
          body: { roomId: r.roomId, modality: 'video', startsAt },
        }),
      )
    ).booking.id as string;
  const pending = await book(WED_10AM);
  const confirmed = await book(WED_11AM);
  await ok(s.api('POST', `/v1/bookings/${confirmed}/confirm`, { token: r.providerToken, body: {} }));
  const upload = await ok(
    fetch(`${s.url}/v1/rooms/${r.roomId}/attachments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${r.clientToken}`, 'content-type': 'audio/ogg' },
      // A recording must begin with its container's signature (Ogg: "OggS").
      body: Buffer.concat([Buffer.from('OggS'), Buffer.alloc(60)]),
    }).then(async (res) => ({ status: res.status, body: await res.json() })),
  );
  const booking = await s.bookings.get({ id: r.client, role: 'client' }, confirmed);
  const joinTokens = [r.client, r.provider].map((u) => s.bookings.joinUrl(booking, u).split('/join/')[1]!);
  const tokens = {
    admin: r.admin,
    client: r.clientToken,
    provider: r.providerToken,
    strangerClient: x.clientToken,
    strangerProvider: x.providerToken,
    support: s.token('support-1', 'support'),
    clinical: s.token('clinical-1', 'clinical'),
    bot: s.token('reminder-bot', 'bot', { rooms: ['*'] }),
    botElsewhere: s.token('other-bot', 'bot', { rooms: [x.roomId] }),
  };
  const users = [r.client, r.provider, x.client, x.provider, 'support-1', 'clinical-1'];
  return {
    s,
    clock,
    errorLogs,
    roomId: r.roomId,
    strangerRoomId: x.roomId,
    supportRoomId: support.room.id,
    client: r.client,
    provider: r.provider,
    users,
    bookings: { pending, confirmed },
    attachmentId: upload.attachmentId,
    joinTokens,
    tokens,
    ids: [r.roomId, x.roomId, support.room.id, ...users, pending, confirmed, upload.attachmentId],
  };
}

/** What must hold after a whole fuzz file: the process answers, nothing crashed, nothing was logged as a fault. */
export async function checkAfter(w: World, crashes: string[]): Promise<void> {
  const health = await within(fetch(`${w.s.url}/healthz`), '/healthz');
  if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
  if (crashes.length) throw new Error(`uncaught errors while fuzzing:\n${crashes.join('\n')}`);
  if (w.errorLogs.length) throw new Error(`logged as server faults:\n${w.errorLogs.slice(0, 10).join('\n')}`);
}

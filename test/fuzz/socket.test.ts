import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { requests } from '../../protocol/events.ts';
import { postgres } from '../helpers/backends.ts';
import { TEST_SECRET } from '../helpers/server.ts';
import {
  checkAck,
  checkAfter,
  checkError,
  FUZZ,
  fuzz,
  HEAP_GROWTH_LIMIT,
  MAX_PACKET_BYTES,
  PROPERTY_TIMEOUT_MS,
  printTally,
  RawSocket,
  recordCrashes,
  SocketClosed,
  settledHeap,
  short,
  startWorld,
  tally,
  type World,
  within,
} from './harness.ts';
import {
  encode,
  freeText,
  instants,
  numbers,
  payloads,
  Raw,
  sometimes,
  strings,
  unstorable,
  values,
} from './values.ts';

/**
 * Every Socket.IO request event, with generated payloads and argument shapes
 * (no payload, no callback, a non-function last argument, extra arguments,
 * binary), written as raw packets so the server sees exactly what a hostile
 * client could send: every request with a callback gets exactly one ack in
 * the one shape, within 10 s; nothing crashes; the sockets stay connected.
 */

// Every request event the contract defines: a new event is fuzzed as soon as it exists.
const REQUEST_EVENTS = Object.keys(requests) as (keyof typeof requests)[];
type RequestEvent = (typeof REQUEST_EVENTS)[number];

type Who = 'client' | 'provider' | 'strangerClient' | 'bot' | 'support';
const WHO: Who[] = ['client', 'provider', 'strangerClient', 'bot', 'support'];

/** Valid-looking payloads for each event (the world's ids), for payloads() to break. */
function validPayloads(w: World): Record<RequestEvent, fc.Arbitrary<unknown>> {
  // Mostly the members' room, so requests get past membership; the others for the strangers' view.
  const room = fc.oneof(
    { weight: 4, arbitrary: fc.constant(w.roomId) },
    { weight: 1, arbitrary: fc.constantFrom(w.strangerRoomId, w.supportRoomId) },
  );
  const booking = fc.constantFrom(w.bookings.pending, w.bookings.confirmed);
  const id = fc.oneof(fc.constantFrom(...w.ids), fc.uuid());
  const text = freeText;
  const clientMsgId = fc.oneof(
    { weight: 8, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: unstorable },
    { weight: 1, arbitrary: strings },
  );
  const int = (min: number, max: number) => sometimes(fc.integer({ min, max }), numbers);
  const timeRange = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.integer({ min: 0, max: 200 }).map((h) => ({
        startsAt: new Date(Date.UTC(2026, 10, 18, 14) + h * 3_600_000).toISOString(),
        endsAt: new Date(Date.UTC(2026, 10, 18, 15) + h * 3_600_000).toISOString(),
      })),
    },
    { weight: 1, arbitrary: fc.record({ startsAt: instants, endsAt: instants }) },
  );
  const media = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 });
  const dtls = fc.record({
    role: fc.constantFrom('client', 'server', 'auto'),
    fingerprints: fc.constant([{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }]),
  });
  const rtp = fc.record({
    codecs: fc.constant([{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }]),
    encodings: fc.constant([{ ssrc: 11111111 }]),
  });
  return {
    'message:send': fc.oneof(
      fc.record({ roomId: room, clientMsgId, kind: fc.constant('text'), text }),
      fc.record({
        roomId: room,
        clientMsgId,
        kind: fc.constant('availability'),
        availability: fc.array(timeRange, {
          minLength: 1,
          maxLength: 2,
        }),
      }),
      fc.record({ roomId: room, clientMsgId, kind: fc.constant('system'), meta: media }),
      fc.record({
        roomId: room,
        clientMsgId,
        kind: fc.constant('voice'),
        attachmentId: fc.constant(w.attachmentId),
      }),
      fc.record({
        roomId: room,
        clientMsgId,
        kind: fc.constant('text'),
        text,
        bookingId: booking,
      }),
    ),
    'message:history': fc.record(
      { roomId: room, beforeSeq: int(1, 60), limit: int(1, 200) },
      { requiredKeys: ['roomId'] },
    ),
    'rooms:sync': fc
      .array(fc.tuple(room, int(0, 60)), { maxLength: 3 })
      .map((pairs) => ({ cursors: Object.fromEntries(pairs) })),
    'rooms:list': fc.constantFrom(undefined, {}),
    'message:read': fc.record({ roomId: room, seq: int(0, 60) }),
    typing: fc.record({ roomId: room, typing: fc.boolean() }),
    'auth:refresh': fc.record({ token: fc.constantFrom(...Object.values(w.tokens)) }),
    'live:join': fc.oneof(
      fc.record(
        { bookingId: booking, transports: fc.subarray(['send', 'recv']), rtpCapabilities: media },
        { requiredKeys: ['bookingId'] },
      ),
      fc.record({ joinToken: fc.constantFrom(...w.joinTokens) }),
    ),
    'live:transport': fc.record({ bookingId: booking, direction: fc.constantFrom('send', 'recv') }),
    'live:connect': fc.record({ bookingId: booking, transportId: id, dtlsParameters: fc.oneof(dtls, media) }),
    'live:restartIce': fc.record({ bookingId: booking, transportId: id }),
    'live:produce': fc.record(
      {
        bookingId: booking,
        transportId: id,
        kind: fc.constantFrom('audio', 'video'),
        rtpParameters: fc.oneof(rtp, media),
        appData: media,
      },
      { requiredKeys: ['bookingId', 'transportId', 'kind', 'rtpParameters'] },
    ),
    'live:consume': fc.record({
      bookingId: booking,
      transportId: id,
      producerId: id,
      rtpCapabilities: media,
    }),
    'live:receive': fc.record({ bookingId: booking, rtpCapabilities: media }),
    'live:resume': fc.record({ bookingId: booking, consumerId: id }),
    'live:mute': fc.record({ bookingId: booking, producerId: id, paused: fc.boolean() }),
    'live:leave': fc.record({ bookingId: booking }),
    'live:end': fc.record({ bookingId: booking }),
  };
}

/** How the arguments go out: the contract's [payload, ack], and every way a client gets it wrong. */
type Shape = 'payload+ack' | 'ack only' | 'payload+extra+ack' | 'no ack' | 'non-function last';
const shapes = fc.oneof(
  { weight: 8, arbitrary: fc.constant<Shape>('payload+ack') },
  { weight: 1, arbitrary: fc.constant<Shape>('ack only') },
  { weight: 1, arbitrary: fc.constant<Shape>('payload+extra+ack') },
  { weight: 1, arbitrary: fc.constant<Shape>('no ack') },
  { weight: 1, arbitrary: fc.constant<Shape>('non-function last') },
);

/** A JWT over any claims at all (jsonwebtoken's sign refuses odd ones), HS256 with the test secret or another. */
function signed(claims: unknown, secret = TEST_SECRET): string {
  const part = (v: unknown) => Buffer.from(encode(v)).toString('base64url');
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/**
 * A Socket.IO handshake over a bare WebSocket, with any auth as its CONNECT
 * payload (socket.io-client cannot send a 10,000-deep one): 'connected', the
 * refusal's data, or 'closed' (socket.io's parser closes on a CONNECT payload
 * that is not an object).
 */
function rawHandshake(url: string, auth: unknown): Promise<unknown> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`);
    ws.onmessage = (m) => {
      const frame = String(m.data);
      if (frame.startsWith('0')) ws.send(auth === undefined ? '40' : `40${encode(auth)}`);
      else if (frame.startsWith('40')) {
        resolve('connected');
        ws.close();
      } else if (frame.startsWith('44')) {
        resolve(JSON.parse(frame.slice(2)).data);
        ws.close();
      }
    };
    ws.onclose = () => resolve('closed');
    ws.onerror = () => resolve('closed');
  });
}

interface SocketRequest {
  who: Who;
  shape: Shape;
  extra: unknown;
  call: { event: RequestEvent; payload: unknown };
}

// On PostgreSQL only: the embedded store is fuzzed through REST (rest.test.ts), and starting
// one more costs five seconds of a busy machine. The SQL behind both transports is the same.
describe.each([postgres])('Socket.IO fuzz on the $name store', (backend) => {
  let w: World;
  const recorder = recordCrashes();
  const sockets = new Map<Who, RawSocket>();
  let heapAfterWarmUp: number | undefined;
  const runs = 300;

  /** The user's socket, connected (a fresh one if the last was closed, as an oversized payload may do). */
  async function socketOf(who: Who): Promise<RawSocket> {
    const open = sockets.get(who);
    if (open?.connected) return open;
    open?.checkAcks();
    const fresh = await RawSocket.open(w.s.url, w.tokens[who]);
    sockets.set(who, fresh);
    return fresh;
  }

  /** The socket still serves: a plain request on it is answered, in the one shape. */
  async function stillServes(sock: RawSocket, after: string): Promise<void> {
    const ack = await sock.request('rooms:list', [], `rooms:list after ${after}`);
    if (ack === 'closed' || !ack.ok) throw new Error(`rooms:list after ${after} failed: ${short(ack)}`);
  }

  /** After a packet that may have closed the socket (an oversized one): it serves, or a fresh one does. */
  async function servesAfterOversized(sock: RawSocket, who: Who, after: string): Promise<void> {
    try {
      await stillServes(sock, after);
    } catch (e) {
      if (!(e instanceof SocketClosed)) throw e;
      await stillServes(await socketOf(who), `a socket closed over ${after}`);
    }
  }

  beforeAll(async () => {
    w = await startWorld(backend);
    for (const who of WHO) await socketOf(who);
    console.log(
      `Socket.IO fuzz on ${backend.name}: seed ${FUZZ.seed}, ${FUZZ.runs ?? runs} runs (FUZZ_SEED / FUZZ_RUNS to change)`,
    );
  });
  afterAll(async () => {
    recorder.stop();
    for (const s of sockets.values()) s.close();
    await w?.s.stop();
  });

  const requests = (): fc.Arbitrary<SocketRequest> => {
    const valid = validPayloads(w);
    return fc.record({
      who: fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom<Who>('client', 'provider') },
        { weight: 1, arbitrary: fc.constantFrom<Who>('strangerClient', 'bot', 'support') },
      ),
      shape: shapes,
      extra: values,
      call: fc.oneof(
        ...REQUEST_EVENTS.map((event) => ({
          weight: event === 'message:send' ? 6 : 1,
          arbitrary: payloads(valid[event]).map((payload) => ({ event, payload })),
        })),
      ),
    });
  };

  async function send(r: SocketRequest): Promise<void> {
    const sock = await socketOf(r.who);
    const { event, payload } = r.call;
    const what = `${r.who} ${event} (${r.shape})`;
    switch (r.shape) {
      case 'payload+ack':
      case 'ack only':
      case 'payload+extra+ack': {
        const args =
          r.shape === 'ack only' ? [] : r.shape === 'payload+extra+ack' ? [payload, r.extra] : [payload];
        const ack = await sock.request(event, args, what);
        tally(
          `${event} ${ack === 'closed' ? 'closed (oversized)' : ack.ok ? 'ok' : `${ack.error.code} ${ack.error.message.split(':')[0]}`}`,
        );
        if (ack === 'closed') return;
        break;
      }
      case 'no ack':
      case 'non-function last':
        sock.send(event, r.shape === 'no ack' ? [payload] : [payload, r.extra ?? 'not a function'], false);
        if (sock.lastBytes > MAX_PACKET_BYTES) return servesAfterOversized(sock, r.who, what);
        await stillServes(sock, what);
        break;
    }
    if (!sock.connected)
      throw new Error(`${what}: the server dropped the socket (${sock.disconnects.join(', ')})`);
    sock.checkAcks();
  }

  it(
    'warms up',
    async () => {
      await fuzz('warm-up', requests(), send, Math.min(40, FUZZ.runs ?? 40));
      heapAfterWarmUp = settledHeap();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers every request that has a callback exactly once, in the one ack shape, never internal; requests without one leave the socket serving',
    async () => {
      await fuzz('socket requests', requests(), send, runs);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers concurrent requests from many sockets the same way',
    async () => {
      await fuzz(
        'concurrent socket requests',
        // Not oversized ones: closing a connection would fail the others sharing its socket.
        fc.array(
          requests().filter(
            (r) => Buffer.byteLength(encode([r.call.event, r.call.payload, r.extra])) < MAX_PACKET_BYTES - 64,
          ),
          { minLength: 2, maxLength: 12 },
        ),
        async (batch) => {
          await Promise.all(batch.map(send));
        },
        Math.ceil(runs / 10),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'takes binary where text belongs (Buffers in any field) with an answer, not a crash',
    async () => {
      const valid = validPayloads(w);
      const binary = fc.constantFrom(Buffer.from('binary'), new Uint8Array(1024), Buffer.alloc(0));
      const withBinary = fc
        .tuple(fc.constantFrom(...REQUEST_EVENTS), fc.nat(), binary)
        .chain(([event, i, bin]) =>
          valid[event].map((p) => {
            if (typeof p !== 'object' || p === null) return { event, payload: bin };
            const keys = Object.keys(p);
            return { event, payload: keys.length ? { ...p, [keys[i % keys.length]!]: bin } : bin };
          }),
        );
      await fuzz(
        'binary payloads',
        fc.tuple(fc.constantFrom(...WHO), withBinary),
        async ([who, { event, payload }]) => {
          const sock = await socketOf(who);
          const oversized = Buffer.byteLength(encode(payload)) > MAX_PACKET_BYTES;
          const ack = await within(
            new Promise<unknown[] | 'closed'>((resolve) => {
              const closed = () => resolve('closed');
              sock.socket.once('disconnect', closed);
              sock.socket.emit(event, payload, (...a: unknown[]) => {
                sock.socket.off('disconnect', closed);
                resolve(a);
              });
            }),
            `${event} with binary`,
          );
          if (ack !== 'closed') checkAck(ack, `${event} with binary`);
          else if (!oversized) throw new Error(`${event} with binary: the server dropped the socket`);
        },
        Math.ceil(runs / 5),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'survives unknown and reserved event names and malformed packets: the server stays up and serves the next socket',
    async () => {
      const eventNames = fc.oneof(
        fc.constantFrom(
          'message:new',
          'presence',
          'live:started',
          'auth:expired',
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
          'error',
          'message:send ',
          '',
        ),
        fc.constantFrom(
          'connect',
          'connect_error',
          'disconnect',
          'disconnecting',
          'newListener',
          'removeListener',
        ),
        fc.string({ maxLength: 20 }),
        fc.integer(),
      );
      const malformed = fc.constantFrom(
        '2["message:send"',
        '2abc',
        '2',
        '9',
        '2{"event":"message:send"}',
        '2/admin,["rooms:list"]',
        '0{}',
        '1',
        '31234[]',
        '51-["message:send",{"_placeholder":true,"num":0}]',
        '2999999999999999999999["rooms:list"]',
        '2-1["rooms:list"]',
      );
      await fuzz(
        'unknown events and malformed packets',
        fc.record({
          who: fc.constantFrom(...WHO),
          packet: fc.oneof(
            fc.record({ event: eventNames, payload: values, ack: fc.boolean() }),
            malformed.map((raw) => ({ raw })),
          ),
        }),
        async ({ who, packet }) => {
          const sock = await socketOf(who);
          const name = 'raw' in packet ? undefined : packet.event;
          let unknownAck: Promise<unknown[] | undefined> | undefined;
          if ('raw' in packet) {
            (sock.socket.io as unknown as { engine: { write(d: string): void } }).engine.write(packet.raw);
            // After a packet like this (a DISCONNECT, a second CONNECT, half a binary event) the
            // connection is in whatever state the library leaves it: close it (the server reads the
            // packet first: one connection is in order), and a fresh socket must work.
            sock.close();
            sockets.delete(who);
            await stillServes(await socketOf(who), `another socket after ${short(packet.raw)}`);
          } else {
            unknownAck = sock.send(packet.event, [packet.payload], packet.ack)?.catch(() => undefined);
            try {
              await stillServes(sock, `the event ${short(packet.event)}`);
            } catch (e) {
              // socket.io closes a connection that sends a reserved event name.
              if (!(e instanceof SocketClosed)) throw e;
              await stillServes(await socketOf(who), `a socket closed over the event ${short(packet.event)}`);
            }
          }
          if (unknownAck) {
            // Not answered today; once unknown events are acknowledged the ack must be in the one shape.
            const early = await Promise.race([
              unknownAck,
              new Promise<undefined>((r) => setImmediate(() => r(undefined))),
            ]);
            if (early) checkAck(early, `unknown event ${short(name)}`);
          }
        },
        Math.ceil(runs / 3),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
  // Unknown events answered not_found, and oversized payloads answered payload_too_large on a socket that
  // stays open, are asserted exactly in test/integration/limits.test.ts (both transports).

  it(
    'refuses a handshake with anything but a usable token, signed or not, with unauthenticated or token_expired',
    async () => {
      // Usable claims or odd ones, field by field, so each odd one meets the server with the others usable.
      const either = <T>(usable: fc.Arbitrary<T>, odd: fc.Arbitrary<unknown>) => fc.oneof(usable, odd);
      const claims = payloads(
        fc.record(
          {
            sub: either(
              fc.constantFrom('client-1', 'provider-1', 'nobody'),
              fc.oneof(fc.constantFrom('a\u0000b', '\uD800', '\uDFFFx', 'x'.repeat(129), ''), strings),
            ),
            role: either(fc.constantFrom('client', 'provider', 'support', 'bot', 'admin'), values),
            exp: either(
              fc.constantFrom(4_000_000_000, 4_000_000_000.5),
              fc.oneof(fc.constantFrom(1, 1e300, -1), numbers),
            ),
            rooms: either(fc.constant(['*']), values),
          },
          { requiredKeys: ['sub', 'role', 'exp'] },
        ),
      );
      const auth = fc.oneof(
        { weight: 4, arbitrary: claims.map((c) => ({ token: signed(c) })) },
        { weight: 1, arbitrary: claims.map((c) => ({ token: signed(c, 'another-secret') })) },
        { weight: 1, arbitrary: fc.oneof(strings, values).map((token) => ({ token })) },
        { weight: 1, arbitrary: values },
      );
      await fuzz(
        'handshakes',
        auth,
        async (a) => {
          const outcome = await within(rawHandshake(w.s.url, a), 'handshake');
          if (outcome === 'connected' || outcome === 'closed') return;
          const { code } = checkError(outcome, 'handshake');
          if (code !== 'unauthenticated' && code !== 'token_expired')
            throw new Error(`handshake refused with ${code}`);
        },
        runs,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers an oversized payload or closes that socket, and the server serves the next one',
    async () => {
      await fuzz(
        'oversized payloads',
        fc.record({
          who: fc.constantFrom(...WHO),
          size: fc.constantFrom(256 * 1024 + 1, 400_000, 1_000_000),
          event: fc.constantFrom(...REQUEST_EVENTS),
        }),
        async ({ who, size, event }) => {
          const sock = await socketOf(who);
          const closed = new Promise<'closed'>((resolve) =>
            sock.socket.once('disconnect', () => resolve('closed')),
          );
          const answer = sock.send(
            event,
            [
              {
                roomId: w.roomId,
                clientMsgId: 'big',
                kind: 'text',
                text: new Raw(`${size} bytes`, () => JSON.stringify('a'.repeat(size))),
              },
            ],
            true,
          )!;
          const outcome = await within(
            Promise.race([
              answer.catch((e) => (e instanceof SocketClosed ? ('closed' as const) : Promise.reject(e))),
              closed,
            ]),
            `oversized ${event}`,
          );
          if (outcome !== 'closed') {
            const ack = checkAck(outcome, `oversized ${event}`);
            if (ack.ok || ack.error.code !== 'payload_too_large')
              throw new Error(`oversized ${event} answered ${short(ack)}`);
          }
          await stillServes(await socketOf(who), `an oversized ${event}`);
        },
        FUZZ.runs ? Math.min(FUZZ.runs, 6) : 6,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it('still answers /healthz, crashed nothing, logged no server fault, and its heap stayed flat', async () => {
    printTally(`socket answers on ${backend.name}`);
    for (const s of sockets.values()) s.checkAcks();
    await checkAfter(w, recorder.crashes);
    if (heapAfterWarmUp !== undefined) {
      const growth = settledHeap() - heapAfterWarmUp;
      if (growth > HEAP_GROWTH_LIMIT)
        throw new Error(`heap grew by ${Math.round(growth / 2 ** 20)} MB over the run`);
    }
  });
});

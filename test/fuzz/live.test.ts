import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { requests as contractRequests } from '../../protocol/events.ts';
import { postgres } from '../helpers/backends.ts';
import { chromeOpus as opus, chromeVp8 as vp8 } from '../media/webrtc.ts';
import {
  type Ack,
  checkAfter,
  FUZZ,
  fuzz,
  HEAP_GROWTH_LIMIT,
  PROPERTY_TIMEOUT_MS,
  printTally,
  RawSocket,
  recordCrashes,
  settledHeap,
  short,
  startWorld,
  tally,
  type World,
} from './harness.ts';
import { numbers, payloads, strings, values } from './values.ts';

/**
 * The live-session events on a running session with a real mediasoup worker:
 * both participants have joined, with real transports, producers and
 * consumers, so generated payloads reach mediasoup with ids that exist as
 * well as ids that do not. Besides the ack checks: the worker never restarts
 * (a client's payload that kills it would show as live:rejoin).
 */

// The contract's live-session events: a new one is fuzzed as soon as it exists.
const LIVE_EVENTS = (Object.keys(contractRequests) as (keyof typeof contractRequests)[]).filter(
  (e): e is Extract<keyof typeof contractRequests, `live:${string}`> => e.startsWith('live:'),
);
type LiveEvent = (typeof LIVE_EVENTS)[number];
type Who = 'client' | 'provider' | 'strangerClient';

/** An id taken from the session as it is when the request goes out (it changes as the fuzzer acts). */
class Ref {
  readonly kind: 'send' | 'recv' | 'producer' | 'theirProducer' | 'consumer';
  constructor(kind: Ref['kind']) {
    this.kind = kind;
  }
  [fc.toStringMethod](): string {
    return `Ref(${this.kind})`;
  }
}

interface Peer {
  send?: string;
  recv?: string;
  producers: string[];
  consumers: string[];
  joined: boolean;
}

describe('live-session fuzz with a real mediasoup worker', () => {
  let w: World;
  const recorder = recordCrashes();
  const sockets = new Map<Who, RawSocket>();
  const peers = new Map<Who, Peer>();
  const rejoins: string[] = [];
  let routerCaps: unknown;
  let ended = false;
  let heapAfterWarmUp: number | undefined;
  const runs = 200;

  async function socketOf(who: Who): Promise<RawSocket> {
    const open = sockets.get(who);
    if (open?.connected) return open;
    const fresh = await RawSocket.open(w.s.url, w.tokens[who]);
    fresh.socket.on('live:rejoin', (ev: unknown) => rejoins.push(short(ev)));
    // Consumers the server made for this participant: their ids are fuzzed like asked-for ones.
    fresh.socket.on('live:consumer', (ev: { consumerId?: unknown }) => {
      if (typeof ev?.consumerId === 'string') peers.get(who)?.consumers.push(ev.consumerId);
    });
    sockets.set(who, fresh);
    peers.set(who, { producers: [], consumers: [], joined: false });
    return fresh;
  }

  /** Joins (again) with both transports, as a client does after a drop; records what the answer holds. */
  async function join(who: Who): Promise<void> {
    const sock = await socketOf(who);
    const ack = await sock.request('live:join', [
      { bookingId: w.bookings.confirmed, transports: ['send', 'recv'] },
    ]);
    if (ack === 'closed' || !ack.ok) throw new Error(`${who} could not join: ${short(ack)}`);
    learn(who, 'live:join', ack);
  }

  /** What a successful answer changes: new transports, producers, consumers; a leave. */
  function learn(who: Who, event: LiveEvent, ack: Ack): void {
    if (!ack.ok) return;
    const p = peers.get(who)!;
    const d = ack.data ?? {};
    if (event === 'live:join') {
      routerCaps = d.routerRtpCapabilities ?? routerCaps;
      Object.assign(p, {
        producers: [],
        consumers: [],
        joined: true,
        send: d.transports?.send?.id,
        recv: d.transports?.recv?.id,
      });
    } else if (event === 'live:transport' && typeof d.id === 'string') {
      // Which direction it is for is not in the answer; the fuzzer may use it for either.
      p.send ??= d.id;
      p.recv ??= d.id;
    } else if (event === 'live:produce' && typeof d.producerId === 'string') p.producers.push(d.producerId);
    else if (event === 'live:consume' && typeof d.consumerId === 'string') p.consumers.push(d.consumerId);
    else if (event === 'live:leave') p.joined = false;
    // A join with receive capabilities, or live:receive: consumers the server made.
    for (const c of d.consumers ?? []) if (typeof c?.consumerId === 'string') p.consumers.push(c.consumerId);
  }

  function resolve(v: unknown, who: Who, depth = 0): unknown {
    if (v instanceof Ref) {
      const me = peers.get(who);
      const other = peers.get(who === 'provider' ? 'client' : 'provider');
      const pick = (xs: string[] | undefined) => xs?.at(-1) ?? 'none-yet';
      switch (v.kind) {
        case 'send':
          return me?.send ?? 'none-yet';
        case 'recv':
          return me?.recv ?? 'none-yet';
        case 'producer':
          return pick(me?.producers);
        case 'theirProducer':
          return pick(other?.producers);
        case 'consumer':
          return pick(me?.consumers);
      }
    }
    if (depth > 3 || typeof v !== 'object' || v === null) return v;
    if (Array.isArray(v)) return v.map((x) => resolve(x, who, depth + 1));
    const proto = Object.getPrototypeOf(v);
    // fast-check's records may have a null prototype.
    if (proto !== Object.prototype && proto !== null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      Object.defineProperty(out, k, {
        value: resolve(x, who, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }

  beforeAll(async () => {
    // PostgreSQL: its world starts in a second; the embedded store is fuzzed through REST.
    w = await startWorld(postgres, { media: true });
    // Five minutes before the confirmed session (Wednesday 16:00Z): its join window is open.
    w.clock.set('2026-11-18T15:55:00Z');
    await join('client');
    await join('provider');
    await socketOf('strangerClient');
    console.log(`live fuzz: seed ${FUZZ.seed}, ${FUZZ.runs ?? runs} runs (FUZZ_SEED / FUZZ_RUNS to change)`);
  });
  afterAll(async () => {
    recorder.stop();
    for (const s of sockets.values()) s.close();
    await w?.s.stop();
  });

  const requests = (events: readonly LiveEvent[], who: fc.Arbitrary<Who>) => {
    const booking = fc.oneof(
      { weight: 8, arbitrary: fc.constant(w.bookings.confirmed) },
      { weight: 1, arbitrary: fc.constantFrom(w.bookings.pending, 'no-such-booking') },
    );
    const ref = (kind: Ref['kind']) =>
      fc.oneof({ weight: 6, arbitrary: fc.constant(new Ref(kind)) }, { weight: 1, arbitrary: fc.uuid() });
    // Media objects: mostly the real shapes, else the same with odd values where mediasoup looks.
    const odd = fc.oneof(strings, numbers, values);
    const mostly = <T>(real: fc.Arbitrary<T>, broken: fc.Arbitrary<unknown>) =>
      fc.oneof({ weight: 3, arbitrary: real }, { weight: 1, arbitrary: broken });
    const codec = mostly(fc.constantFrom(opus, vp8), payloads(fc.constantFrom(opus, vp8)));
    const realRtp = fc.record({
      mid: fc.nat().map(String),
      codecs: fc.array(fc.constantFrom(opus, vp8), { minLength: 1, maxLength: 1 }),
      headerExtensions: fc.constant([{ uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 1 }]),
      encodings: fc.integer({ min: 1, max: 2 ** 32 - 1 }).map((ssrc) => [{ ssrc }]),
      rtcp: fc.constant({ cname: 'fuzz', reducedSize: true }),
    });
    const rtpParameters = mostly(
      realRtp,
      payloads(
        fc.record({
          mid: fc.oneof(fc.constant('0'), odd),
          codecs: mostly(fc.array(codec, { minLength: 1, maxLength: 2 }), odd),
          headerExtensions: fc.oneof(fc.constant([]), odd),
          encodings: fc.oneof(
            fc.constant([{ ssrc: 0 }, { ssrc: 2 ** 32 }]),
            fc.array(
              fc.record({ ssrc: odd, rid: odd, scalabilityMode: odd, maxBitrate: odd }, { requiredKeys: [] }),
              { maxLength: 3 },
            ),
            odd,
          ),
          rtcp: odd,
        }),
      ),
    );
    const realDtls = fc.constant({
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: Array(32).fill('AB').join(':') }],
    });
    const dtlsParameters = mostly(
      realDtls,
      payloads(
        fc.record({
          role: fc.oneof(fc.constantFrom('client', 'server', 'auto'), odd),
          fingerprints: fc.oneof(
            fc.array(
              fc.record({ algorithm: fc.oneof(fc.constantFrom('sha-1', 'sha-512', 'md5'), odd), value: odd }),
              { maxLength: 9 },
            ),
            odd,
          ),
        }),
      ),
    );
    const rtpCapabilities = mostly(
      fc.constant('router'),
      payloads(fc.record({ codecs: fc.array(codec, { maxLength: 2 }), headerExtensions: fc.constant([]) })),
    );
    const appData = fc.oneof(
      fc.constant(undefined),
      fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      values,
    );
    const valid: Record<LiveEvent, fc.Arbitrary<unknown>> = {
      'live:join': fc.record(
        { bookingId: booking, transports: fc.subarray(['send', 'recv']), rtpCapabilities },
        { requiredKeys: ['bookingId'] },
      ),
      'live:receive': fc.record({ bookingId: booking, rtpCapabilities }),
      'live:transport': fc.record({ bookingId: booking, direction: fc.constantFrom('send', 'recv') }),
      'live:connect': fc.record({
        bookingId: booking,
        transportId: fc.oneof(ref('send'), ref('recv')),
        dtlsParameters,
      }),
      'live:restartIce': fc.record({ bookingId: booking, transportId: fc.oneof(ref('send'), ref('recv')) }),
      'live:produce': fc.record(
        {
          bookingId: booking,
          transportId: fc.oneof({ weight: 4, arbitrary: ref('send') }, { weight: 1, arbitrary: ref('recv') }),
          kind: fc.constantFrom('audio', 'video'),
          rtpParameters,
          appData,
        },
        { requiredKeys: ['bookingId', 'transportId', 'kind', 'rtpParameters'] },
      ),
      'live:consume': fc.record({
        bookingId: booking,
        transportId: fc.oneof({ weight: 4, arbitrary: ref('recv') }, { weight: 1, arbitrary: ref('send') }),
        producerId: fc.oneof(
          { weight: 4, arbitrary: ref('theirProducer') },
          { weight: 1, arbitrary: ref('producer') },
        ),
        rtpCapabilities,
      }),
      'live:resume': fc.record({ bookingId: booking, consumerId: ref('consumer') }),
      'live:mute': fc.record({ bookingId: booking, producerId: ref('producer'), paused: fc.boolean() }),
      'live:leave': fc.record({ bookingId: booking }),
      'live:end': fc.record({ bookingId: booking }),
    };
    return fc.record({
      who,
      call: fc.oneof(
        ...events.map((event) => ({
          weight: event === 'live:produce' || event === 'live:consume' || event === 'live:connect' ? 3 : 1,
          arbitrary: payloads(valid[event]).map((payload) => ({ event, payload })),
        })),
      ),
    });
  };

  async function send({
    who,
    call,
  }: {
    who: Who;
    call: { event: LiveEvent; payload: unknown };
  }): Promise<void> {
    const peer = peers.get(who);
    if (who !== 'strangerClient' && !peer?.joined) await join(who);
    const sock = await socketOf(who);
    let payload = resolve(call.payload, who);
    // 'router': the router's own capabilities, a real receiver's, so consume gets as far as mediasoup.
    if ((payload as { rtpCapabilities?: unknown })?.rtpCapabilities === 'router') {
      payload = { ...(payload as object), rtpCapabilities: routerCaps };
    }
    const what = `${who} ${call.event}`;
    const ack = await sock.request(call.event, [payload], what);
    if (ack === 'closed') return;
    tally(`${call.event} ${ack.ok ? 'ok' : `${ack.error.code} ${ack.error.message.slice(0, 60)}`}`);
    // Once the session has ended its media is gone, and media_unavailable is the answer (see the report).
    if (!ack.ok && ack.error.code === 'media_unavailable' && !ended)
      throw new Error(`${what}: media_unavailable on a running session: ${short(ack.error)}`);
    if (ack.ok && call.event === 'live:end') ended = true;
    learn(who, call.event, ack);
    if (rejoins.length)
      throw new Error(`${what}: the media worker restarted (live:rejoin ${rejoins.join(', ')})`);
    if (!sock.connected) throw new Error(`${what}: the server dropped the socket`);
    sock.checkAcks();
  }

  // The provider's live:end would end the session for every later run: the last property.
  const beforeTheEnd = LIVE_EVENTS.filter((e) => e !== 'live:end');

  it(
    'warms up',
    async () => {
      await fuzz(
        'warm-up',
        requests(beforeTheEnd, fc.constantFrom<Who>('client', 'provider')),
        send,
        Math.min(30, FUZZ.runs ?? 30),
      );
      heapAfterWarmUp = settledHeap();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers every live request once, in the one shape, never internal, and the media worker never restarts',
    async () => {
      await fuzz(
        'live requests',
        requests(LIVE_EVENTS, fc.constantFrom<Who>('client', 'provider', 'strangerClient')).filter(
          (r) => !(r.who === 'provider' && r.call.event === 'live:end'),
        ),
        send,
        runs,
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'answers the provider ending the session with odd payloads, and whatever follows it',
    async () => {
      await fuzz(
        'live:end and after',
        requests(LIVE_EVENTS, fc.constantFrom<Who>('provider', 'client')),
        async (r) => {
          try {
            await send(r);
          } catch (e) {
            // Once the session has ended nobody can join it again; that is an answer, not a fault.
            if (!/could not join: .*"ok":false/.test((e as Error).message)) throw e;
          }
        },
        Math.ceil(runs / 5),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it('still answers /healthz, crashed nothing, logged no server fault, and its heap stayed flat', async () => {
    printTally('live answers');
    for (const s of sockets.values()) s.checkAcks();
    await checkAfter(w, recorder.crashes);
    if (heapAfterWarmUp !== undefined) {
      const growth = settledHeap() - heapAfterWarmUp;
      if (growth > HEAP_GROWTH_LIMIT)
        throw new Error(`heap grew by ${Math.round(growth / 2 ** 20)} MB over the run`);
    }
  });
});

import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import {
  checkAfter,
  FUZZ,
  fuzz,
  HEAP_GROWTH_LIMIT,
  PROPERTY_TIMEOUT_MS,
  printTally,
  type RestRequest,
  recordCrashes,
  restCall,
  settledHeap,
  startWorld,
  type World,
} from './harness.ts';
import {
  asText,
  dates,
  encode,
  freeText,
  Huge,
  instants,
  MARK,
  numbers,
  payloads,
  Raw,
  sometimes,
  strings,
  unstorable,
} from './values.ts';

/**
 * Every REST route, with generated bodies, paths, queries, tokens and
 * content types: never a 5xx, never a hang, every error in the contract's
 * shape with its code's status, and the server healthy afterwards.
 */

/** Path segments: the world's ids, and ones Express and our schemas must refuse. */
const oddSegments = fc.constantFrom(
  '%FF',
  '%',
  '%E0%A4%A',
  '%ED%A0%80',
  '%00',
  'a%00b',
  '%2F',
  '..%2F..',
  '__proto__',
  'constructor',
  'a'.repeat(129),
  'a'.repeat(4_000),
  '%F0%9F%98%80',
  '%C3%BC',
  '%20',
  '+',
  '*',
);

/** A query string: known keys and odd ones, values of every kind, some not valid percent-encoding. */
function query(known: string[]): fc.Arbitrary<string> {
  const key = fc.oneof(
    fc.constantFrom(...known),
    fc.constantFrom('__proto__', 'constructor', 'roomId', '%FF', ''),
  );
  const value = fc.oneof(
    // Short enough that the request stays under Node's 16 KB header limit (past it Node answers 431 itself).
    strings.filter((v) => (asText(v)?.length ?? 0) <= 2_000).map((v) => safeEncode(asText(v) ?? '')),
    numbers.map((n) => encodeURIComponent(typeof n === 'number' ? String(n) : encode(n))),
    instants.map(encodeURIComponent),
    fc.constantFrom('%FF', '%', '%ED%A0%80', '1&limit=2', ''),
  );
  return fc
    .array(fc.tuple(key, value), { maxLength: 4 })
    .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}` : ''));
}

function toQuery(params: Record<string, unknown>): string {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined);
  const value = (v: unknown) =>
    safeEncode((asText(v) ?? (v instanceof Raw ? v.text() : String(v))).slice(0, 2_000));
  return pairs.length ? `?${pairs.map(([k, v]) => `${k}=${value(v)}`).join('&')}` : '';
}

/** encodeURIComponent, except that a lone surrogate (which it refuses) goes out as the bytes of one. */
function safeEncode(s: string): string {
  return s.isWellFormed()
    ? encodeURIComponent(s)
    : encodeURIComponent(s.toWellFormed()).replaceAll('%EF%BF%BD', '%ED%A0%80');
}

const rawBodies = fc.record({
  body: fc.oneof(
    fc.constantFrom(
      '',
      '{',
      '{"a":',
      'null',
      '"text"',
      '[]',
      '1',
      'true',
      '{"a":1}{"b":2}',
      '\u0000',
      '{"__proto__":{"x":1}}',
      `{"text":"${MARK}"`,
    ),
    fc.string({ unit: 'binary', maxLength: 64 }),
    fc.constantFrom(new Huge('[', 300_000), new Huge('a', 300_000)).map((h) => h.value),
    fc.uint8Array({ maxLength: 256 }),
  ),
  type: fc.constantFrom(
    undefined,
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-16',
    'application/json; charset=latin1',
    'application/json; charset=klingon',
    'application/vnd.api+json',
    '*/*',
    'garbage',
    'audio/ogg',
    'video/webm',
  ),
  encoding: fc.constantFrom(undefined, undefined, 'gzip', 'deflate', 'br', 'identity', 'compress', 'zstd'),
});

function routes(w: World) {
  const t = w.tokens;
  const id = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...w.ids) },
    { weight: 1, arbitrary: oddSegments },
  );
  const room = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(w.roomId, w.strangerRoomId, w.supportRoomId) },
    { weight: 1, arbitrary: oddSegments },
  );
  const booking = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(w.bookings.pending, w.bookings.confirmed) },
    { weight: 1, arbitrary: oddSegments },
  );
  const user = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...w.users, 'new-user') },
    { weight: 1, arbitrary: oddSegments },
  );
  // Valid values: the mutations in payloads() break them.
  // Valid values, now and then an odd one of the same kind; payloads() breaks whole fields too.
  const text = freeText;
  const clientMsgId = fc.oneof(
    { weight: 8, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: unstorable },
    { weight: 1, arbitrary: strings },
  );
  const int = (min: number, max: number) => sometimes(fc.integer({ min, max }), numbers);
  const future = fc
    .tuple(fc.integer({ min: 18, max: 27 }), fc.integer({ min: 14, max: 21 }), fc.constantFrom(0, 30))
    .map(([d, h, m]) => new Date(Date.UTC(2026, 10, d, h, m)).toISOString());
  const timeRange = fc.oneof(
    fc.tuple(future, fc.integer({ min: 1, max: 4 })).map(([startsAt, hours]) => ({
      startsAt,
      endsAt: new Date(Date.parse(startsAt) + hours * 3_600_000).toISOString(),
    })),
    fc.record({ startsAt: instants, endsAt: instants }),
  );
  const someday = sometimes(future, instants);

  const message = fc.oneof(
    fc.record({ clientMsgId, kind: fc.constant('text'), text }),
    fc.record({
      clientMsgId,
      kind: fc.constantFrom('voice', 'video'),
      attachmentId: fc.constant(w.attachmentId),
    }),
    fc.record({
      clientMsgId,
      kind: fc.constant('availability'),
      availability: fc.array(timeRange, { minLength: 1, maxLength: 3 }),
    }),
    fc.record({
      clientMsgId,
      kind: fc.constant('system'),
      text,
      meta: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    }),
    fc.record({ clientMsgId, kind: fc.constant('text'), text, bookingId: booking }),
  );
  const putUser = fc.record(
    {
      role: fc.constantFrom('client', 'provider', 'support', 'clinical', 'bot', 'admin'),
      displayName: text,
      timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata'),
      specialty: fc.constantFrom('therapy', 'psychiatry'),
      workingHours: fc.dictionary(
        fc.constantFrom('mon', 'tue', 'wed', 'sun'),
        fc.constantFrom(
          [['09:00', '17:00']],
          [['00:00', '24:00']],
          [
            ['08:00', '12:00'],
            ['13:00', '18:00'],
          ],
          [],
        ),
      ),
      supervisor: fc.boolean(),
    },
    { requiredKeys: ['role', 'displayName', 'timezone'] },
  );
  const putPlan = fc.record(
    {
      kind: fc.constantFrom('out_of_pocket', 'organization', 'eap', 'bh_insurance'),
      includesMessaging: fc.boolean(),
      liveSessionsPerPeriod: int(0, 1000),
      messagingSessionsPerPeriod: int(0, 1000),
      periodStart: sometimes(
        fc
          .date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString().slice(0, 10)),
        dates,
      ),
    },
    { requiredKeys: ['kind', 'includesMessaging', 'liveSessionsPerPeriod', 'periodStart'] },
  );
  const createRoom = fc.oneof(
    fc.record({
      kind: fc.constant('therapy'),
      clientId: user,
      providerId: user,
      service: fc.constantFrom('therapy', 'psychiatry'),
    }),
    fc.record({ kind: fc.constant('support'), requesterId: user }),
  );
  const createBooking = fc.record(
    {
      roomId: fc.constantFrom(w.roomId, w.strangerRoomId),
      modality: fc.constantFrom('video', 'audio', 'chat', 'messaging'),
      startsAt: someday,
      durationMin: int(15, 240),
      purchase: fc.boolean(),
    },
    { requiredKeys: ['roomId', 'modality', 'startsAt'] },
  );
  const historyQuery = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({ beforeSeq: int(1, 60), limit: int(1, 200) }, { requiredKeys: [] }).map(toQuery),
    },
    { weight: 1, arbitrary: query(['beforeSeq', 'limit']) },
  );
  const slotsQuery = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record(
          {
            from: future,
            days: fc.integer({ min: 1, max: 31 }),
            durationMin: fc.integer({ min: 15, max: 240 }),
          },
          { requiredKeys: [] },
        )
        .map(({ from, days, durationMin }) =>
          toQuery({
            from,
            to: from && days ? new Date(Date.parse(from) + days * 86_400_000).toISOString() : undefined,
            durationMin,
          }),
        ),
    },
    { weight: 1, arbitrary: query(['from', 'to', 'durationMin']) },
  );
  const bookingsQuery = fc.oneof(
    {
      weight: 3,
      arbitrary: fc
        .record(
          {
            roomId: fc.constantFrom(w.roomId, w.strangerRoomId),
            status: fc.constantFrom('confirmed', 'cancelled', 'pending_confirmation'),
          },
          { requiredKeys: [] },
        )
        .map(toQuery),
    },
    { weight: 1, arbitrary: query(['roomId', 'status']) },
  );

  type Req = Omit<RestRequest, 'authorization'>;
  type Who = keyof World['tokens'];
  /** A route's requests, and whose token fits it (used most of the time, so requests get past auth). */
  type Route = { who: Who[]; gen: fc.Arbitrary<Req>; weight?: number };
  const json = (method: string, path: fc.Arbitrary<string>, body: fc.Arbitrary<unknown>): fc.Arbitrary<Req> =>
    fc
      .tuple(
        path,
        fc.oneof(
          { weight: 8, arbitrary: payloads(body).map((json) => ({ json })) },
          { weight: 1, arbitrary: rawBodies.map((raw) => ({ raw })) },
        ),
      )
      .map(([p, b]) => ({ method, path: p, ...b }));
  const get = (path: fc.Arbitrary<string>): fc.Arbitrary<Req> =>
    path.map((p) => ({ method: 'GET', path: p }));
  const members: Who[] = ['client', 'provider'];

  const all: Route[] = [
    {
      who: ['admin'],
      gen: json(
        'PUT',
        user.map((u) => `/v1/users/${u}`),
        putUser,
      ),
    },
    {
      who: ['admin'],
      gen: json(
        'PUT',
        user.map((u) => `/v1/users/${u}/plan`),
        putPlan,
      ),
    },
    { who: ['admin'], gen: json('POST', fc.constant('/v1/rooms'), createRoom) },
    { who: [...members, 'support'], gen: get(fc.constant('/v1/rooms')) },
    { who: [...members, 'support', 'clinical'], gen: get(room.map((r) => `/v1/rooms/${r}`)) },
    {
      who: [...members, 'support'],
      gen: get(fc.tuple(room, historyQuery).map(([r, q]) => `/v1/rooms/${r}/messages${q}`)),
    },
    {
      who: ['provider', 'bot', 'support'],
      gen: json(
        'POST',
        room.map((r) => `/v1/rooms/${r}/messages`),
        message,
      ),
    },
    {
      who: ['support', 'client'],
      gen: json(
        'POST',
        room.map((r) => `/v1/rooms/${r}/escalations`),
        fc.record({ to: fc.constantFrom('supervisor', 'clinical') }),
      ),
    },
    {
      who: members,
      gen: fc
        .tuple(room, rawBodies)
        .map(([r, raw]) => ({ method: 'POST', path: `/v1/rooms/${r}/attachments`, raw })),
    },
    { who: members, gen: get(fc.tuple(room, id).map(([r, a]) => `/v1/rooms/${r}/attachments/${a}`)) },
    {
      who: members,
      gen: get(fc.tuple(user, slotsQuery).map(([u, q]) => `/v1/providers/${u}/slots${q}`)),
    },
    { who: ['client', 'provider'], gen: json('POST', fc.constant('/v1/bookings'), createBooking), weight: 2 },
    { who: members, gen: get(bookingsQuery.map((q) => `/v1/bookings${q}`)) },
    { who: members, gen: get(booking.map((b) => `/v1/bookings/${b}`)) },
    {
      who: ['provider'],
      gen: json(
        'POST',
        booking.map((b) => `/v1/bookings/${b}/confirm`),
        fc.constant({}),
      ),
    },
    {
      who: ['provider'],
      gen: json(
        'POST',
        booking.map((b) => `/v1/bookings/${b}/decline`),
        fc.constant({}),
      ),
    },
    {
      who: members,
      gen: json(
        'POST',
        booking.map((b) => `/v1/bookings/${b}/cancel`),
        fc.record({ reason: text }, { requiredKeys: [] }),
      ),
    },
    {
      who: members,
      gen: json(
        'POST',
        booking.map((b) => `/v1/bookings/${b}/reschedule`),
        fc.record(
          { startsAt: fc.oneof(fc.constant('2026-11-19T15:00:00.000Z'), instants), purchase: fc.boolean() },
          { requiredKeys: ['startsAt'] },
        ),
      ),
    },
    { who: ['client'], gen: get(fc.constant('/v1/credits')) },
    {
      who: ['client'],
      gen: json(
        'POST',
        fc.constant('/v1/credits/purchase'),
        fc.record({ count: int(1, 20), paymentRef: text }),
      ),
    },
    {
      who: members,
      gen: get(
        fc
          .oneof(fc.constantFrom(...w.joinTokens), oddSegments, fc.constant('a.b.c'))
          .map((j) => `/v1/join/${j}`),
      ),
    },
    // Routes that do not exist, and methods a route does not take.
    {
      who: ['admin', 'client'],
      gen: fc
        .tuple(
          fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'),
          fc.constantFrom(
            '/v1/rooms',
            `/v1/rooms/${w.roomId}`,
            '/v1/nothing',
            '/v1/bookings/x/explode',
            '/v2/rooms',
            '/healthz',
            '/join/x',
            '/%FF',
            '/v1/%FF',
          ),
        )
        .map(([method, path]) => ({ method, path })),
    },
  ];
  const anyToken = fc.constantFrom(...Object.values(t)).map((tok) => `Bearer ${tok}`);
  const broken = fc.constantFrom(
    undefined,
    'Bearer ',
    'Bearer a.b.c',
    `bearer ${t.client}`,
    `Basic ${t.client}`,
    `Bearer ${t.client} `,
    `Bearer ${'x'.repeat(4_000)}`,
    'Bearer \u00ff\u00fe',
  );
  return fc
    .oneof(
      ...all.map(({ who, gen, weight = 1 }) => ({
        weight,
        arbitrary: fc.tuple(
          gen,
          fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...who).map((k) => `Bearer ${t[k]}`) },
            { weight: 3, arbitrary: anyToken },
            { weight: 1, arbitrary: broken },
          ),
        ),
      })),
    )
    .map(([r, authorization]): RestRequest => ({ ...r, authorization }));
}

describe.each(backends)('REST fuzz on the $name store', (backend) => {
  let w: World;
  const recorder = recordCrashes();
  let heapAfterWarmUp: number | undefined;
  // The embedded store shares this process's CPU: fewer runs there.
  const runs = backend.name === 'embedded' ? 300 : 400;

  beforeAll(async () => {
    w = await startWorld(backend);
    console.log(
      `REST fuzz on ${backend.name}: seed ${FUZZ.seed}, ${FUZZ.runs ?? runs} runs (FUZZ_SEED / FUZZ_RUNS to change)`,
    );
  });
  afterAll(async () => {
    recorder.stop();
    await w?.s.stop();
  });

  it(
    'warms up: every route answers a valid-ish request without a 5xx',
    async () => {
      await fuzz(
        'warm-up',
        routes(w),
        (r) => restCall(w.s.url, r).then(() => {}),
        Math.min(40, FUZZ.runs ?? 40),
      );
      heapAfterWarmUp = settledHeap();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'never answers 5xx, never hangs, and every error is { error: { code, message } } with a known code and its status',
    async () => {
      await fuzz('REST requests', routes(w), (r) => restCall(w.s.url, r).then(() => {}), runs);
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'a burst of concurrent requests is answered the same way',
    async () => {
      await fuzz(
        'concurrent REST requests',
        fc.array(routes(w), { minLength: 2, maxLength: 12 }),
        async (batch) => {
          await Promise.all(batch.map((r) => restCall(w.s.url, r)));
        },
        Math.ceil(runs / 10),
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it('still answers /healthz, crashed nothing, logged no server fault, and its heap stayed flat', async () => {
    printTally(`REST answers on ${backend.name}`);
    await checkAfter(w, recorder.crashes);
    if (heapAfterWarmUp !== undefined) {
      const growth = settledHeap() - heapAfterWarmUp;
      if (growth > HEAP_GROWTH_LIMIT)
        throw new Error(`heap grew by ${Math.round(growth / 2 ** 20)} MB over the run`);
    }
  });
});

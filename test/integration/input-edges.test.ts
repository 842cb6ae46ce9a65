import { Writable } from 'node:stream';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import { backends } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { rawRequest, request, startTestServer, TEST_SECRET, type TestServer } from '../helpers/server.ts';

// Monday 2026-11-16 07:00 in New York, where the provider works 09:00-17:00.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';

const NUL = 'before\u0000after';
const LONE = 'before\uD800after';

/**
 * Values the database cannot store, paths that cannot be decoded and bodies
 * that cannot be parsed are the client's fault: invalid_input naming the
 * field, never `internal`, never the value itself in the answer, and nothing
 * logged at error level.
 */
describe.each(backends)('input the store cannot hold, on the $name store', (backend) => {
  let s: TestServer;
  let r: Awaited<ReturnType<typeof therapyRoom>>;
  let bookingId: string;
  const clock = new ManualClock(MONDAY);
  const errorLines: string[] = [];

  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        const line = chunk.toString();
        if (JSON.parse(line).level >= 50) errorLines.push(line);
        done();
      },
    });
    s = await startTestServer({ backend, clock, runScheduler: false, logger: createLogger('info', sink) });
    r = await therapyRoom(s);
    const booked = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
    });
    expect(booked.status).toBe(201);
    bookingId = booked.body.booking.id;
  });
  afterAll(() => s?.stop());

  /** invalid_input whose message names `field` and does not contain the value sent. */
  const refused = (error: { code: string; message: string } | undefined, field: string, value: string) => {
    expect(error?.code).toBe('invalid_input');
    expect(error?.message).toMatch(new RegExp(`(^|; )${field.replace(/\./g, '\\.')}: `));
    expect(error?.message).not.toContain(value);
    expect(error?.message).not.toContain('before');
  };

  it('refuses NUL and lone surrogates in message text, clientMsgId and meta over a socket, naming the field', async () => {
    const sock = await s.connect(r.clientToken);
    const base = { roomId: r.roomId, clientMsgId: 'ok-id', kind: 'text', text: 'hello' };
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ text: NUL }, 'text', NUL],
      [{ text: LONE }, 'text', LONE],
      [{ clientMsgId: NUL }, 'clientMsgId', NUL],
      [{ clientMsgId: LONE }, 'clientMsgId', LONE],
    ];
    for (const [over, field, value] of cases) {
      const ack = await rawRequest(sock, 'message:send', { ...base, ...over });
      expect(ack.ok, `${field} ${JSON.stringify(value)}`).toBe(false);
      if (!ack.ok) refused(ack.error, field, value);
    }
    // meta is bots' and the server's only; a bot's NUL in a nested value or a key is refused too.
    const bot = await s.connect(s.token('reminder-bot', 'bot', { rooms: ['*'] }));
    const metaCases: Array<[unknown, string, string]> = [
      [{ note: NUL }, 'meta.note', NUL],
      [{ deep: { list: ['fine', LONE] } }, 'meta.deep.list.1', LONE],
      [{ [NUL]: 'value' }, 'meta', NUL],
    ];
    for (const [meta, field, value] of metaCases) {
      const ack = await rawRequest(bot, 'message:send', { ...base, kind: 'system', clientMsgId: 'm', meta });
      expect(ack.ok).toBe(false);
      if (!ack.ok) refused(ack.error, field, value);
    }
  });

  it('refuses meta nested deeper than a JSON document needs, without overflowing the stack', async () => {
    const bot = s.token('reminder-bot', 'bot', { rooms: ['*'] });
    const post = (meta: string) =>
      fetch(`${s.url}/v1/rooms/${r.roomId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bot}`, 'content-type': 'application/json' },
        body: `{"clientMsgId":"deep","kind":"system","meta":${meta}}`,
      }).then(async (res) => ({ status: res.status, body: await res.json() }));
    // JSON.parse takes this; JSON.stringify (and any unbounded walk) would overflow the stack.
    const deep = await post(`{"deep":${'['.repeat(10_000)}1${']'.repeat(10_000)}}`);
    expect(deep).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
    expect(deep.body.error.message).toMatch(/^meta\.deep(\.0)*: nested more than 10 levels deep$/);
    const proto = await post('{"a":{"__proto__":{"x":1}}}');
    expect(proto.body.error.message).toBe('meta.a: a key: may not be __proto__');
    const fine = await post(`{"nested":${'['.repeat(9)}1${']'.repeat(9)}}`);
    expect(fine.status).toBe(201);
  });

  it('refuses NUL in every stored free text over REST: message text, displayName, paymentRef, cancel reason', async () => {
    const posted = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.providerToken,
      body: { clientMsgId: 'p1', kind: 'text', text: NUL },
    });
    expect(posted.status).toBe(400);
    refused(posted.body.error, 'text', NUL);

    const user = await s.api('PUT', '/v1/users/someone-new', {
      token: r.admin,
      body: { role: 'client', displayName: NUL, timezone: 'UTC' },
    });
    expect(user.status).toBe(400);
    refused(user.body.error, 'displayName', NUL);

    const zone = await s.api('PUT', '/v1/users/someone-new', {
      token: r.admin,
      body: { role: 'client', displayName: 'Someone', timezone: `UTC${'\u0000'}` },
    });
    expect(zone.status).toBe(400);
    expect(zone.body.error.code).toBe('invalid_input');

    const bought = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 1, paymentRef: NUL },
    });
    expect(bought.status).toBe(400);
    refused(bought.body.error, 'paymentRef', NUL);

    const cancelled = await s.api('POST', `/v1/bookings/${bookingId}/cancel`, {
      token: r.clientToken,
      body: { reason: LONE },
    });
    expect(cancelled.status).toBe(400);
    refused(cancelled.body.error, 'reason', LONE);
    expect(
      (await s.api('GET', `/v1/bookings/${bookingId}`, { token: r.clientToken })).body.booking.status,
    ).toBe('pending_confirmation');
  });

  it('answers a path that is not valid percent-encoding with invalid_input, not a server error', async () => {
    for (const path of ['/v1/rooms/%FF/messages', '/v1/bookings/%E0%A4%A', '/v1/users/%ED%A0%80/plan']) {
      const method = path.endsWith('/plan') ? 'PUT' : 'GET';
      const res = await s.api(method, path, { token: r.admin, body: method === 'PUT' ? {} : undefined });
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe('invalid_input');
    }
    const nul = await s.api('GET', '/v1/bookings/a%00b', { token: r.clientToken });
    expect(nul.status).toBe(400);
    expect(nul.body.error.message).toMatch(/^id: /);
  });

  it('answers bodies the parser cannot read (bad gzip, unknown charset) with a 4xx and a code', async () => {
    const path = `/v1/rooms/${r.roomId}/messages`;
    const headers = { authorization: `Bearer ${r.providerToken}`, 'content-type': 'application/json' };
    const gzip = await fetch(s.url + path, {
      method: 'POST',
      headers: { ...headers, 'content-encoding': 'gzip' },
      body: 'this is not gzip',
    });
    expect(gzip.status).toBe(400);
    expect((await gzip.json()).error.code).toBe('invalid_input');
    const charset = await fetch(s.url + path, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json; charset=klingon' },
      body: '{}',
    });
    expect(charset.status).toBe(400);
    expect((await charset.json()).error.code).toBe('invalid_input');
  });

  it('answers tokens with NUL, garbage or impossible claims with unauthenticated', async () => {
    const signed = (claims: Record<string, unknown>) => mintToken(TEST_SECRET, claims as never);
    const tokens = [
      `${r.clientToken}\u0000`,
      'a.b.c',
      '\u0000',
      signed({ sub: NUL, role: 'client' }),
      signed({ sub: LONE, role: 'client' }),
      signed({ sub: 'bot-x', role: 'bot', rooms: [NUL] }),
    ];
    for (const token of tokens) {
      const ack = await new Promise<unknown>((resolve) => {
        import('socket.io-client').then(({ io }) => {
          const sock = io(s.url, {
            auth: { token },
            transports: ['websocket'],
            reconnection: false,
            forceNew: true,
          });
          sock.once('connect', () => {
            sock.disconnect();
            resolve('connected');
          });
          sock.once('connect_error', (e: Error & { data?: unknown }) => resolve(e.data));
        });
      });
      expect(ack).toMatchObject({ code: 'unauthenticated' });
    }
    // Over REST, a NUL cannot travel in a header; a signed token with impossible claims can.
    for (const token of tokens.slice(3)) {
      const res = await s.api('GET', '/v1/rooms', { token });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('unauthenticated');
    }
  });

  it('answers sequence numbers past what the store counts to with invalid_input', async () => {
    const big = 2 ** 31;
    const rest = await s.api('GET', `/v1/rooms/${r.roomId}/messages?beforeSeq=${big}`, {
      token: r.clientToken,
    });
    expect(rest.status).toBe(400);
    expect(rest.body.error.message).toMatch(/^beforeSeq: /);
    const sock = await s.connect(r.clientToken);
    const history = await request(sock, 'message:history', { roomId: r.roomId, beforeSeq: big });
    expect(history).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    const sync = await request(sock, 'rooms:sync', { cursors: { [r.roomId]: big } });
    expect(sync).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    if (!sync.ok) expect(sync.error.message).toMatch(/^cursors\.[^:]+: /);
  });

  it('refuses a signed token whose expiry no date can hold, at connection and on auth:refresh', async () => {
    const forever = jwt.sign({ sub: r.client, role: 'client', exp: 1e300 }, TEST_SECRET);
    const res = await s.api('GET', '/v1/rooms', { token: forever });
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    const sock = await s.connect(r.clientToken);
    const refreshed = await request(sock, 'auth:refresh', { token: forever });
    expect(refreshed).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
  });

  // Found by the REST fuzzer (test/fuzz/rest.test.ts, FUZZ_SEED=12): PostgreSQL has no year 0.
  it('refuses a plan period that starts in year 0, which no date column holds', async () => {
    const res = await s.api('PUT', `/v1/users/${r.client}/plan`, {
      token: r.admin,
      body: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 2,
        periodStart: '0000-01-01',
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_input' });
    expect(res.body.error.message).toMatch(/^periodStart: /);
  });

  // Found by the REST fuzzer (test/fuzz/rest.test.ts, FUZZ_SEED=11 FUZZ_RUNS=1418).
  it('does not repeat a payment reference back in the conflict it causes', async () => {
    const paymentRef = 'card ending 4242, for my anxiety sessions';
    const first = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 2, paymentRef },
    });
    expect(first.status).toBe(201);
    const again = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 1, paymentRef },
    });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(again.body.error.message).toMatch(/^paymentRef: /);
    expect(again.body.error.message).not.toContain('anxiety');
  });

  // Seen in the fuzzers' answer statistics (FUZZ_STATS=1): zod 4 issues carry no input, so every wrong type read as missing.
  it('names a field of the wrong type as wrong, not as missing', async () => {
    const res = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: '2', paymentRef: 7 },
    });
    expect(res.body.error).toEqual({
      code: 'invalid_input',
      message:
        'count: Invalid input: expected number, received string; paymentRef: Invalid input: expected string, received number',
    });
    const missing = await s.api('POST', '/v1/credits/purchase', { token: r.clientToken, body: { count: 2 } });
    expect(missing.body.error.message).toBe('paymentRef: required');
  });

  // Found by the REST fuzzer (test/fuzz/rest.test.ts, FUZZ_SEED=22 FUZZ_RUNS=2500, concurrent bursts).
  it('refuses a session so far ahead that its end is past the year 9999', async () => {
    const eap = await therapyRoom(s, {
      client: 'eap-c',
      provider: 'eap-p',
      plan: {
        kind: 'eap',
        includesMessaging: true,
        liveSessionsPerPeriod: 1,
        messagingSessionsPerPeriod: 1,
        periodStart: '2026-11-01',
      },
    });
    const res = await s.api('POST', '/v1/bookings', {
      token: eap.clientToken,
      body: { roomId: eap.roomId, modality: 'messaging', startsAt: '9999-12-31T23:59:59.999Z' },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^startsAt: /);
  });

  it('logged nothing at error level: none of the above was a server fault', () => {
    expect(errorLines).toEqual([]);
  });
});

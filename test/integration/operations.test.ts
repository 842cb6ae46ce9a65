import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestAnswer, RequestEvent, RequestInput } from '../../protocol/index.ts';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { capturedLogger, metricValue } from '../helpers/metrics.ts';
import { nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';
import { opusParameters } from '../media/helpers.ts';

// Monday 07:00 in New York; the session is on Wednesday at 10:00 (15:00Z), 50 minutes.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';
const IN_WINDOW = '2026-11-18T14:55:00Z';

async function ack<E extends RequestEvent>(
  socket: Socket,
  event: E,
  payload?: RequestInput<E>,
): Promise<RequestAnswer<E>> {
  const a = await request(socket, event, payload);
  if (!a.ok) throw new Error(`${event}: ${JSON.stringify(a.error)}`);
  return a.data;
}

describe('operations: metrics and the access log, on a server with a real media worker', () => {
  let s: TestServer;
  const clock = new ManualClock(MONDAY);
  const captured = capturedLogger();
  const scrape = async () => {
    const res = await fetch(`${s.url}/metrics`);
    expect(res.status).toBe(200);
    return res.text();
  };

  beforeAll(async () => {
    s = await startTestServer({
      backend: embedded,
      clock,
      runScheduler: false,
      media: true,
      logger: captured.log,
    });
  });
  afterAll(() => s?.stop());

  it('exports live values during a live session and a messaging burst', async () => {
    const r = await therapyRoom(s, { client: 'mc', provider: 'mp' });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'audio', startsAt: WED_10AM },
    });
    expect(b.status).toBe(201);
    const bookingId = b.body.booking.id as string;
    await s.api('POST', `/v1/bookings/${bookingId}/confirm`, { token: r.providerToken });
    clock.set(IN_WINDOW);
    const cs = await s.connect(r.clientToken);
    const ps = await s.connect(r.providerToken);

    let m = await scrape();
    expect(metricValue(m, 'talkroom_sockets', { role: 'client' })).toBe(1);
    expect(metricValue(m, 'talkroom_sockets', { role: 'provider' })).toBe(1);
    expect(metricValue(m, 'talkroom_sockets', { role: 'support' })).toBe(0);
    expect(metricValue(m, 'talkroom_media_workers')).toBe(1);
    expect(metricValue(m, 'talkroom_media_consumers')).toBe(0);
    expect(metricValue(m, 'talkroom_live_sessions', { state: 'waiting' })).toBe(0);
    expect(metricValue(m, 'talkroom_live_sessions', { state: 'in_progress' })).toBe(0);
    expect(metricValue(m, 'talkroom_booking_transitions_total', { to: 'pending_confirmation' })).toBe(1);
    expect(metricValue(m, 'talkroom_booking_transitions_total', { to: 'confirmed' })).toBe(1);
    // Both reminders (24 h and 10 min before) are due in the join window; nothing has run them.
    const due = metricValue(m, 'talkroom_jobs_due')!;
    expect(due).toBeGreaterThanOrEqual(2);
    const [counted] = await s.store.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM jobs WHERE dead_at IS NULL AND run_at <= $1',
      [clock.now()],
    );
    expect(due).toBe(counted!.n);
    await s.scheduler.runDue();
    expect(metricValue(await scrape(), 'talkroom_jobs_due')).toBe(0);

    const joined = await ack(cs, 'live:join', { bookingId });
    expect(joined.status).toBe('waiting');
    expect(metricValue(await scrape(), 'talkroom_live_sessions', { state: 'waiting' })).toBe(1);
    const producerAnnounced = nextEvent(ps, 'live:producer');
    await ack(ps, 'live:join', { bookingId });
    m = await scrape();
    expect(metricValue(m, 'talkroom_live_sessions', { state: 'waiting' })).toBe(0);
    expect(metricValue(m, 'talkroom_live_sessions', { state: 'in_progress' })).toBe(1);
    expect(metricValue(m, 'talkroom_booking_transitions_total', { to: 'in_progress' })).toBe(1);

    // The client sends audio; the provider receives it: one consumer on the worker.
    const send = await ack(cs, 'live:transport', { bookingId, direction: 'send' });
    const { producerId } = await ack(cs, 'live:produce', {
      bookingId,
      transportId: send.id,
      kind: 'audio',
      rtpParameters: opusParameters(1111),
    });
    expect((await producerAnnounced).producerId).toBe(producerId);
    const recv = await ack(ps, 'live:transport', { bookingId, direction: 'recv' });
    await ack(ps, 'live:consume', {
      bookingId,
      transportId: recv.id,
      producerId,
      rtpCapabilities: joined.routerRtpCapabilities as Record<string, unknown>,
    });
    expect(metricValue(await scrape(), 'talkroom_media_consumers')).toBe(1);

    // A burst of messages from three more of the client's sockets, scraped while it is under way.
    const more = await Promise.all([1, 2, 3].map(() => s.connect(r.clientToken)));
    const before = metricValue(await scrape(), 'talkroom_messages_stored_total', { kind: 'text' }) ?? 0;
    const sends = more.flatMap((sock, i) =>
      Array.from({ length: 20 }, (_, j) =>
        ack(sock, 'message:send', {
          roomId: r.roomId,
          clientMsgId: `burst-${i}-${j}`,
          kind: 'text',
          text: 'x',
        }),
      ),
    );
    const during = await scrape();
    expect(metricValue(during, 'talkroom_sockets', { role: 'client' })).toBe(4);
    await Promise.all(sends);
    m = await scrape();
    expect(metricValue(m, 'talkroom_messages_stored_total', { kind: 'text' })).toBe(before + 60);
    expect(metricValue(m, 'talkroom_socket_requests_total', { event: 'message:send', outcome: 'ok' })).toBe(
      60,
    );
    for (const sock of more) sock.disconnect();

    // The provider ends it: nothing open, nothing consumed.
    await ack(ps, 'live:end', { bookingId });
    m = await scrape();
    expect(metricValue(m, 'talkroom_live_sessions', { state: 'in_progress' })).toBe(0);
    expect(metricValue(m, 'talkroom_booking_transitions_total', { to: 'completed' })).toBe(1);
    expect(metricValue(m, 'talkroom_media_consumers')).toBe(0);
  });

  it('logs one line per request and per socket with a request id, and never a token or a text', async () => {
    clock.set(MONDAY);
    const r = await therapyRoom(s, { client: 'lc', provider: 'lp' });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
    });
    await s.api('POST', `/v1/bookings/${b.body.booking.id}/confirm`, { token: r.providerToken });
    clock.set(IN_WINDOW);
    const joinUrl = s.bookings.joinUrl(b.body.booking, r.client);
    const joinToken = joinUrl.split('/join/')[1]!;
    const secretText = 'what I told nobody before';

    const traced = await fetch(`${s.url}/v1/join/${joinToken}?limit=5&token=${r.clientToken}`, {
      headers: { authorization: `Bearer ${r.clientToken}`, 'x-request-id': 'platform-req-42' },
    });
    expect(traced.status).toBe(200);
    expect(traced.headers.get('x-request-id')).toBe('platform-req-42');
    const page = await fetch(`${s.url}/join/${joinToken}`, {
      headers: { 'x-request-id': 'has spaces in it' },
    });
    expect(page.status).toBe(200);
    const generated = page.headers.get('x-request-id')!;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const sent = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.clientToken,
      body: { clientMsgId: 'log-1', kind: 'text', text: secretText },
    });
    expect(sent.status).toBe(201);
    const sock = await s.connect(r.providerToken);
    const closed = new Promise((resolve) => sock.once('disconnect', resolve));
    sock.disconnect();
    await closed;

    const lines = () => captured.lines();
    const until = async (what: string, find: () => unknown) => {
      for (let i = 0; i < 400 && !find(); i++) await new Promise((resolve) => setImmediate(resolve));
      if (!find()) throw new Error(`no log line: ${what}`);
    };
    await until('socket closed', () =>
      lines().find((l) => l.msg === 'socket closed' && l.userId === r.provider),
    );

    const request = lines().find((l) => l.msg === 'request' && l.reqId === 'platform-req-42');
    expect(request).toMatchObject({
      method: 'GET',
      route: '/v1/join/:token',
      path: '/v1/join/[redacted]?limit=5&token=%5Bredacted%5D',
      status: 200,
      durationMs: expect.any(Number),
      userId: r.client,
      role: 'client',
    });
    expect(lines().find((l) => l.msg === 'request' && l.reqId === generated)).toMatchObject({
      route: '/join/:token',
      path: '/join/[redacted]',
      status: 200,
    });
    expect(
      lines().find((l) => l.msg === 'request' && l.method === 'POST' && l.path?.endsWith('/messages')),
    ).toMatchObject({
      route: '/v1/rooms/:id/messages',
      status: 201,
      reqId: expect.any(String),
    });
    const opened = lines().find((l) => l.msg === 'socket open' && l.userId === r.provider);
    expect(opened).toMatchObject({
      role: 'provider',
      reqId: expect.any(String),
      socketId: expect.any(String),
    });
    expect(lines().find((l) => l.msg === 'socket closed' && l.socketId === opened!.socketId)).toMatchObject({
      reqId: opened!.reqId,
      reason: 'client namespace disconnect',
      durationMs: expect.any(Number),
    });

    // The scrapes of the test before are polls: below info.
    expect(lines().filter((l) => l.msg === 'request' && l.path === '/metrics')).toEqual([]);

    const all = captured.raw();
    for (const secret of [secretText, joinToken, r.clientToken, r.providerToken])
      expect(all).not.toContain(secret);
  });

  it('serves the session page under a Content-Security-Policy that allows no framing by default', async () => {
    const res = await fetch(`${s.url}/join/anything`);
    const html = await res.text();
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("media-src 'self' blob:");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // Styles, like scripts, come only as built files from this origin: nothing inline is allowed or present.
    expect(csp).toContain("style-src 'self'");
    expect(html).not.toMatch(/<style[\s>]/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(csp).not.toContain('unsafe-inline');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  });
});

describe('operations settings: METRICS_TOKEN, CORS_ORIGINS, FRAME_ANCESTORS', () => {
  let s: TestServer;
  const METRICS_TOKEN = 'scrape-me-please-0123';
  const APP = 'https://app.example.com';

  beforeAll(async () => {
    s = await startTestServer({
      backend: embedded,
      env: {
        METRICS_TOKEN,
        CORS_ORIGINS: `${APP}, https://other.example.com:8443`,
        FRAME_ANCESTORS: 'https://platform.example.com',
      },
    });
  });
  afterAll(() => s?.stop());

  it('guards /metrics with the bearer token when METRICS_TOKEN is set', async () => {
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${s.url}/metrics`, {
      headers: { authorization: 'Bearer not-the-token-at-all' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer');
    const right = await fetch(`${s.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('talkroom_sockets');
  });

  it('answers preflights from listed origins with 204 and the CORS headers, before any token', async () => {
    const preflight = await fetch(`${s.url}/v1/rooms`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(APP);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(preflight.headers.get('vary')).toContain('Origin');

    const stranger = await fetch(`${s.url}/v1/rooms`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
    });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();

    const admin = s.token('platform', 'admin');
    const real = await fetch(`${s.url}/v1/rooms`, {
      headers: { origin: APP, authorization: `Bearer ${admin}` },
    });
    expect(real.status).toBe(200);
    expect(real.headers.get('access-control-allow-origin')).toBe(APP);
    expect(real.headers.get('access-control-expose-headers')).toContain('Retry-After');
  });

  it('lets Socket.IO long-polling from listed origins through', async () => {
    const poll = await fetch(`${s.url}/socket.io/?EIO=4&transport=polling`, {
      headers: { origin: 'https://other.example.com:8443' },
    });
    expect(poll.status).toBe(200);
    expect(poll.headers.get('access-control-allow-origin')).toBe('https://other.example.com:8443');
    expect(poll.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lets the platform frame the session page when FRAME_ANCESTORS names it', async () => {
    const res = await fetch(`${s.url}/join/anything`);
    expect(res.headers.get('content-security-policy')).toContain(
      'frame-ancestors https://platform.example.com',
    );
    expect(res.headers.get('x-frame-options')).toBeNull();
  });
});

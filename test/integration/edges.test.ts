import { Writable } from 'node:stream';
import { io as connectSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { ManualClock } from '../../src/clock.ts';
import { createLogger } from '../../src/log.ts';
import type { MessagingSessionGate } from '../../src/services/ports.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import {
  nextEvent,
  rawRequest,
  request,
  startTestServer,
  TEST_SECRET,
  type TestServer,
} from '../helpers/server.ts';

describe('bad input at the edge', () => {
  let s: TestServer;
  let r: Awaited<ReturnType<typeof therapyRoom>>;
  beforeAll(async () => {
    s = await startTestServer({ backend: embedded });
    r = await therapyRoom(s);
  });
  afterAll(() => s?.stop());

  const count = async () =>
    (await s.store.db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages'))[0]!.n;

  it('names unknown fields, wrong types and oversized text, and stores nothing', async () => {
    const sock = await s.connect(r.clientToken);
    const before = await count();
    const cases: Array<[unknown, RegExp]> = [
      [
        { roomId: r.roomId, clientMsgId: 'x', kind: 'text', text: 'hi', colour: 'red' },
        /colour: unknown field/,
      ],
      [{ roomId: r.roomId, clientMsgId: 'x', kind: 'text', text: 42 }, /text: /],
      [{ roomId: r.roomId, clientMsgId: 'x', kind: 'text', text: 'a'.repeat(10_001) }, /text: .*10000/],
      [{ roomId: r.roomId, clientMsgId: 'x', kind: 'shout', text: 'hi' }, /kind: /],
      [{ roomId: r.roomId, kind: 'text', text: 'hi' }, /clientMsgId: required/],
      [{ roomId: r.roomId, clientMsgId: 'x', kind: 'voice' }, /attachmentId: required for kind voice/],
      [
        {
          roomId: r.roomId,
          clientMsgId: 'x',
          kind: 'availability',
          availability: [{ startsAt: 'tomorrow', endsAt: '2026-12-01T10:00:00Z' }],
        },
        /availability\.0\.startsAt/,
      ],
      ['just a string', /payload: /],
      [null, /payload: /],
    ];
    for (const [payload, message] of cases) {
      const ack = await rawRequest(sock, 'message:send', payload);
      expect(ack).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
      if (!ack.ok) expect(ack.error.message).toMatch(message);
    }
    expect(await count()).toBe(before);
  });

  it('accepts exactly 10,000 characters of text', async () => {
    const sock = await s.connect(r.clientToken);
    const ack = await request(sock, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'long',
      kind: 'text',
      text: 'a'.repeat(10_000),
    });
    expect(ack.ok).toBe(true);
  });

  it('answers malformed JSON, unknown fields and unknown routes over REST with a code', async () => {
    const raw = await fetch(`${s.url}/v1/rooms/${r.roomId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${r.providerToken}`, 'content-type': 'application/json' },
      body: '{"kind": "text",',
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toEqual({ error: { code: 'invalid_input', message: 'body: malformed JSON' } });
    const unknown = await s.api('PUT', '/v1/users/u-1', {
      token: r.admin,
      body: { role: 'client', displayName: 'x', timezone: 'UTC', age: 3 },
    });
    expect(unknown).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', message: 'age: unknown field' } },
    });
    const tz = await s.api('PUT', '/v1/users/u-1', {
      token: r.admin,
      body: { role: 'client', displayName: 'x', timezone: 'Mars/Base' },
    });
    expect(tz.body.error.message).toMatch(/timezone: must be an IANA time zone/);
    const hours = await s.api('PUT', '/v1/users/u-1', {
      token: r.admin,
      body: {
        role: 'provider',
        displayName: 'x',
        timezone: 'UTC',
        workingHours: { mon: [['17:00', '09:00']] },
      },
    });
    expect(hours.body.error.message).toMatch(/mon: 17:00 is not before 09:00/);
    const date = await s.api('PUT', `/v1/users/${r.client}/plan`, {
      token: r.admin,
      body: { kind: 'eap', includesMessaging: true, liveSessionsPerPeriod: 1, periodStart: '2026-13-01' },
    });
    expect(date.body.error.message).toMatch(/periodStart/);
    expect((await s.api('GET', '/v1/nothing', { token: r.admin })).body.error.code).toBe('not_found');
    const badId = await s.api('PUT', '/v1/users/has%20space', {
      token: r.admin,
      body: { role: 'client', displayName: 'x', timezone: 'UTC' },
    });
    expect(badId.body.error.message).toMatch(/^id: /);
  });

  it('only admins provision', async () => {
    const res = await s.api('PUT', '/v1/users/someone', {
      token: r.clientToken,
      body: { role: 'admin', displayName: 'x', timezone: 'UTC' },
    });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  it('refuses requests and sockets without a valid token', async () => {
    const res = await s.api('GET', '/v1/rooms');
    expect(res).toMatchObject({ status: 401, body: { error: { code: 'unauthenticated' } } });
    const bad = connectSocket(s.url, {
      auth: { token: 'nope' },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    const err = await new Promise<any>((resolve) => bad.once('connect_error', resolve));
    expect(err.message).toBe('unauthenticated');
    expect(err.data).toEqual({ code: 'unauthenticated', message: 'the token is not valid' });
    bad.close();
    const expired = mintToken(TEST_SECRET, { sub: 'x', role: 'client' }, { expiresInSec: -10 });
    const late = connectSocket(s.url, {
      auth: { token: expired },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
    });
    expect((await new Promise<any>((resolve) => late.once('connect_error', resolve))).message).toBe(
      'token_expired',
    );
    late.close();
  });
});

describe('operations', () => {
  let s: TestServer;
  const lines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    s = await startTestServer({
      backend: embedded,
      env: { SOCKET_RATE_LIMIT: '5' },
      logger: createLogger('trace', sink),
    });
  });
  afterAll(() => s?.stop());

  it('answers health, readiness and metrics', async () => {
    expect(await s.api('GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await s.api('GET', '/readyz')).toMatchObject({
      status: 200,
      body: { status: 'ok', checks: { store: 'ok' } },
    });
    const r = await therapyRoom(s, { client: 'm-c', provider: 'm-p' });
    await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.providerToken,
      body: { clientMsgId: 'm1', kind: 'text', text: 'x' },
    });
    const metrics = await fetch(`${s.url}/metrics`).then((res) => res.text());
    expect(metrics).toMatch(/talkroom_messages_stored_total\{kind="text"\} 1/);
    expect(metrics).toMatch(/talkroom_sockets_connected/);
  });

  it('rate-limits a socket that sends too fast, with rate_limited', async () => {
    const r = await therapyRoom(s, { client: 'rl-c', provider: 'rl-p' });
    const sock = await s.connect(r.clientToken);
    const acks = await Promise.all(
      Array.from({ length: 12 }, () => request(sock, 'message:history', { roomId: r.roomId })),
    );
    const codes = acks.map((a) => (a.ok ? 'ok' : a.error.code));
    expect(codes.filter((c) => c === 'ok').length).toBeLessThanOrEqual(5);
    expect(codes).toContain('rate_limited');
  });

  it('never logs message text or tokens', async () => {
    const r = await therapyRoom(s, { client: 'log-c', provider: 'log-p' });
    const secretText = 'my-private-disclosure-8731';
    const sock = await s.connect(r.clientToken);
    const ack = await request(sock, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'priv',
      kind: 'text',
      text: secretText,
    });
    expect(ack.ok).toBe(true);
    await s.api('POST', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken, body: '{"broken' });
    const all = lines.join('');
    expect(all).toContain(r.roomId);
    expect(all).not.toContain(secretText);
    expect(all).not.toContain(r.clientToken);
    expect(all).not.toContain(r.providerToken);
  });
});

describe('token expiry on a live socket', () => {
  it('disconnects with token_expired when the token runs out, unless refreshed first', async () => {
    const clock = new ManualClock(new Date());
    const s = await startTestServer({ backend: embedded, clock });
    try {
      // Tokens expire an hour from the real now; the server's clock is moved to just before that.
      const exp = Math.floor(Date.now() / 1000) + 3600;
      const token = mintToken(TEST_SECRET, { sub: 'exp-c', role: 'client' }, { expiresInSec: 3600 });
      clock.set(new Date(exp * 1000 - 300));
      const sock = await s.connect(token);
      const expiring = nextEvent(sock, 'auth:expired');
      const gone = new Promise((resolve) => sock.once('disconnect', resolve));
      clock.set(new Date(exp * 1000 + 1000));
      expect(await expiring).toEqual({ code: 'token_expired', message: expect.any(String) });
      expect(await gone).toBe('io server disconnect');

      clock.set(new Date(exp * 1000 - 300));
      const keeper = await s.connect(
        mintToken(TEST_SECRET, { sub: 'exp-c', role: 'client' }, { expiresInSec: 3600 }),
      );
      const fresh = mintToken(TEST_SECRET, { sub: 'exp-c', role: 'client' }, { expiresInSec: 7200 });
      const refreshed = await request(keeper, 'auth:refresh', { token: fresh });
      expect(refreshed).toMatchObject({ ok: true, data: { expiresAt: expect.any(String) } });
      const other = await request(keeper, 'auth:refresh', {
        token: mintToken(TEST_SECRET, { sub: 'someone-else', role: 'client' }),
      });
      expect(other).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      // Past the first token's expiry the refreshed socket is still served; one that was not refreshed is not,
      // whether or not its expiry timer has fired yet (every request checks the token's time itself).
      clock.set(new Date(exp * 1000 - 3_000_000)); // its expiry timer is armed for most of an hour
      const stale = await s.connect(token);
      clock.set(new Date(exp * 1000 + 1000));
      expect(await request(keeper, 'rooms:list')).toMatchObject({ ok: true, data: { rooms: [] } });
      expect(keeper.connected).toBe(true);
      const staleGone = new Promise((resolve) => stale.once('disconnect', resolve));
      expect(await request(stale, 'rooms:list')).toMatchObject({
        ok: false,
        error: { code: 'token_expired' },
      });
      expect(await staleGone).toBe('io server disconnect');
    } finally {
      await s.stop();
    }
  });
});

describe('graceful shutdown', () => {
  it('finishes an in-flight acknowledgement and refuses new work while draining', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inGate = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const gate: MessagingSessionGate = {
      sessionChat: async () => 'none',
      isOpen: async () => {
        entered();
        await held;
        return true;
      },
    };
    const s = await startTestServer({ backend: embedded, gate });
    const r = await therapyRoom(s, {
      plan: {
        kind: 'eap',
        includesMessaging: true,
        liveSessionsPerPeriod: 1,
        messagingSessionsPerPeriod: 1,
        periodStart: '2026-11-01',
      },
    });
    const client = await s.connect(r.clientToken);
    const other = await s.connect(r.providerToken);
    const pending = request(client, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'last-words',
      kind: 'text',
      text: 'bye',
    });
    await inGate;
    const closing = s.close();
    const refused = await request(other, 'message:history', { roomId: r.roomId });
    expect(refused).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    release();
    const ack = await pending;
    expect(ack).toMatchObject({ ok: true, data: { message: { clientMsgId: 'last-words', seq: 1 } } });
    await closing;
    await s.stop();
  });
});

describe('reply due, by the server’s clock', () => {
  it('turns overdue once a working day passes without a provider reply', async () => {
    // Tuesday 10:00 in New York; the provider works the default 09:00-17:00, Monday to Friday.
    const clock = new ManualClock('2026-11-17T15:00:00Z');
    const s = await startTestServer({ backend: embedded, clock });
    try {
      const r = await therapyRoom(s, { providerTimezone: 'America/New_York' });
      const sent = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'q', kind: 'text', text: 'are you there?' },
      });
      expect(sent.status).toBe(201);
      const view = async () =>
        (await s.api('GET', `/v1/rooms/${r.roomId}`, { token: r.providerToken })).body.room;
      expect(await view()).toMatchObject({ replyDueAt: '2026-11-18T15:00:00.000Z', replyOverdue: false });
      clock.set('2026-11-18T15:00:01Z');
      expect(await view()).toMatchObject({ replyDueAt: '2026-11-18T15:00:00.000Z', replyOverdue: true });
    } finally {
      await s.stop();
    }
  });
});

describe('graceful shutdown under a burst', () => {
  it('answers every request it received, with an ack or unavailable, before its sockets close', async () => {
    const s = await startTestServer({ backend: embedded });
    const r = await therapyRoom(s);
    const client = await s.connect(r.clientToken);
    const answers: string[] = [];
    const unanswered = new Set<number>();
    for (let i = 0; i < 200; i++) {
      unanswered.add(i);
      client.emit(
        'message:send',
        { roomId: r.roomId, clientMsgId: `burst-${i}`, kind: 'text', text: `n${i}` },
        (ack: any) => {
          unanswered.delete(i);
          answers.push(ack.ok ? 'ok' : ack.error.code);
        },
      );
    }
    const closed = new Promise<void>((resolve) => client.once('disconnect', () => resolve()));
    // Every request is on the wire (the client's buffer is empty) when the shutdown starts.
    while (client.io.engine.writeBuffer.length > 0) await new Promise((r) => setImmediate(r));
    await s.close();
    await closed;
    expect([...unanswered]).toEqual([]);
    expect(answers.filter((a) => a !== 'ok' && a !== 'unavailable')).toEqual([]);
    await s.stop();
  });
});

import type { Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { rawRequest, request, startTestServer, type TestServer, transports } from '../helpers/server.ts';

/** The limits that keep one client, or one address, from taking more than its share. */
describe.each(transports)('limits over $transport transports', ({ transport }) => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.stop();
    s = undefined;
  });
  const start = async (env: Record<string, string>) => {
    s = await startTestServer({ backend: embedded, transport, env });
    return s;
  };
  const refusal = (p: Promise<Socket>) =>
    p.then(
      () => 'connected',
      (e: Error & { data?: { code?: string } }) => e.data?.code ?? e.message,
    );

  it('refuses an address that keeps failing to sign in, with Retry-After, before reading its tokens', async () => {
    const srv = await start({ AUTH_FAILURE_LIMIT: '4' });
    const good = srv.token('someone', 'client');
    expect((await srv.api('GET', '/v1/rooms', { token: good })).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      expect((await srv.api('GET', '/v1/rooms', { token: 'not-a-token' })).status).toBe(401);
    }
    expect(await refusal(srv.connect('bad.signature.here'))).toBe('unauthenticated');
    const blocked = await srv.api('GET', '/v1/rooms', { token: 'not-a-token' });
    expect(blocked).toMatchObject({ status: 429, body: { error: { code: 'rate_limited' } } });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Until the window passes, the address is refused whatever it sends.
    expect((await srv.api('GET', '/v1/rooms', { token: good })).status).toBe(429);
    expect(await refusal(srv.connect(good))).toBe('rate_limited');
    expect((await srv.api('GET', '/healthz')).status).toBe(200);
  });

  it('limits how many sockets one user keeps open', async () => {
    const srv = await start({ SOCKETS_PER_USER: '3' });
    const token = srv.token('many-tabs', 'client');
    const open = [await srv.connect(token), await srv.connect(token), await srv.connect(token)];
    expect(await refusal(srv.connect(token))).toBe('rate_limited');
    // Someone else is not affected.
    expect(await refusal(srv.connect(srv.token('other', 'client')))).toBe('connected');
    // Closing one makes room for another, once the server has seen it go.
    open[0]!.disconnect();
    while ((srv.io.of('/').adapter.rooms.get('user:many-tabs')?.size ?? 0) >= 3) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await refusal(srv.connect(token))).toBe('connected');
  });

  it('limits requests per user across all their sockets', async () => {
    const srv = await start({ SOCKET_RATE_LIMIT: '6' });
    const token = srv.token('busy', 'client');
    const a = await srv.connect(token);
    const b = await srv.connect(token);
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => [request(a, 'rooms:list'), request(b, 'rooms:list')]).flat(),
    );
    const codes = answers.map((x) => (x.ok ? 'ok' : x.error.code));
    expect(codes.filter((c) => c === 'ok').length).toBeLessThanOrEqual(6);
    expect(codes).toContain('rate_limited');
  });

  it('answers an unknown event that asks for an answer, and ignores one that does not', async () => {
    const srv = await start({});
    const sock = await srv.connect(srv.token('curious', 'client'));
    expect(await rawRequest(sock, 'room:delete', { roomId: 'x' })).toEqual({
      ok: false,
      error: { code: 'not_found', message: 'no such event: "room:delete"' },
    });
    expect(await rawRequest(sock, `x${'\u0000'.repeat(3)}${'y'.repeat(5000)}`)).toMatchObject({
      ok: false,
      error: { code: 'not_found', message: expect.stringMatching(/^no such event: "x\?\?\?y{60}/) },
    });
    sock.emit('nobody:listens', { a: 1 });
    expect(await request(sock, 'rooms:list')).toEqual({ ok: true, data: { rooms: [] } });
  });

  it('answers a request too large to be one with payload_too_large and keeps the connection', async () => {
    const srv = await start({});
    const r = await therapyRoom(srv);
    const sock = await srv.connect(r.clientToken);
    const big = await request(sock, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'big',
      kind: 'text',
      text: 'x'.repeat(600 * 1024),
    });
    expect(big).toMatchObject({ ok: false, error: { code: 'payload_too_large' } });
    expect(sock.connected).toBe(true);
    const fine = await request(sock, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'small',
      kind: 'text',
      text: 'hello',
    });
    expect(fine).toMatchObject({ ok: true, data: { message: { seq: 1 } } });
  });

  it('limits new connections per address', async () => {
    const srv = await start({ CONNECT_RATE_LIMIT: '3' });
    const token = srv.token('reconnecting', 'client');
    for (let i = 0; i < 3; i++) expect(await refusal(srv.connect(token))).toBe('connected');
    expect(await refusal(srv.connect(token))).not.toBe('connected');
    expect((await srv.api('GET', '/healthz')).status).toBe(200);
  });
});

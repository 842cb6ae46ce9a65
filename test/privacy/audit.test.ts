import { createHash } from 'node:crypto';
import { io as connectSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { canonicalJson } from '../../src/store/audit.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { request, startTestServer, type TestServer } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

describe.each(backends)('the audit log, on the $name store', (backend) => {
  let s: TestServer;
  let r: Awaited<ReturnType<typeof therapyRoom>>;
  let admin: string;
  const secret = 'what I never said aloud';
  const clock = new ManualClock('2026-12-01T10:00:00Z');
  beforeAll(async () => {
    s = await startTestServer({ backend, clock, runScheduler: false });
    r = await therapyRoom(s);
    admin = r.admin;
  });
  afterAll(() => s?.stop());

  const all = async (query = '') => {
    const out: any[] = [];
    let cursor: string | undefined;
    do {
      const page = await ok(
        s.api('GET', `/v1/audit?limit=3${query}${cursor ? `&cursor=${cursor}` : ''}`, { token: admin }),
      );
      out.push(...page.entries);
      cursor = page.next;
    } while (cursor);
    return out;
  };

  it('records provisioning, and reads of a room, its messages and a recording by support or clinical, never by members; no entry carries text', async () => {
    await ok(
      s.api('PUT', '/v1/users/support-1', {
        token: admin,
        body: { role: 'support', displayName: 'S', timezone: 'UTC' },
      }),
    );
    const support = (
      await ok(s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId: r.client } }))
    ).room.id as string;
    const before = await all();
    expect(before.map((e) => [e.action, e.subjectId])).toEqual([
      ['user.put', r.client],
      ['plan.put', r.client],
      ['user.put', r.provider],
      ['room.create', r.client],
      ['user.put', 'support-1'],
      ['room.create', r.client],
    ]);
    expect(before.every((e) => e.actorId === 'platform' && e.actorRole === 'admin')).toBe(true);

    await ok(
      s.api('POST', `/v1/rooms/${support}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'c1', kind: 'text', text: secret },
      }),
    );
    const up = await ok(
      s.api('POST', `/v1/rooms/${support}/attachments`, {
        token: r.clientToken,
        raw: Buffer.concat([EBML, Buffer.alloc(1000)]),
        type: 'audio/webm',
      }),
    );
    // The requester and the therapy room's members read: not audited. An admin may not read a therapy room.
    await ok(s.api('GET', `/v1/rooms/${support}/messages`, { token: r.clientToken }));
    await ok(s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken }));
    expect((await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: admin })).status).toBe(403);
    expect(await all()).toHaveLength(before.length);

    // Support reads the room, its history and the recording; clinical after an escalation.
    const agent = s.token('support-1', 'support');
    await ok(s.api('GET', `/v1/rooms/${support}`, { token: agent }));
    await ok(s.api('GET', `/v1/rooms/${support}/messages`, { token: agent }));
    const rec = await s.api('GET', `/v1/rooms/${support}/attachments/${up.attachmentId}`, { token: agent });
    expect(rec.status).toBe(200);
    await ok(s.api('POST', `/v1/rooms/${support}/escalations`, { token: agent, body: { to: 'clinical' } }));
    await ok(s.api('GET', `/v1/rooms/${support}/messages`, { token: s.token('clinician-1', 'clinical') }));

    const reads = await all(`&roomId=${support}`);
    expect(reads.map((e) => [e.action, e.actorId, e.actorRole])).toEqual([
      ['room.create', 'platform', 'admin'],
      ['room.read', 'support-1', 'support'],
      ['messages.read', 'support-1', 'support'],
      ['recording.read', 'support-1', 'support'],
      // The escalation answers with the room.
      ['room.read', 'support-1', 'support'],
      ['messages.read', 'clinician-1', 'clinical'],
    ]);
    expect(reads[3].subjectId).toBe(r.client);
    expect((await all('&actorId=clinician-1')).map((e) => e.action)).toEqual(['messages.read']);
    expect((await all(`&subjectId=support-1`)).map((e) => e.action)).toEqual(['user.put']);
    const everything = await all();
    expect(JSON.stringify(everything)).not.toContain(secret);
    // from is inclusive, to exclusive (the server's clock stands still at 10:00).
    expect(await all('&from=2026-12-01T10:00:00Z&to=2026-12-01T10:00:00.001Z')).toEqual(everything);
    expect(await all('&to=2026-12-01T10:00:00Z')).toEqual([]);
    expect((await s.api('GET', '/v1/audit?from=yesterday', { token: admin })).status).toBe(400);
    // Only admins list it.
    expect((await s.api('GET', '/v1/audit', { token: r.providerToken })).status).toBe(403);
    expect((await s.api('GET', '/v1/audit/verify', { token: agent })).status).toBe(403);
  });

  it('records a booking change made by the provider, not one made by the client', async () => {
    const n = (await all()).length;
    const booking = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: '2026-12-24T15:00:00Z' },
    });
    expect(booking.status).toBe(201);
    expect(await all()).toHaveLength(n);
    await ok(s.api('POST', `/v1/bookings/${booking.body.booking.id}/confirm`, { token: r.providerToken }));
    const last = (await all()).at(-1);
    expect(last).toMatchObject({
      action: 'booking.confirm',
      actorId: r.provider,
      roomId: r.roomId,
      subjectId: r.client,
    });
  });

  it('records a booking the scheduler changed (an unconfirmed booking expiring) as the server’s own change', async () => {
    const booking = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'audio', startsAt: '2026-12-22T15:00:00Z' },
    });
    expect(booking.status).toBe(201);
    const n = (await all()).length;
    clock.set('2026-12-22T15:00:00Z'); // nobody confirmed it by its deadline
    await s.scheduler.runDue();
    clock.set('2026-12-01T10:00:00Z');
    expect(
      (await ok(s.api('GET', `/v1/bookings/${booking.body.booking.id}`, { token: r.clientToken }))).booking
        .status,
    ).toBe('expired');
    expect((await all()).slice(n)).toEqual([
      expect.objectContaining({
        action: 'booking.expire',
        actorId: 'talkroom',
        actorRole: 'system',
        roomId: r.roomId,
        subjectId: r.client,
      }),
    ]);
  });

  it('chains every entry by hash from 64 zeros, oldest first, also under concurrent appends', async () => {
    const agent = s.token('support-1', 'support');
    const rooms = await ok(s.api('GET', '/v1/rooms', { token: agent }));
    const support = rooms.rooms[0].id;
    expect((await all('&actorId=support-1')).at(-1)).toMatchObject({
      action: 'rooms.list',
      actorRole: 'support',
    });
    const reads = await Promise.all(
      Array.from({ length: 12 }, () => s.api('GET', `/v1/rooms/${support}/messages`, { token: agent })),
    );
    expect(reads.map((x) => x.status)).toEqual(Array(12).fill(200));
    const entries = await all();
    let prev = '0'.repeat(64);
    for (const e of entries) {
      const { hash, prevHash, ...fields } = e;
      expect(prevHash).toBe(prev);
      expect(hash).toBe(createHash('sha256').update(prevHash).update(canonicalJson(fields)).digest('hex'));
      prev = hash;
    }
    expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
    expect(await ok(s.api('GET', '/v1/audit/verify', { token: admin }))).toEqual({ ok: true });
  });

  it('records a rekey; verification reports the first entry edited in the database', async () => {
    expect((await s.api('POST', '/v1/admin/rekey', { token: admin, body: {} })).status).toBe(202);
    const entries = await all();
    expect(entries.at(-1)).toMatchObject({ action: 'keys.rekey', actorId: 'platform' });
    const target = entries[4];
    await s.store.db.query(`UPDATE audit_log SET actor_id = 'someone-else' WHERE id = $1`, [target.id]);
    expect(await ok(s.api('GET', '/v1/audit/verify', { token: admin }))).toEqual({
      ok: false,
      brokenAt: target.id,
    });
  });

  it('names the request that caused each entry: the X-Request-Id of a REST call, the handshake id of a socket', async () => {
    await ok(
      s.api('PUT', '/v1/users/support-rid', {
        token: admin,
        body: { role: 'support', displayName: 'S', timezone: 'UTC' },
      }),
    );
    const room = (
      await ok(s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId: r.client } }))
    ).room.id as string;
    const agent = s.token('support-rid', 'support');
    const read = await fetch(`${s.url}/v1/rooms/${room}/messages`, {
      headers: { authorization: `Bearer ${agent}`, 'x-request-id': 'trace-rest-42' },
    });
    expect(read.status).toBe(200);
    const socket = connectSocket(s.url, {
      auth: { token: agent },
      transports: ['websocket'],
      extraHeaders: { 'x-request-id': 'trace-socket-7' },
      forceNew: true,
      reconnection: false,
    });
    try {
      expect((await request(socket, 'message:history', { roomId: room })).ok).toBe(true);
    } finally {
      socket.disconnect();
    }
    const reads = (await all(`&roomId=${room}`)).filter((e) => e.actorId === 'support-rid');
    expect(reads.map((e) => [e.action, e.requestId])).toEqual([
      ['messages.read', 'trace-rest-42'],
      ['messages.read', 'trace-socket-7'],
    ]);
    // Without a header the server makes one up: every entry written while serving a request names it.
    const created = (await all(`&subjectId=${r.client}`)).at(-1);
    expect(created.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

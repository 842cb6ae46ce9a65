import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessagingSessionGate } from '../../src/services/ports.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';

const plan = (kind: string, includesMessaging = true) => ({
  kind,
  includesMessaging,
  liveSessionsPerPeriod: 2,
  messagingSessionsPerPeriod: 1,
  periodStart: '2026-11-01',
});
const text = (roomId: string, clientMsgId: string, extra: object = {}) => ({
  roomId,
  clientMsgId,
  kind: 'text' as const,
  text: 'hi',
  ...extra,
});

describe.each(backends)('plans, roles and rooms on the $name store', (backend) => {
  let s: TestServer;
  // Stands in for the bookings work: which rooms have a messaging session in progress.
  const openSessions = new Set<string>();
  const gate: MessagingSessionGate = {
    isOpen: async (roomId) => openSessions.has(roomId),
    sessionChat: async () => 'none',
  };

  beforeAll(async () => {
    s = await startTestServer({ backend, gate });
  });
  afterAll(() => s?.stop());

  it('a plan change applies from the next message, though the node remembers plans (a change on any node)', async () => {
    const r = await therapyRoom(s, { client: 'chg-c', provider: 'chg-p', plan: plan('out_of_pocket') });
    const client = await s.connect(r.clientToken);
    const putPlan = (p: object) =>
      ok(s.api('PUT', '/v1/users/chg-c/plan', { token: s.token('platform', 'admin'), body: p }));
    expect(await request(client, 'message:send', text(r.roomId, 'c1'))).toMatchObject({ ok: true });
    // The change reaches the store only, as it would through another node: this node's memory is not told.
    await putPlan(plan('organization', false));
    expect(await request(client, 'message:send', text(r.roomId, 'c2'))).toMatchObject({
      ok: false,
      error: { code: 'plan_excludes_messaging' },
    });
    await putPlan(plan('organization', true));
    expect(await request(client, 'message:send', text(r.roomId, 'c3'))).toMatchObject({
      ok: true,
      data: { message: { seq: 2 } },
    });
  });

  it('an organization plan without messaging refuses the client but lets the provider reply', async () => {
    const r = await therapyRoom(s, { client: 'org-c', provider: 'org-p', plan: plan('organization', false) });
    const client = await s.connect(r.clientToken);
    const provider = await s.connect(r.providerToken);
    expect(await request(client, 'message:send', text(r.roomId, 'o1'))).toMatchObject({
      ok: false,
      error: { code: 'plan_excludes_messaging' },
    });
    expect(await request(provider, 'message:send', text(r.roomId, 'o2'))).toMatchObject({ ok: true });
  });

  it('an eap client messages only while a booked messaging session is in progress', async () => {
    const r = await therapyRoom(s, { client: 'eap-c', provider: 'eap-p', plan: plan('eap') });
    const client = await s.connect(r.clientToken);
    expect(await request(client, 'message:send', text(r.roomId, 'e1'))).toMatchObject({
      ok: false,
      error: { code: 'messaging_session_required' },
    });
    openSessions.add(r.roomId);
    const sent = await request(client, 'message:send', text(r.roomId, 'e2'));
    expect(sent.ok).toBe(true);
    openSessions.delete(r.roomId);
    // A retry of a message acknowledged inside the session still returns it.
    const retry = await request(client, 'message:send', text(r.roomId, 'e2'));
    expect(retry).toEqual(sent);
    // Sharing availability is part of booking, so it needs no session.
    const availability = await request(client, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'e3',
      kind: 'availability',
      availability: [{ startsAt: '2026-12-01T15:00:00Z', endsAt: '2026-12-01T17:00:00Z' }],
    });
    expect(availability).toMatchObject({ ok: true, data: { message: { kind: 'availability' } } });
  });

  it('a recording is refused at upload when its sender could not send it now', async () => {
    const r = await therapyRoom(s, { client: 'eap-up', provider: 'eap-up-p', plan: plan('eap') });
    const ogg = Buffer.concat([Buffer.from('OggS'), Buffer.alloc(60)]);
    const upload = (token: string) =>
      s.api('POST', `/v1/rooms/${r.roomId}/attachments`, { token, raw: ogg, type: 'audio/ogg' });
    expect(await upload(r.clientToken)).toMatchObject({
      status: 403,
      body: { error: { code: 'messaging_session_required' } },
    });
    expect(await s.store.db.query('SELECT id FROM attachments WHERE room_id = $1', [r.roomId])).toEqual([]);
    openSessions.add(r.roomId);
    expect((await upload(r.clientToken)).status).toBe(201);
    openSessions.delete(r.roomId);
    expect((await upload(r.providerToken)).status).toBe(201); // providers may always reply
  });

  it('a bh_insurance client is held to the same rule', async () => {
    const r = await therapyRoom(s, { client: 'bh-c', provider: 'bh-p', plan: plan('bh_insurance') });
    const res = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.clientToken,
      body: text(r.roomId, 'b1'),
    });
    expect(res).toMatchObject({ status: 403, body: { error: { code: 'messaging_session_required' } } });
  });

  it('a psychiatry room refuses asynchronous messages', async () => {
    const r = await therapyRoom(s, { client: 'psy-c', provider: 'psy-p', service: 'psychiatry' });
    const client = await s.connect(r.clientToken);
    const provider = await s.connect(r.providerToken);
    expect(await request(client, 'message:send', text(r.roomId, 'p1'))).toMatchObject({
      ok: false,
      error: { code: 'psychiatry_video_only' },
    });
    expect(await request(provider, 'message:send', text(r.roomId, 'p2'))).toMatchObject({
      ok: false,
      error: { code: 'psychiatry_video_only' },
    });
  });

  it('support staff cannot read or write a therapy room', async () => {
    const r = await therapyRoom(s, { client: 'sup-c', provider: 'sup-p' });
    const support = s.token('rep-1', 'support');
    const sock = await s.connect(support);
    expect(await request(sock, 'message:history', { roomId: r.roomId })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(sock, 'message:send', text(r.roomId, 's1'))).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(sock, 'rooms:sync', { cursors: { [r.roomId]: 0 } })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect((await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: support })).status).toBe(403);
    const list = await s.api('GET', '/v1/rooms', { token: support });
    expect(list.body.rooms.map((x: any) => x.id)).not.toContain(r.roomId);
  });

  it('another client cannot read someone else’s room, and admins do not read rooms', async () => {
    const r = await therapyRoom(s, { client: 'priv-c', provider: 'priv-p' });
    const stranger = s.token('priv-other', 'client');
    expect((await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: stranger })).body.error.code).toBe(
      'forbidden',
    );
    expect((await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.admin })).body.error.code).toBe(
      'forbidden',
    );
    expect((await s.api('GET', '/v1/rooms/no-such-room/messages', { token: stranger })).body.error.code).toBe(
      'not_found',
    );
  });

  it('a support room joins its requester with the support team, and escalation to clinical opens it to reviewers', async () => {
    const admin = s.token('platform', 'admin');
    await ok(
      s.api('PUT', '/v1/users/help-c', {
        token: admin,
        body: { role: 'client', displayName: 'C', timezone: 'UTC' },
      }),
    );
    await ok(
      s.api('PUT', '/v1/users/rep-2', {
        token: admin,
        body: { role: 'support', displayName: 'Rep', timezone: 'UTC' },
      }),
    );
    const created = await ok(
      s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId: 'help-c' } }),
    );
    const roomId = created.room.id;
    const requester = await s.connect(s.token('help-c', 'client'));
    const rep = await s.connect(s.token('rep-2', 'support'));
    const clinician = await s.connect(s.token('clin-1', 'clinical'));

    const toRep = nextEvent(rep, 'message:new');
    expect(
      await request(requester, 'message:send', text(roomId, 'h1', { text: 'I cannot find my invoice' })),
    ).toMatchObject({ ok: true });
    expect((await toRep).text).toBe('I cannot find my invoice');

    expect(await request(clinician, 'message:history', { roomId })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    const requesterCannot = await s.api('POST', `/v1/rooms/${roomId}/escalations`, {
      token: s.token('help-c', 'client'),
      body: { to: 'clinical' },
    });
    expect(requesterCannot.body.error.code).toBe('forbidden');

    const opened = nextEvent(clinician, 'room:opened');
    const escalated = await s.api('POST', `/v1/rooms/${roomId}/escalations`, {
      token: s.token('rep-2', 'support'),
      body: { to: 'clinical' },
    });
    expect(escalated.status).toBe(201);
    expect(escalated.body.room.escalations).toEqual(['clinical']);
    expect(await opened).toEqual({ roomId });
    const history = await request(clinician, 'message:history', { roomId });
    expect(history).toMatchObject({ ok: true });
    if (history.ok)
      expect(history.data.messages.at(-1)).toMatchObject({
        kind: 'system',
        meta: { event: 'escalated', to: 'clinical' },
      });
    const supervisor = await s.api('POST', `/v1/rooms/${roomId}/escalations`, {
      token: s.token('rep-2', 'support'),
      body: { to: 'supervisor' },
    });
    expect(supervisor.body.room.escalations).toEqual(['clinical', 'supervisor']);

    const onlyTherapy = await therapyRoom(s, { client: 'esc-c', provider: 'esc-p' });
    const wrong = await s.api('POST', `/v1/rooms/${onlyTherapy.roomId}/escalations`, {
      token: s.token('rep-2', 'support'),
      body: { to: 'clinical' },
    });
    expect(wrong.body.error.code).toBe('forbidden');
  });

  it('a bot posts system messages with meta into the rooms its token names, and nowhere else', async () => {
    const r = await therapyRoom(s, { client: 'bot-c', provider: 'bot-p' });
    const other = await therapyRoom(s, { client: 'bot-c2', provider: 'bot-p' });
    const bot = s.token('reminder-bot', 'bot', { rooms: [r.roomId] });
    const client = await s.connect(r.clientToken);
    const arriving = nextEvent(client, 'message:new');
    const reminder = {
      clientMsgId: 'rem-1',
      kind: 'system',
      text: 'Your session starts in 10 minutes',
      meta: { event: 'reminder', bookingId: 'b-1', joinUrl: 'http://x/join/abc' },
    };
    const posted = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, { token: bot, body: reminder });
    expect(posted.status).toBe(201);
    expect(posted.body.message).toMatchObject({
      senderId: 'reminder-bot',
      senderRole: 'bot',
      kind: 'system',
      meta: reminder.meta,
    });
    expect(await arriving).toEqual(posted.body.message);
    const elsewhere = await s.api('POST', `/v1/rooms/${other.roomId}/messages`, {
      token: bot,
      body: reminder,
    });
    expect(elsewhere.body.error.code).toBe('forbidden');
    const cannotRead = await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: bot });
    expect(cannotRead.body.error.code).toBe('forbidden');
    // People do not post system messages or meta.
    const spoof = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.providerToken,
      body: { ...reminder, clientMsgId: 'rem-2' },
    });
    expect(spoof.body.error.code).toBe('forbidden');
  });

  it('reports when the provider’s reply is due and whether it is overdue', async () => {
    const r = await therapyRoom(s, {
      client: 'due-c',
      provider: 'due-p',
      providerTimezone: 'UTC',
      workingHours: {
        mon: [['00:00', '24:00']],
        tue: [['00:00', '24:00']],
        wed: [['00:00', '24:00']],
        thu: [['00:00', '24:00']],
        fri: [['00:00', '24:00']],
        sat: [['00:00', '24:00']],
        sun: [['00:00', '24:00']],
      },
    });
    const client = await s.connect(r.clientToken);
    const none = (await s.api('GET', '/v1/rooms', { token: r.providerToken })).body.rooms.find(
      (x: any) => x.id === r.roomId,
    );
    expect(none).toMatchObject({ replyDueAt: null, replyOverdue: false });
    const sent = await request(client, 'message:send', text(r.roomId, 'd1'));
    if (!sent.ok) throw new Error('send failed');
    const due = (await s.api('GET', '/v1/rooms', { token: r.providerToken })).body.rooms.find(
      (x: any) => x.id === r.roomId,
    );
    // Working every hour of every day, one working day is 24 hours.
    expect(due.replyDueAt).toBe(new Date(Date.parse(sent.data.message.createdAt) + 86_400_000).toISOString());
    expect(due.replyOverdue).toBe(false);
    const provider = await s.connect(r.providerToken);
    await request(provider, 'message:send', text(r.roomId, 'd2'));
    const answered = (await s.api('GET', '/v1/rooms', { token: r.clientToken })).body.rooms.find(
      (x: any) => x.id === r.roomId,
    );
    expect(answered.replyDueAt).toBeNull();
  });
});

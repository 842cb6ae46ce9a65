import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { collect, nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';

/** Support rooms are tickets (DOMAIN.md, "Rooms and messages"; PROTOCOL.md, "Tickets"). */
describe.each(backends)('the support ticket desk on the $name store', (backend) => {
  let s: TestServer;
  let admin: string;
  const dir = mkdtempSync(join(tmpdir(), 'talkroom-tickets-'));
  let n = 0;
  beforeAll(async () => {
    // Webhooks are queued, never delivered here: the test reads what would be sent.
    s = await startTestServer({
      backend,
      runScheduler: false,
      env: { WEBHOOK_URL: 'http://127.0.0.1:9/hooks', WEBHOOK_SECRET: 'test-webhook-secret' },
    });
    admin = s.token('platform', 'admin');
    const user = (id: string, role: string, extra: object = {}) =>
      ok(
        s.api('PUT', `/v1/users/${id}`, {
          token: admin,
          body: { role, displayName: id, timezone: 'UTC', ...extra },
        }),
      );
    await user('rep-a', 'support');
    await user('rep-b', 'support');
    await user('sup-1', 'support', { supervisor: true });
    await user('clin-1', 'clinical');
  });
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const repA = () => s.token('rep-a', 'support');
  const repB = () => s.token('rep-b', 'support');
  const sup = () => s.token('sup-1', 'support');
  const clin = () => s.token('clin-1', 'clinical');

  /** A new requester and their support room. */
  async function ticket() {
    n++;
    const requester = `tk-c${n}`;
    await ok(
      s.api('PUT', `/v1/users/${requester}`, {
        token: admin,
        body: { role: 'client', displayName: 'C', timezone: 'UTC' },
      }),
    );
    const created = await ok(
      s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId: requester } }),
    );
    return { roomId: created.room.id as string, requester, token: s.token(requester, 'client') };
  }
  const say = (token: string, roomId: string, clientMsgId: string, extra: object = {}) =>
    s.api('POST', `/v1/rooms/${roomId}/messages`, {
      token,
      body: { clientMsgId, kind: 'text', text: `text ${clientMsgId}`, ...extra },
    });
  const view = async (token: string, roomId: string) =>
    (await ok(s.api('GET', `/v1/rooms/${roomId}`, { token }))).room;
  const setTicket = (token: string, roomId: string, body: object) =>
    s.api('PUT', `/v1/rooms/${roomId}/ticket`, { token, body });

  it('an internal note reaches the staff but never the requester: not live, not in history, sync, unread, receipts or export', async () => {
    const t = await ticket();
    const requester = await s.connect(t.token);
    const rep = await s.connect(repA());
    const otherRep = await s.connect(repB());
    const toRequester = collect(requester, 'message:new');

    await ok(say(t.token, t.roomId, 'q1')); // seq 1
    const toOtherRep = nextEvent(otherRep, 'message:new');
    const note = await request(rep, 'message:send', {
      roomId: t.roomId,
      clientMsgId: 'n1',
      kind: 'text',
      text: 'billing issue, again',
      internal: true,
    }); // seq 2
    expect(note).toMatchObject({ ok: true, data: { message: { seq: 2, internal: true } } });
    expect(await toOtherRep).toMatchObject({ seq: 2, internal: true, text: 'billing issue, again' });
    const reply = nextEvent(requester, 'message:new');
    await ok(say(repA(), t.roomId, 'r1')); // seq 3
    expect(await reply).toMatchObject({ seq: 3 });
    expect(toRequester.map((m) => m.seq)).toEqual([1, 3]);
    await ok(say(repA(), t.roomId, 'n2', { internal: true })); // seq 4

    const seqs = (r: { body: { messages: { seq: number }[] } }) => r.body.messages.map((m) => m.seq);
    expect(seqs(await s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: t.token }))).toEqual([1, 3]);
    expect(seqs(await s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: repB() }))).toEqual([
      1, 2, 3, 4,
    ]);
    const sync = await request(requester, 'rooms:sync', { cursors: { [t.roomId]: 0 } });
    expect(sync.ok && sync.data.messages[t.roomId]!.map((m) => m.seq)).toEqual([1, 3]);
    const repSync = await request(otherRep, 'rooms:sync', { cursors: { [t.roomId]: 1 } });
    expect(repSync.ok && repSync.data.messages[t.roomId]!.map((m) => m.seq)).toEqual([2, 3, 4]);
    expect(await view(t.token, t.roomId)).toMatchObject({ unread: 1, lastSeq: 3 });
    expect(await view(repB(), t.roomId)).toMatchObject({ unread: 4, lastSeq: 4 });

    // A rep who read as far as the note: the requester hears of a read up to seq 3 only.
    const receipt = nextEvent(requester, 'message:read');
    const staffReceipt = nextEvent(otherRep, 'message:read');
    expect(await request(rep, 'message:read', { roomId: t.roomId, seq: 4 })).toMatchObject({ ok: true });
    expect(await receipt).toEqual({ roomId: t.roomId, userId: 'rep-a', seq: 3 });
    expect(await staffReceipt).toEqual({ roomId: t.roomId, userId: 'rep-a', seq: 4 });

    // The requester's export holds what they read, nothing more.
    const res = await fetch(`${s.url}/v1/users/${t.requester}/export`, {
      headers: { authorization: `Bearer ${t.token}` },
    });
    expect(res.status).toBe(200);
    const file = join(dir, `${backend.name}-${n}.zip`);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const data = JSON.parse(execFileSync('unzip', ['-p', file, 'export.json'], { encoding: 'utf8' }));
    expect(data.rooms[0].messages.map((m: { seq: number }) => m.seq)).toEqual([1, 3]);
    expect(JSON.stringify(data)).not.toContain('billing issue');
    expect(toRequester.map((m) => m.seq)).toEqual([1, 3]);

    // The webhook names the note by ids and says it is internal, so no one notifies the requester.
    const noteId = note.ok ? note.data.message.id : '';
    const [hook] = await s.store.db.query<{ payload: { event: { data: object } } }>(
      `SELECT payload FROM jobs WHERE kind = 'webhook.deliver' AND payload -> 'event' -> 'data' ->> 'messageId' = $1`,
      [noteId],
    );
    expect(hook!.payload.event.data).toEqual({
      messageId: noteId,
      roomId: t.roomId,
      seq: 2,
      senderId: 'rep-a',
      senderRole: 'support',
      kind: 'text',
      internal: true,
    });

    // Only staff write notes, and only in support rooms.
    expect((await say(t.token, t.roomId, 'x1', { internal: true })).body.error.code).toBe('forbidden');
    const therapy = await therapyRoom(s, { client: `tk-tc${n}`, provider: `tk-tp${n}` });
    expect((await say(therapy.providerToken, therapy.roomId, 'x2', { internal: true })).body.error.code).toBe(
      'invalid_input',
    );
  });

  it('a ticket is open, pending or resolved, and a requester message reopens it', async () => {
    const t = await ticket();
    expect((await view(t.token, t.roomId)).ticket).toEqual({ status: 'open' });
    const resolved = await setTicket(repA(), t.roomId, { status: 'resolved' });
    expect(resolved).toMatchObject({ status: 200, body: { room: { ticket: { status: 'resolved' } } } });
    // A staff note does not reopen it; the requester's message does.
    await ok(say(repA(), t.roomId, 'n1', { internal: true }));
    expect((await view(repA(), t.roomId)).ticket.status).toBe('resolved');
    await ok(say(t.token, t.roomId, 'q1'));
    expect((await view(t.token, t.roomId)).ticket.status).toBe('open');
    // The timeline tells the requester of the status (and nothing of the note).
    const told = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: t.token }));
    expect(told.messages.map((m: { kind: string; meta?: object }) => [m.kind, m.meta])).toEqual([
      ['system', { event: 'ticket', status: 'resolved', by: 'rep-a' }],
      ['text', undefined],
    ]);
    // Pending on the requester: their answer puts it back in the queue.
    await ok(setTicket(repA(), t.roomId, { status: 'pending' }));
    await ok(say(t.token, t.roomId, 'q2'));
    expect((await view(repA(), t.roomId)).ticket.status).toBe('open');

    // The support team only.
    for (const token of [t.token, clin(), admin]) {
      expect((await setTicket(token, t.roomId, { status: 'resolved' })).status).toBe(403);
    }
    expect((await setTicket(repA(), t.roomId, {})).status).toBe(400);
    expect((await setTicket(repA(), t.roomId, { status: 'closed' })).status).toBe(400);
    // Therapy rooms are no tickets (and no business of support).
    const therapy = await therapyRoom(s, { client: `tk-tc${n}`, provider: `tk-tp${n}` });
    expect((await setTicket(repA(), therapy.roomId, { status: 'resolved' })).status).toBe(403);
    expect((await view(therapy.clientToken, therapy.roomId)).ticket).toBeUndefined();
  });

  it('a ticket is assigned to a support rep, and to nobody else', async () => {
    const t = await ticket();
    const assigned = await setTicket(repA(), t.roomId, { assigneeId: 'rep-b' });
    expect(assigned.body.room.ticket).toEqual({ status: 'open', assigneeId: 'rep-b' });
    for (const who of [t.requester, 'clin-1', 'nobody']) {
      const refused = await setTicket(repA(), t.roomId, { assigneeId: who });
      expect(refused).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
    }
    expect((await view(repA(), t.roomId)).ticket.assigneeId).toBe('rep-b');
    // The staff see who took it, in an internal note; the requester does not.
    const forRep = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: repA() }));
    expect(forRep.messages).toEqual([
      expect.objectContaining({
        kind: 'system',
        internal: true,
        text: 'Assigned to rep-b.',
        meta: { event: 'ticket', assigneeId: 'rep-b', by: 'rep-a' },
      }),
    ]);
    const forRequester = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: t.token }));
    expect(forRequester.messages).toEqual([]);
    const both = await setTicket(repB(), t.roomId, { status: 'pending', assigneeId: null });
    expect(both.body.room.ticket).toEqual({ status: 'pending' });
  });

  it('escalation to a supervisor hands the ticket over to the supervisors', async () => {
    const t = await ticket();
    await ok(setTicket(repA(), t.roomId, { assigneeId: 'rep-a' }));
    const escalated = await s.api('POST', `/v1/rooms/${t.roomId}/escalations`, {
      token: repA(),
      body: { to: 'supervisor' },
    });
    expect(escalated.status).toBe(201);
    expect(escalated.body.room.ticket).toEqual({ status: 'open', escalatedTo: 'supervisor' });
    // Reps no longer manage it; a supervisor takes it, and gives it only to a supervisor.
    expect((await setTicket(repA(), t.roomId, { assigneeId: 'rep-a' })).status).toBe(403);
    expect((await setTicket(sup(), t.roomId, { assigneeId: 'rep-b' })).body.error.code).toBe('invalid_input');
    const taken = await setTicket(sup(), t.roomId, { assigneeId: 'sup-1', status: 'pending' });
    expect(taken.body.room.ticket).toEqual({
      status: 'pending',
      assigneeId: 'sup-1',
      escalatedTo: 'supervisor',
    });
    // The requester's view says so too.
    expect((await view(t.token, t.roomId)).ticket).toMatchObject({ escalatedTo: 'supervisor' });
  });

  it('clinical consultation: the clinical team reads the escalated room and writes internal notes only', async () => {
    const t = await ticket();
    await ok(say(t.token, t.roomId, 'q1', { text: 'I feel unsafe' }));
    expect((await s.api('GET', `/v1/rooms/${t.roomId}`, { token: clin() })).status).toBe(403);
    await ok(s.api('POST', `/v1/rooms/${t.roomId}/escalations`, { token: repA(), body: { to: 'clinical' } }));

    expect((await view(clin(), t.roomId)).ticket).toEqual({ status: 'open', escalatedTo: 'clinical' });
    const plain = await say(clin(), t.roomId, 'c1');
    expect(plain).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    const consult = await say(clin(), t.roomId, 'c2', { internal: true, text: 'call them today' });
    expect(consult.status).toBe(201);
    await ok(say(repA(), t.roomId, 'n1', { internal: true, text: 'calling now' }));

    const forRep = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: repB() }));
    expect(
      forRep.messages.filter((m: { internal?: true }) => m.internal).map((m: { text: string }) => m.text),
    ).toEqual(['call them today', 'calling now']);
    const forRequester = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: t.token }));
    expect(forRequester.messages.some((m: { internal?: true }) => m.internal)).toBe(false);
    expect(JSON.stringify(forRequester)).not.toContain('call them today');
    // The clinical team's reads are audited as before.
    const audit = await ok(s.api('GET', `/v1/audit?actorId=clin-1&roomId=${t.roomId}`, { token: admin }));
    expect(audit.entries.map((e: { action: string }) => e.action)).toContain('room.read');
  });
  it('erasure treats an internal note like any message: a tombstone the requester still never sees', async () => {
    const t = await ticket();
    await ok(
      s.api('PUT', `/v1/users/rep-gone${n}`, {
        token: admin,
        body: { role: 'support', displayName: 'Gone', timezone: 'UTC' },
      }),
    );
    const gone = s.token(`rep-gone${n}`, 'support');
    await ok(say(t.token, t.roomId, 'q1'));
    await ok(say(gone, t.roomId, 'n1', { internal: true, text: 'a note to be erased' }));
    expect(await ok(s.api('POST', `/v1/users/rep-gone${n}/erase`, { token: admin, body: {} }))).toEqual({
      erased: { messages: 1, recordings: 0 },
    });
    const forRep = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: repA() }));
    expect(forRep.messages.at(-1)).toMatchObject({ seq: 2, erased: true, internal: true });
    expect(forRep.messages.at(-1).text).toBeUndefined();
    const forRequester = await ok(s.api('GET', `/v1/rooms/${t.roomId}/messages`, { token: t.token }));
    expect(forRequester.messages.map((m: { seq: number }) => m.seq)).toEqual([1]);
  });
});

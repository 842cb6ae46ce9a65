import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookableRoom, Inbox, joinUrlsOf, reportWarningsOnFailure } from '../helpers/cluster.ts';
import { ok } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { request } from '../helpers/server.ts';

/**
 * A whole booking on two real server processes sharing PostgreSQL and Redis,
 * with policies in seconds: slot → booking → confirmation → two reminders,
 * each run by whichever node's scheduler claims it and delivered exactly once
 * to sockets on both nodes, carrying join links that work.
 */

const REMINDER_OFFSETS = [6000, 3000];
const JOIN_OPENS_MS = 4000; // between the two reminders: the first one comes before the window opens
const SLOT_LEAD_MS = 10_000; // the first reminder is then still at least 4 s ahead once confirmed
const PUBLIC_URL = 'https://talkroom.test';

const POLICY_ENV = {
  PUBLIC_URL,
  POLICY_SLOT_STEP: '5s',
  POLICY_REMINDERS: '6s,3s',
  POLICY_JOIN_OPENS: '4s',
  POLICY_CONFIRM_DEADLINE: '2s',
  POLICY_NO_SHOW_GRACE: '60s', // no no-show check falls due while the test runs
  POLICY_LATE_WINDOW: '1s',
  SCHEDULER_MAX_IDLE: '2s',
};

interface JobRow {
  id: string;
  kind: string;
  run_at: Date;
  attempts: number;
  locked_by: string | null;
  last_error: string | null;
  dead_at: Date | null;
}

describe('a booking from slot to reminder on two server processes', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  let db: pg.Client;
  const clientId = 'client-r';
  const providerId = 'provider-r';
  let roomId: string;
  let clientToken: string;
  let providerToken: string;

  const jobsOf = async (bookingId: string) =>
    (
      await db.query<JobRow>(
        `SELECT id, kind, run_at, attempts, locked_by, last_error, dead_at FROM jobs
          WHERE id LIKE $1 ORDER BY run_at, id`,
        [`booking:${bookingId}:%`],
      )
    ).rows;

  /** Polls the job table (bounded) until the check holds; returns the last rows read. */
  const jobsUntil = async (bookingId: string, check: (rows: JobRow[]) => boolean, timeoutMs = 5000) => {
    const by = Date.now() + timeoutMs;
    for (;;) {
      const rows = await jobsOf(bookingId);
      if (check(rows)) return rows;
      if (Date.now() > by) {
        throw new Error(`job rows did not settle within ${timeoutMs} ms: ${JSON.stringify(rows)}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  beforeAll(async () => {
    c = await startCluster({ nodes: 2, env: POLICY_ENV });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
    expect(a.listening).toMatchObject({ redis: true, store: 'postgres', publicUrl: PUBLIC_URL });
    expect(b.listening).toMatchObject({ redis: true, store: 'postgres', publicUrl: PUBLIC_URL });
    db = new pg.Client({ connectionString: c.databaseUrl });
    await db.connect();

    // Provisioned on node A; node B knows of it through the shared database.
    ({ roomId, clientToken, providerToken } = await bookableRoom(onNode(c, a), {
      client: clientId,
      provider: providerId,
      plan: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 2,
        periodStart: '2026-11-01',
      },
    }));
  });
  afterAll(async () => {
    await db?.end();
    await c?.stop();
  });

  it('books a slot, confirms it, and delivers each reminder exactly once with working join links', async () => {
    let bookingId = '';
    // What the server did, for the failure report.
    reportWarningsOnFailure(
      () => [a, b],
      async () => {
        const rows = bookingId ? await jobsOf(bookingId).catch((e) => `(${e.message})`) : '(no booking)';
        return `booking ${bookingId} job rows: ${JSON.stringify(rows)}`;
      },
    );

    // The client on node B (and node A), the provider on node A.
    const clientSocketB = await c.connect(b, clientToken);
    const clientOnB = new Inbox('client on node B', clientSocketB);
    const clientOnA = new Inbox('client on node A', await c.connect(a, clientToken));
    const providerSocketA = await c.connect(a, providerToken);
    const providerOnA = new Inbox('provider on node A', providerSocketA);
    const inboxes = [clientOnB, clientOnA, providerOnA];

    // A slot on the 5 s grid far enough ahead for both reminders.
    const now = Date.now();
    const slots = await ok(
      c.api(
        b,
        'GET',
        `/v1/providers/${providerId}/slots?durationMin=15&from=${new Date(now).toISOString()}&to=${new Date(now + 16 * 60_000).toISOString()}`,
        { token: clientToken },
      ),
    );
    expect(slots.slots.length).toBeGreaterThan(0);
    for (const s of slots.slots) {
      expect(Date.parse(s.startsAt) % 5000).toBe(0);
      expect(Date.parse(s.endsAt) - Date.parse(s.startsAt)).toBe(15 * 60_000);
    }
    const slot = slots.slots.find((s: any) => Date.parse(s.startsAt) >= Date.now() + SLOT_LEAD_MS);
    expect(slot).toBeDefined();
    const startsAt = Date.parse(slot.startsAt);
    expect(startsAt - Date.now()).toBeLessThan(SLOT_LEAD_MS + 5000 + 1000);

    const booked = await c.api(b, 'POST', '/v1/bookings', {
      token: clientToken,
      body: { roomId, modality: 'video', startsAt: slot.startsAt, durationMin: 15 },
    });
    expect(booked.status, JSON.stringify(booked.body)).toBe(201);
    const booking = booked.body.booking;
    bookingId = booking.id;
    expect(booking).toMatchObject({
      roomId,
      clientId,
      providerId,
      modality: 'video',
      status: 'pending_confirmation',
      startsAt: slot.startsAt,
      endsAt: slot.endsAt,
      confirmBy: new Date(startsAt - 2000).toISOString(),
    });
    expect(await jobsOf(bookingId)).toMatchObject([
      { id: `booking:${bookingId}:confirm-deadline`, kind: 'booking.confirm_deadline' },
    ]);

    const confirmed = await c.api(b, 'POST', `/v1/bookings/${bookingId}/confirm`, {
      token: providerToken,
      body: {},
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body.booking).toMatchObject({ id: bookingId, status: 'confirmed' });
    expect(Date.now(), 'confirmed before the first reminder fell due').toBeLessThan(
      startsAt - REMINDER_OFFSETS[0]!,
    );

    // Confirmation swaps the deadline for the reminders, the no-show check and the session's end.
    const scheduled = await jobsOf(bookingId);
    expect(scheduled.map((j) => [j.id, j.kind, j.run_at.getTime()])).toEqual([
      ...REMINDER_OFFSETS.map((o) => [
        `booking:${bookingId}:reminder:${o}`,
        'booking.reminder',
        startsAt - o,
      ]),
      [`booking:${bookingId}:no-show-check`, 'booking.no_show_check', startsAt + 60_000],
      [`booking:${bookingId}:session-end`, 'booking.session_end', startsAt + 15 * 60_000],
    ]);

    // The lifecycle notices, on every socket.
    const noticeIds = [`booking:${bookingId}:booked`, `booking:${bookingId}:confirmed`];
    await Promise.all(inboxes.map((i) => i.until(noticeIds, 5000)));

    // The first reminder: its link is the client's, and the window is not open yet.
    const tokenOf = (url: string) => url.slice(`${PUBLIC_URL}/join/`.length);
    const reminderIds = REMINDER_OFFSETS.map((o) => `booking:${bookingId}:reminder:${o}`);
    await clientOnB.until([reminderIds[0]!], 30_000);
    const opensAt = startsAt - JOIN_OPENS_MS;
    const first = clientOnB.find(reminderIds[0]!);
    const firstLink = joinUrlsOf(first)[clientId]!;
    const sentAt = Date.now();
    const early = await c.api(b, 'GET', `/v1/join/${tokenOf(firstLink)}`, { token: clientToken });
    const answeredAt = Date.now();
    // The server reads the same system clock: answered before opensAt means it was asked before opensAt.
    // (Only a machine stalled for the 2 s between the reminder and the opening leaves this undecided.)
    expect(early.status, JSON.stringify(early.body)).toBe(200);
    if (answeredAt < opensAt) expect(early.body.open).toBe(false);
    else if (sentAt >= opensAt) expect(early.body.open).toBe(true);

    // Both reminders on every socket: the client's on node B and A, the provider's on node A.
    await Promise.all(inboxes.map((i) => i.until(reminderIds, 30_000)));

    // Once the job rows are gone no node can run a reminder again, and every
    // broadcast a node made before that precedes, on every socket, a message
    // that node broadcasts now (one Redis connection per publisher keeps order).
    // A marker sent through each node is the barrier after which counts are final.
    const left = await jobsUntil(bookingId, (rows) => !rows.some((j) => j.kind === 'booking.reminder'));
    expect(left.map((j) => j.id)).toEqual([
      `booking:${bookingId}:no-show-check`,
      `booking:${bookingId}:session-end`,
    ]);
    expect(left[0]).toMatchObject({ attempts: 0, locked_by: null, dead_at: null });
    const markers = ['marker-via-a', 'marker-via-b'] as const;
    for (const [socket, clientMsgId] of [
      [providerSocketA, markers[0]],
      [clientSocketB, markers[1]],
    ] as const) {
      const sent = await request(socket, 'message:send', {
        roomId,
        clientMsgId,
        kind: 'text',
        text: 'marker',
      });
      expect(sent.ok, JSON.stringify(sent)).toBe(true);
    }
    await Promise.all(inboxes.map((i) => i.until([...markers], 5000)));

    const lifecycle = [...noticeIds, ...reminderIds];
    for (const inbox of inboxes) {
      const ofBooking = inbox.messages.filter((m) => m.bookingId === bookingId);
      expect(
        ofBooking.map((m) => m.clientMsgId),
        `${inbox.name}: each lifecycle message once, in order`,
      ).toEqual(lifecycle);
      for (const id of [...lifecycle, ...markers]) expect(inbox.count(id), `${inbox.name}: ${id}`).toBe(1);
      // The two markers are sent through different nodes back to back, so they
      // may arrive in either order (one is local, one crosses Redis); the
      // lifecycle messages, seconds apart, arrive in seq order.
      const seqs = inbox.messages.filter((m) => !markers.some((k) => k === m.clientMsgId)).map((m) => m.seq);
      expect(seqs, `${inbox.name}: seqs in order`).toEqual([...seqs].sort((x, y) => x - y));
    }

    for (const [i, offsetMs] of REMINDER_OFFSETS.entries()) {
      const m = clientOnB.find(reminderIds[i]!);
      expect(m).toMatchObject({
        roomId,
        senderId: 'talkroom',
        senderRole: 'bot',
        kind: 'system',
        bookingId,
        meta: { event: 'reminder', bookingId, startsAt: slot.startsAt, offsetMs },
      });
      expect(m.text).toContain('video session');
      // Not early, and not held back by an idle scheduler.
      const dueAt = startsAt - offsetMs;
      expect(Date.parse(m.createdAt)).toBeGreaterThanOrEqual(dueAt);
      expect(Date.parse(m.createdAt) - dueAt).toBeLessThan(5000);
      const urls = joinUrlsOf(m);
      expect(Object.keys(urls).sort()).toEqual([clientId, providerId].sort());
      expect(m.meta?.joinUrl).toBe(urls[clientId]);
      for (const url of Object.values(urls))
        expect(url).toMatch(/^https:\/\/talkroom\.test\/join\/[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(urls[clientId]).not.toBe(urls[providerId]);
      // The same message everywhere.
      expect(clientOnA.messages.find((x) => x.clientMsgId === reminderIds[i])).toEqual(m);
      expect(providerOnA.messages.find((x) => x.clientMsgId === reminderIds[i])).toEqual(m);
    }
    for (const id of noticeIds) {
      const m = clientOnB.messages.find((x) => x.clientMsgId === id);
      expect(m).toMatchObject({ senderRole: 'bot', kind: 'system', bookingId, meta: { bookingId } });
    }
    expect(clientOnB.find(noticeIds[0]!).meta?.event).toBe('booked');
    expect(clientOnB.find(noticeIds[1]!).meta?.event).toBe('confirmed');

    // The stored history holds each once too.
    const history = await request(clientSocketB, 'message:history', { roomId, limit: 200 });
    if (!history.ok) throw new Error(JSON.stringify(history));
    const stored = history.data.messages as any[];
    for (const id of lifecycle) expect(stored.filter((m) => m.clientMsgId === id).length, id).toBe(1);
    expect(stored.filter((m) => m.meta?.event === 'reminder').length).toBe(REMINDER_OFFSETS.length);

    // The join links, now that the window is open (it opened before the second reminder), on either node.
    expect(Date.now()).toBeGreaterThanOrEqual(opensAt);
    const second = clientOnB.find(reminderIds[1]!);
    const clientJoin = tokenOf(joinUrlsOf(second)[clientId]!);
    const providerJoin = tokenOf(joinUrlsOf(second)[providerId]!);
    const grant = {
      booking: { id: bookingId, status: 'confirmed', startsAt: slot.startsAt },
      opensAt: new Date(opensAt).toISOString(),
      closesAt: slot.endsAt,
    };
    for (const node of [a, b]) {
      const joined = await c.api(node, 'GET', `/v1/join/${clientJoin}`, { token: clientToken });
      expect(joined.status, `${node.name}: ${JSON.stringify(joined.body)}`).toBe(200);
      expect(joined.body).toMatchObject(grant);
      const own = await c.api(node, 'GET', `/v1/join/${providerJoin}`, { token: providerToken });
      expect(own.status, `${node.name}: ${JSON.stringify(own.body)}`).toBe(200);
      expect(own.body).toMatchObject(grant);
      // The client's link is the client's.
      const other = await c.api(node, 'GET', `/v1/join/${clientJoin}`, { token: providerToken });
      expect(other.status, JSON.stringify(other.body)).toBe(403);
      expect(other.body.error.code).toBe('forbidden');
    }
    // The first reminder's link is the same grant, so it works now as well.
    expect((await c.api(a, 'GET', `/v1/join/${tokenOf(firstLink)}`, { token: clientToken })).status).toBe(
      200,
    );

    // Nothing failed along the way on either node.
    for (const node of [a, b]) {
      const failures = node.logs().filter((l) => l.msg === 'job failed' || l.msg === 'scheduler loop failed');
      expect(failures, node.name).toEqual([]);
    }
  }, 45_000);
});

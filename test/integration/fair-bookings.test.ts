import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { request, startTestServer, type TestServer } from '../helpers/server.ts';

// Wednesday 18 November 2026; the provider works 09:00-17:00 in New York (14:00-22:00Z).
const WED_8AM_NY = '2026-11-18T13:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';
const WED_11AM = '2026-11-18T16:00:00.000Z';

/** The rules as fair as the people who live by them (DOMAIN.md, "Live sessions"): grace and restored credits. */
describe.each(backends)('fair bookings on the $name store', (backend) => {
  let s: TestServer;
  const clock = new ManualClock(WED_8AM_NY);
  let n = 0;
  beforeAll(async () => {
    s = await startTestServer({ backend, clock, runScheduler: false });
  });
  afterAll(() => s?.stop());

  async function pair(plan?: Record<string, unknown>) {
    clock.set(WED_8AM_NY);
    n++;
    return therapyRoom(s, { client: `fair-c${n}`, provider: `fair-p${n}`, ...(plan ? { plan } : {}) });
  }
  const api = (token: string, method: string, path: string, body?: unknown) =>
    s.api(method, path, { token, body });
  const available = async (token: string) =>
    (await api(token, 'GET', '/v1/credits')).body.available as number;

  it('a booking undone right after it was made is no late cancel, even inside the late window', async () => {
    const r = await pair();
    const before = await available(r.clientToken);
    const b = await api(r.clientToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_10AM,
    });
    expect(b.status).toBe(201);
    clock.set('2026-11-18T13:05:00Z'); // five minutes later, two hours before the start
    const undone = await api(r.clientToken, 'POST', `/v1/bookings/${b.body.booking.id}/cancel`, {});
    expect(undone.body.booking.status).toBe('cancelled');
    expect(await available(r.clientToken)).toBe(before);
    expect(
      await s.store.db.query('SELECT 1 FROM charge_events WHERE booking_id = $1', [b.body.booking.id]),
    ).toEqual([]);

    // Past the grace, inside the late window: late, as before.
    clock.set(WED_8AM_NY);
    const kept = await api(r.clientToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_11AM,
    });
    clock.set('2026-11-18T14:00:00Z');
    const late = await api(r.clientToken, 'POST', `/v1/bookings/${kept.body.booking.id}/cancel`, {});
    expect(late.body.booking.status).toBe('late_cancelled');
    expect(await available(r.clientToken)).toBe(before - 1);
  });

  it('a chat session the provider booked a minute ahead is no charged no-show for a client who could not know', async () => {
    const r = await pair();
    const before = await available(r.clientToken);
    clock.set('2026-11-18T14:59:00Z');
    const b = await api(r.providerToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'chat',
      startsAt: WED_10AM,
    });
    expect(b.body.booking).toMatchObject({ status: 'confirmed', createdBy: r.provider });
    clock.set(WED_10AM);
    const provider = await s.connect(r.providerToken);
    expect(await request(provider, 'live:join', { bookingId: b.body.booking.id })).toMatchObject({
      ok: true,
    });
    clock.set('2026-11-18T15:15:00Z');
    await s.scheduler.runDue();
    const after = (await api(r.clientToken, 'GET', `/v1/bookings/${b.body.booking.id}`)).body.booking;
    expect(after.status).toBe('client_no_show');
    expect(await available(r.clientToken)).toBe(before);
    expect(
      await s.store.db.query('SELECT 1 FROM charge_events WHERE booking_id = $1', [b.body.booking.id]),
    ).toEqual([]);
  });

  it('two messaging sessions of one client never overlap: the second is refused and takes no credit', async () => {
    const r = await pair({
      kind: 'eap',
      includesMessaging: true,
      liveSessionsPerPeriod: 1,
      messagingSessionsPerPeriod: 3,
      periodStart: '2026-11-01',
    });
    const book = (startsAt: string) =>
      api(r.clientToken, 'POST', '/v1/bookings', { roomId: r.roomId, modality: 'messaging', startsAt });
    const first = await book('2026-11-18T13:00:03Z');
    expect(first.status).toBe(201);
    const overlapping = await book('2026-11-18T13:00:04Z');
    expect(overlapping).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    const credits = (await api(r.clientToken, 'GET', '/v1/credits')).body;
    expect(credits.availableByType.messaging).toBe(2);
    // Moving the first onto itself is no overlap; one that starts as it ends is fine.
    expect((await book(first.body.booking.endsAt)).status).toBe(201);
    const moved = await api(r.clientToken, 'POST', `/v1/bookings/${first.body.booking.id}/reschedule`, {
      startsAt: '2026-11-18T13:00:01Z', // two seconds earlier: overlaps only itself
    });
    expect(moved.status).toBe(201);
  });

  it('a client reads their plan and every charge, and the provider may waive a charge', async () => {
    const r = await pair();
    expect((await api(r.clientToken, 'GET', '/v1/plan')).body).toEqual({
      plan: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 4,
        messagingSessionsPerPeriod: 0,
        periodStart: '2026-11-01',
      },
      period: { startsAt: '2026-10-31T23:00:00.000Z', endsAt: '2026-11-30T23:00:00.000Z' }, // months in Berlin
      allowance: { live: 4, messaging: 0 },
      used: { live: 0, messaging: 0 },
    });
    expect((await api(r.providerToken, 'GET', '/v1/plan')).status).toBe(403);
    const before = await available(r.clientToken);

    const b = await api(r.clientToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_11AM,
    });
    clock.set('2026-11-18T14:30:00Z');
    expect(
      (await api(r.clientToken, 'POST', `/v1/bookings/${b.body.booking.id}/cancel`, {})).body.booking.status,
    ).toBe('late_cancelled');
    expect((await api(r.clientToken, 'GET', '/v1/plan')).body.used).toEqual({ live: 1, messaging: 0 });
    const charged = (await api(r.clientToken, 'GET', '/v1/credits')).body;
    expect(charged.charges).toEqual([
      {
        bookingId: b.body.booking.id,
        at: '2026-11-18T14:30:00.000Z',
        reason: 'late_cancellation',
        waived: false,
      },
    ]);
    expect(charged.available).toBe(before - 1);

    expect((await api(r.clientToken, 'POST', `/v1/bookings/${b.body.booking.id}/waive`, {})).status).toBe(
      403,
    );
    const waived = await api(r.providerToken, 'POST', `/v1/bookings/${b.body.booking.id}/waive`, {});
    expect(waived).toMatchObject({
      status: 200,
      body: { booking: { id: b.body.booking.id, status: 'late_cancelled' } },
    });
    const after = (await api(r.clientToken, 'GET', '/v1/credits')).body;
    expect(after.charges).toEqual([{ ...charged.charges[0], waived: true }]);
    expect(after.available).toBe(before);
    expect(await api(r.providerToken, 'POST', `/v1/bookings/${b.body.booking.id}/waive`, {})).toMatchObject({
      status: 409,
      body: { error: { code: 'conflict' } },
    });
  });

  it('a session confirmed after its last reminder offset gets its reminder at once, in each reader’s time and with each link', async () => {
    const r = await pair();
    clock.set('2026-11-18T14:55:00Z');
    const b = await api(r.providerToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_10AM,
    });
    expect(b.body.booking.status).toBe('confirmed');
    await s.scheduler.runDue();
    const { messages } = (await api(r.clientToken, 'GET', `/v1/rooms/${r.roomId}/messages`)).body;
    const reminder = messages.find((m: any) => m.meta?.event === 'reminder');
    expect(reminder, JSON.stringify(messages.map((m: any) => m.text))).toBeDefined();
    const { joinUrls } = reminder.meta;
    expect(reminder.text).toContain('Wednesday 18 November at 16:00 (Europe/Berlin) for Client');
    expect(reminder.text).toContain('Wednesday 18 November at 10:00 (America/New_York) for Provider');
    expect(reminder.text).toContain(`Client, join here: ${joinUrls[r.client]}`);
    expect(reminder.text).toContain(`Provider, join here: ${joinUrls[r.provider]}`);
    for (const m of messages) expect(m.text).not.toMatch(/\d{4}-\d{2}-\d{2}T/); // no raw ISO anywhere
  });

  it('the day-ahead reminder says from when the links work', async () => {
    const r = await pair();
    clock.set('2026-11-16T12:00:00Z');
    const b = await api(r.providerToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_10AM,
    });
    expect(b.body.booking.status).toBe('confirmed');
    clock.set('2026-11-17T15:00:00Z');
    await s.scheduler.runDue();
    const { messages } = (await api(r.clientToken, 'GET', `/v1/rooms/${r.roomId}/messages`)).body;
    const reminder = messages.find((m: any) => m.meta?.event === 'reminder');
    expect(reminder.text).toContain(
      'The links work from Wednesday 18 November at 15:50 (Europe/Berlin) for Client',
    );
  });

  it('a plan change: a higher allowance applies at once, a lower one from the next period', async () => {
    const r = await pair();
    const admin = s.token('platform', 'admin');
    const setPlan = (live: number) =>
      s.api('PUT', `/v1/users/${r.client}/plan`, {
        token: admin,
        body: {
          kind: 'out_of_pocket',
          includesMessaging: true,
          liveSessionsPerPeriod: live,
          periodStart: '2026-11-01',
        },
      });
    expect(await available(r.clientToken)).toBe(4);
    await setPlan(6);
    expect(await available(r.clientToken)).toBe(6);
    await setPlan(1);
    expect(await available(r.clientToken)).toBe(6); // what this period granted stays granted
    clock.set('2026-12-01T12:00:00Z');
    expect(await available(r.clientToken)).toBe(1);
    expect((await api(r.clientToken, 'GET', '/v1/plan')).body.allowance.live).toBe(1);
  });

  it('a credit the provider gives back after the client’s period ended stays usable', async () => {
    const r = await pair();
    clock.set('2026-11-20T12:00:00Z');
    // A session on Wednesday 2 December, after the November period (Berlin time) has ended.
    const b = await api(r.clientToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: '2026-12-02T15:00:00Z',
    });
    expect(b.status).toBe(201);
    clock.set('2026-12-01T12:00:00Z'); // the next period: its allowance granted, November's lapsed
    const inNewPeriod = await available(r.clientToken);
    const declined = await api(r.providerToken, 'POST', `/v1/bookings/${b.body.booking.id}/decline`, {});
    expect(declined.body.booking.status).toBe('declined');
    expect(await available(r.clientToken)).toBe(inNewPeriod + 1);
    const ledger = (await api(r.clientToken, 'GET', '/v1/credits')).body.ledger.filter(
      (e: any) => e.creditId === b.body.booking.creditId,
    );
    expect(ledger.at(-1)).toMatchObject({ kind: 'restore', expiresAt: '2026-12-31T12:00:00.000Z' });
    // And it books a new session.
    const again = await api(r.clientToken, 'POST', '/v1/bookings', {
      roomId: r.roomId,
      modality: 'video',
      startsAt: '2026-12-03T15:00:00Z',
    });
    expect(again.status).toBe(201);
  });
});

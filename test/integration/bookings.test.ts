import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { collect, request, startTestServer, type TestServer } from '../helpers/server.ts';

// Monday 2026-11-16 07:00 in New York, where the provider works 09:00-17:00.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z'; // Wednesday 10:00 in New York
const WED_11AM = '2026-11-18T16:00:00.000Z';
const WED_2PM = '2026-11-18T19:00:00.000Z';

const plan = (over: Record<string, unknown> = {}) => ({
  kind: 'out_of_pocket',
  includesMessaging: true,
  liveSessionsPerPeriod: 2,
  periodStart: '2026-11-01',
  ...over,
});

describe.each(backends)('bookings and credits on the $name store', (backend) => {
  let s: TestServer;
  const clock = new ManualClock(MONDAY);
  let n = 0;

  beforeAll(async () => {
    s = await startTestServer({ backend, clock, runScheduler: false });
  });
  afterAll(() => s?.stop());

  /** A fresh client/provider pair and room for each test; the clock back on Monday. */
  async function pair(o: Parameters<typeof therapyRoom>[1] = {}) {
    clock.set(MONDAY);
    n++;
    return therapyRoom(s, { client: `c${n}`, provider: `p${n}`, plan: plan(), ...o });
  }
  const as = (token: string) => ({
    book: (body: Record<string, unknown>) => s.api('POST', '/v1/bookings', { token, body }),
    act: (id: string, action: string, body: unknown = {}) =>
      s.api('POST', `/v1/bookings/${id}/${action}`, { token, body }),
    get: (id: string) => s.api('GET', `/v1/bookings/${id}`, { token }),
    credits: () => s.api('GET', '/v1/credits', { token }),
  });
  const runJobsAt = async (iso: string | Date) => {
    clock.set(iso);
    return s.scheduler.runDue();
  };

  it('books an open slot, the provider confirms, and the reminder with a working join link arrives in the room', async () => {
    const r = await pair();
    const client = as(r.clientToken);
    const socket = await s.connect(r.clientToken);
    const seen = collect(socket, 'message:new');

    const slots = await s.api(
      'GET',
      `/v1/providers/${r.provider}/slots?from=2026-11-18T00:00:00Z&to=2026-11-19T00:00:00Z`,
      { token: r.clientToken },
    );
    expect(slots.status).toBe(200);
    expect(slots.body.slots[0]).toEqual({
      startsAt: '2026-11-18T14:00:00.000Z',
      endsAt: '2026-11-18T14:50:00.000Z',
    });
    expect(slots.body.slots.map((x: any) => x.startsAt)).toContain(WED_10AM);

    const booked = await client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM });
    expect(booked.status).toBe(201);
    const b = booked.body.booking;
    expect(b).toMatchObject({
      roomId: r.roomId,
      clientId: r.client,
      providerId: r.provider,
      modality: 'video',
      status: 'pending_confirmation',
      startsAt: WED_10AM,
      endsAt: '2026-11-18T15:50:00.000Z',
    });
    expect(b.creditId).toEqual(expect.any(String));
    const taken = await s.api(
      'GET',
      `/v1/providers/${r.provider}/slots?from=2026-11-18T00:00:00Z&to=2026-11-19T00:00:00Z`,
      { token: r.clientToken },
    );
    expect(taken.body.slots.map((x: any) => x.startsAt)).not.toContain(WED_10AM);
    expect((await client.credits()).body).toMatchObject({
      available: 1,
      periodEndsAt: '2026-11-30T23:00:00.000Z',
    }); // midnight in Berlin, the client's zone

    const confirmed = await as(r.providerToken).act(b.id, 'confirm');
    expect(confirmed.body.booking.status).toBe('confirmed');

    expect(await runJobsAt('2026-11-17T14:59:59Z')).toBe(0);
    expect(await runJobsAt('2026-11-17T15:00:00Z')).toBe(1); // 24 h before
    await runJobsAt('2026-11-18T14:50:00Z'); // 10 min before
    await request(socket, 'message:history', { roomId: r.roomId }); // a round trip: broadcasts have arrived
    const events = seen.filter((m) => m.kind === 'system').map((m) => m.meta.event);
    expect(events).toEqual(['booked', 'confirmed', 'reminder', 'reminder']);
    const reminder = seen.find((m) => m.meta?.event === 'reminder');
    expect(reminder).toMatchObject({
      senderRole: 'bot',
      bookingId: b.id,
      meta: { bookingId: b.id, startsAt: WED_10AM },
    });
    expect(reminder.meta.joinUrl).toMatch(new RegExp(`^${s.url}/join/[\\w-]+\\.[\\w-]+\\.[\\w-]+$`));

    const token = reminder.meta.joinUrl.split('/join/')[1];
    clock.set('2026-11-18T14:49:00Z'); // the window opens 10 minutes before the start
    // Before the window the page learns when it opens; the session itself cannot be joined yet.
    const early = await s.api('GET', `/v1/join/${token}`, { token: r.clientToken });
    expect(early.body).toMatchObject({ open: false, opensAt: '2026-11-18T14:50:00.000Z' });
    clock.set('2026-11-18T14:51:00Z');
    const join = await s.api('GET', `/v1/join/${token}`, { token: r.clientToken });
    expect(join).toMatchObject({
      status: 200,
      body: {
        booking: { id: b.id },
        opensAt: '2026-11-18T14:50:00.000Z',
        closesAt: '2026-11-18T15:50:00.000Z',
      },
    });
    expect((await s.api('GET', `/v1/join/${token}`, { token: r.providerToken })).body.error.code).toBe(
      'forbidden',
    );
    clock.set('2026-11-18T15:50:01Z');
    expect((await s.api('GET', `/v1/join/${token}`, { token: r.clientToken })).body.error.code).toBe(
      'join_window_closed',
    );
  });

  it('two bookings racing for the last credit: exactly one wins', async () => {
    const r = await pair({ plan: plan({ liveSessionsPerPeriod: 1 }) });
    const client = as(r.clientToken);
    const results = await Promise.all([
      client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM }),
      client.book({ roomId: r.roomId, modality: 'audio', startsAt: WED_2PM }),
    ]);
    expect(results.map((x) => x.status).sort()).toEqual([201, 409]);
    expect(results.find((x) => x.status === 409)?.body.error.code).toBe('no_credit');
    expect((await client.credits()).body.available).toBe(0);
  });

  it('two clients racing for one slot: exactly one wins', async () => {
    const r1 = await pair();
    const r2 = await therapyRoom(s, { client: `c${n}-b`, provider: r1.provider, plan: plan() });
    const results = await Promise.all([
      as(r1.clientToken).book({ roomId: r1.roomId, modality: 'video', startsAt: WED_10AM }),
      as(r2.clientToken).book({ roomId: r2.roomId, modality: 'video', startsAt: WED_10AM }),
    ]);
    expect(results.map((x) => x.status).sort()).toEqual([201, 409]);
    expect(results.find((x) => x.status === 409)?.body.error.code).toBe('conflict');
  });

  it('buys a credit while booking when none is left (out of pocket), and purchases are idempotent by paymentRef', async () => {
    const r = await pair({ plan: plan({ liveSessionsPerPeriod: 0 }) });
    const client = as(r.clientToken);
    expect(
      (await client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body.error.code,
    ).toBe('no_credit');
    const bought = await client.book({
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_10AM,
      purchase: true,
    });
    expect(bought.status).toBe(201);
    const p1 = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 2, paymentRef: 'pay-1' },
    });
    const p2 = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 2, paymentRef: 'pay-1' },
    });
    expect(p1.status).toBe(201);
    expect(p2.body.creditIds).toEqual(p1.body.creditIds);
    expect(p2.body.available).toBe(2);
    const kinds = p2.body.ledger.map((e: any) => e.kind);
    expect(kinds).toEqual(['purchase', 'reserve', 'purchase', 'purchase']);
  });

  it('eap plans cannot buy credits', async () => {
    const r = await pair({
      plan: plan({ kind: 'eap', liveSessionsPerPeriod: 0, messagingSessionsPerPeriod: 1 }),
    });
    const res = await as(r.clientToken).book({
      roomId: r.roomId,
      modality: 'video',
      startsAt: WED_10AM,
      purchase: true,
    });
    expect(res.body.error.code).toBe('no_credit');
    const buy = await s.api('POST', '/v1/credits/purchase', {
      token: r.clientToken,
      body: { count: 1, paymentRef: 'x' },
    });
    expect(buy.body.error.code).toBe('forbidden');
  });

  it('an unconfirmed booking expires at the deadline and its credit comes back; the room is told', async () => {
    const r = await pair();
    const socket = await s.connect(r.clientToken);
    const seen = collect(socket, 'message:new');
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    expect(b.confirmBy).toBe('2026-11-17T15:00:00.000Z');
    await runJobsAt('2026-11-17T15:00:00Z');
    expect((await as(r.clientToken).get(b.id)).body.booking.status).toBe('expired');
    expect((await as(r.clientToken).credits()).body.available).toBe(2);
    expect((await as(r.providerToken).act(b.id, 'confirm')).body.error.code).toBe('conflict');
    await request(socket, 'message:history', { roomId: r.roomId });
    expect(seen.map((m) => m.meta?.event)).toContain('expired');
  });

  it('a provider may decline; the credit comes back', async () => {
    const r = await pair();
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'chat', startsAt: WED_10AM })).body
      .booking;
    expect((await as(r.clientToken).act(b.id, 'decline')).body.error.code).toBe('forbidden');
    expect((await as(r.providerToken).act(b.id, 'decline')).body.booking.status).toBe('declined');
    expect((await as(r.clientToken).credits()).body.available).toBe(2);
  });

  it('a client cancelling in time gets the credit back; inside the late window loses it and is charged', async () => {
    const r = await pair();
    const client = as(r.clientToken);
    const early = (await client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    const late = (await client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_2PM })).body.booking;
    await as(r.providerToken).act(late.id, 'confirm');
    expect((await client.credits()).body.available).toBe(0);
    expect((await client.act(early.id, 'cancel', { reason: 'work trip' })).body.booking).toMatchObject({
      status: 'cancelled',
      cancelReason: 'work trip',
    });
    expect((await client.credits()).body.available).toBe(1);
    clock.set('2026-11-17T20:00:00Z'); // 23 h before the 2 pm session
    expect((await client.act(late.id, 'cancel')).body.booking.status).toBe('late_cancelled');
    expect((await client.credits()).body.available).toBe(1);
    const charges = await s.store.db.query('SELECT reason FROM charge_events WHERE booking_id = $1', [
      late.id,
    ]);
    expect(charges).toEqual([{ reason: 'late_cancellation' }]);
    expect((await client.act(late.id, 'cancel')).body.error.code).toBe('conflict');
  });

  it('a provider cancelling never costs the client, even late', async () => {
    const r = await pair();
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    await as(r.providerToken).act(b.id, 'confirm');
    clock.set('2026-11-18T14:00:00Z');
    expect((await as(r.providerToken).act(b.id, 'cancel')).body.booking.status).toBe('cancelled');
    expect((await as(r.clientToken).credits()).body.available).toBe(2);
    expect(await s.store.db.query('SELECT 1 FROM charge_events WHERE booking_id = $1', [b.id])).toEqual([]);
  });

  it('rescheduling in time moves the same credit; late, the old credit is forfeited and the new booking takes another', async () => {
    const r = await pair();
    const client = as(r.clientToken);
    const b = (await client.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body.booking;
    const moved = await client.act(b.id, 'reschedule', { startsAt: WED_11AM });
    expect(moved.status).toBe(201);
    expect(moved.body.booking).toMatchObject({
      startsAt: WED_11AM,
      status: 'pending_confirmation',
      rescheduledFrom: b.id,
      creditId: b.creditId,
    });
    expect((await client.get(b.id)).body.booking).toMatchObject({
      status: 'rescheduled',
      rescheduledTo: moved.body.booking.id,
    });
    expect((await client.credits()).body.available).toBe(1);

    await as(r.providerToken).act(moved.body.booking.id, 'confirm');
    clock.set('2026-11-18T10:00:00Z'); // inside the late window
    const late = await client.act(moved.body.booking.id, 'reschedule', { startsAt: WED_2PM });
    expect(late.body.booking.creditId).not.toBe(b.creditId);
    expect((await client.credits()).body.available).toBe(0);
    clock.set('2026-11-18T11:00:00Z'); // past the new booking's cancel grace: late again
    const again = await client.act(late.body.booking.id, 'reschedule', { startsAt: '2026-11-18T20:00:00Z' });
    expect(again.body.error.code).toBe('no_credit'); // late again, and no credit left to move to
    expect((await client.get(late.body.booking.id)).body.booking.status).toBe('pending_confirmation'); // nothing half-done
  });

  it('a provider rescheduling late keeps the client’s credit and needs no confirmation', async () => {
    const r = await pair();
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    clock.set('2026-11-18T10:00:00Z');
    const moved = await as(r.providerToken).act(b.id, 'reschedule', { startsAt: WED_2PM });
    expect(moved.body.booking).toMatchObject({ status: 'confirmed', creditId: b.creditId });
    expect((await as(r.clientToken).credits()).body.available).toBe(1);
  });

  it('support staff never manage sessions', async () => {
    const r = await pair();
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    const support = as(s.token('rep-1', 'support'));
    expect(
      (await support.book({ roomId: r.roomId, modality: 'video', startsAt: WED_2PM })).body.error.code,
    ).toBe('support_cannot_manage_sessions');
    for (const action of ['confirm', 'decline', 'cancel']) {
      expect((await support.act(b.id, action)).body.error.code).toBe('support_cannot_manage_sessions');
    }
    expect((await support.act(b.id, 'reschedule', { startsAt: WED_2PM })).body.error.code).toBe(
      'support_cannot_manage_sessions',
    );
    expect((await as(r.clientToken).get(b.id)).body.booking.status).toBe('pending_confirmation');
  });

  it('psychiatry sessions are video only', async () => {
    const r = await pair({ service: 'psychiatry' });
    for (const modality of ['audio', 'chat', 'messaging']) {
      expect(
        (await as(r.clientToken).book({ roomId: r.roomId, modality, startsAt: WED_10AM })).body.error.code,
      ).toBe('psychiatry_video_only');
    }
    expect(
      (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).status,
    ).toBe(201);
  });

  it('a provider books a slot for the client from the availability they shared', async () => {
    const r = await pair();
    const client = await s.connect(r.clientToken);
    await request(client, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'avail',
      kind: 'availability',
      availability: [{ startsAt: '2026-11-18T18:00:00Z', endsAt: '2026-11-18T21:00:00Z' }],
    });
    const b = await as(r.providerToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_2PM });
    expect(b.body.booking).toMatchObject({ status: 'confirmed', clientId: r.client, createdBy: r.provider });
  });

  it('an eap client messages inside a booked messaging session, which cannot be cancelled once started', async () => {
    const r = await pair({
      plan: plan({ kind: 'eap', liveSessionsPerPeriod: 1, messagingSessionsPerPeriod: 1 }),
    });
    const socket = await s.connect(r.clientToken);
    const send = (id: string) =>
      request(socket, 'message:send', { roomId: r.roomId, clientMsgId: id, kind: 'text', text: 'hello' });
    expect(await send('before')).toMatchObject({ ok: false, error: { code: 'messaging_session_required' } });
    const m = await as(r.clientToken).book({
      roomId: r.roomId,
      modality: 'messaging',
      startsAt: '2026-11-17T12:00:00Z',
    });
    expect(m.body.booking).toMatchObject({
      modality: 'messaging',
      status: 'confirmed',
      endsAt: '2026-11-24T12:00:00.000Z',
    });
    // A live session can be booked beside it, with the live credit.
    expect(
      (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).status,
    ).toBe(201);

    await runJobsAt('2026-11-17T12:00:00Z');
    expect((await as(r.clientToken).get(m.body.booking.id)).body.booking.status).toBe('in_progress');
    expect(await send('during')).toMatchObject({ ok: true });
    expect((await as(r.clientToken).act(m.body.booking.id, 'cancel')).body.error.code).toBe(
      'session_already_started',
    );
    expect(
      (await as(r.clientToken).act(m.body.booking.id, 'reschedule', { startsAt: WED_11AM })).body.error.code,
    ).toBe('session_already_started');
    const ledger = (await as(r.clientToken).credits()).body.ledger
      .filter((e: any) => e.creditType === 'messaging')
      .map((e: any) => e.kind);
    expect(ledger).toEqual(['grant', 'reserve', 'consume']);

    await runJobsAt('2026-11-24T12:00:00Z');
    expect((await as(r.clientToken).get(m.body.booking.id)).body.booking.status).toBe('completed');
    expect(await send('after')).toMatchObject({ ok: false, error: { code: 'messaging_session_required' } });
  });

  it('out-of-pocket plans do not book messaging sessions; they message any time', async () => {
    const r = await pair();
    const res = await as(r.clientToken).book({ roomId: r.roomId, modality: 'messaging', startsAt: WED_10AM });
    expect(res.body.error.code).toBe('invalid_input');
  });

  it('when nobody joins, it is the provider’s no-show: the client reschedules with the same credit', async () => {
    const r = await pair();
    const socket = await s.connect(r.clientToken);
    const seen = collect(socket, 'message:new');
    const b = (await as(r.clientToken).book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body
      .booking;
    await as(r.providerToken).act(b.id, 'confirm');
    await runJobsAt('2026-11-18T15:14:59Z');
    expect((await as(r.clientToken).get(b.id)).body.booking.status).toBe('confirmed');
    await runJobsAt('2026-11-18T15:15:00Z');
    expect((await as(r.clientToken).get(b.id)).body.booking).toMatchObject({
      status: 'provider_no_show',
      outcome: 'provider_no_show',
    });
    expect((await as(r.clientToken).credits()).body.available).toBe(2);
    await request(socket, 'message:history', { roomId: r.roomId });
    expect(seen.find((m) => m.meta?.event === 'provider_no_show')?.text).toMatch(
      /reschedule with the same credit/,
    );

    const again = await as(r.clientToken).act(b.id, 'reschedule', { startsAt: '2026-11-19T15:00:00Z' });
    expect(again.body.booking).toMatchObject({ creditId: b.creditId, rescheduledFrom: b.id });
    expect((await as(r.clientToken).get(b.id)).body.booking).toMatchObject({
      status: 'provider_no_show',
      rescheduledTo: again.body.booking.id,
    });
    expect(await s.store.db.query('SELECT 1 FROM charge_events WHERE client_id = $1', [r.client])).toEqual(
      [],
    );
  });

  it('unused period credits expire at the period end and do not carry over', async () => {
    const r = await pair();
    expect((await as(r.clientToken).credits()).body.available).toBe(2);
    await runJobsAt('2026-12-01T00:00:00Z');
    const after = (await as(r.clientToken).credits()).body;
    expect(after).toMatchObject({ available: 2, periodEndsAt: '2026-12-31T23:00:00.000Z' });
    expect(after.ledger.map((e: any) => e.kind)).toEqual([
      'grant',
      'grant',
      'expire',
      'expire',
      'grant',
      'grant',
    ]);
  });

  it('refuses bad booking input and changes nothing', async () => {
    const r = await pair();
    const client = as(r.clientToken);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [
        { roomId: r.roomId, modality: 'video', startsAt: '2026-11-18T15:10:00Z' },
        'invalid_input',
        /startsAt: not one of the provider/,
      ],
      [
        { roomId: r.roomId, modality: 'video', startsAt: '2026-11-21T15:00:00Z' },
        'invalid_input',
        /startsAt: not one of/,
      ], // Saturday
      [
        { roomId: r.roomId, modality: 'video', startsAt: '2026-11-10T15:00:00Z' },
        'invalid_input',
        /startsAt: is in the past/,
      ],
      [{ roomId: r.roomId, modality: 'video', startsAt: 'next wednesday' }, 'invalid_input', /startsAt/],
      [{ roomId: r.roomId, modality: 'hologram', startsAt: WED_10AM }, 'invalid_input', /modality/],
      [
        { roomId: r.roomId, modality: 'video', startsAt: WED_10AM, colour: 1 },
        'invalid_input',
        /colour: unknown field/,
      ],
      [{ roomId: 'nope', modality: 'video', startsAt: WED_10AM }, 'not_found', /room nope/],
    ];
    for (const [body, code, message] of cases) {
      const res = await client.book(body);
      expect(res.body.error.code).toBe(code);
      expect(res.body.error.message).toMatch(message);
    }
    expect((await client.get('no-such-booking')).body.error.code).toBe('not_found');
    expect((await client.act('no-such-booking', 'cancel')).body.error.code).toBe('not_found');
    expect(
      (await s.api('GET', `/v1/bookings?roomId=${r.roomId}`, { token: r.clientToken })).body.bookings,
    ).toEqual([]);
    expect((await client.credits()).body.available).toBe(2);
    const stranger = as(s.token('someone', 'client'));
    expect(
      (await stranger.book({ roomId: r.roomId, modality: 'video', startsAt: WED_10AM })).body.error.code,
    ).toBe('forbidden');
  });
});

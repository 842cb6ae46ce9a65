import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';

// Wednesday 18 November 2026; the provider works 09:00-17:00 in New York (14:00-22:00Z).
const WED_8AM_NY = '2026-11-18T13:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';

const plan = (kind: string, includesMessaging: boolean) => ({
  kind,
  includesMessaging,
  liveSessionsPerPeriod: 2,
  messagingSessionsPerPeriod: 1,
  periodStart: '2026-11-01',
});

/**
 * A client who may not message still reaches their provider about a booking
 * (DOMAIN.md, "Rooms and messages"; PROTOCOL.md, "Booking requests").
 */
describe.each(backends)('booking requests on the $name store', (backend) => {
  let s: TestServer;
  const clock = new ManualClock(WED_8AM_NY);
  let n = 0;
  beforeAll(async () => {
    s = await startTestServer({ backend, clock, runScheduler: false });
  });
  afterAll(() => s?.stop());

  async function booked(o: Parameters<typeof therapyRoom>[1] = {}) {
    clock.set(WED_8AM_NY);
    n++;
    const r = await therapyRoom(s, { client: `req-c${n}`, provider: `req-p${n}`, ...o });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
    });
    expect(b.status).toBe(201);
    return { ...r, bookingId: b.body.booking.id as string };
  }
  const ask = (roomId: string, clientMsgId: string, extra: object) => ({
    roomId,
    clientMsgId,
    kind: 'request' as const,
    ...extra,
  });

  it('a psychiatry client asks their provider to cancel a booking, though they may not message', async () => {
    const r = await booked({ service: 'psychiatry' });
    const client = await s.connect(r.clientToken);
    const provider = await s.connect(r.providerToken);
    expect(
      await request(client, 'message:send', { roomId: r.roomId, clientMsgId: 't', kind: 'text', text: 'hi' }),
    ).toMatchObject({ ok: false, error: { code: 'psychiatry_video_only' } });

    const arriving = nextEvent(provider, 'message:new');
    const sent = await request(
      client,
      'message:send',
      ask(r.roomId, 'r1', { bookingId: r.bookingId, request: 'cancel', text: 'I have an exam that day' }),
    );
    expect(sent).toMatchObject({
      ok: true,
      data: { message: { kind: 'request', bookingId: r.bookingId, request: 'cancel', senderId: r.client } },
    });
    expect(await arriving).toMatchObject({
      kind: 'request',
      request: 'cancel',
      text: 'I have an exam that day',
    });
    const history = await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken });
    expect(history.body.messages.at(-1)).toMatchObject({ kind: 'request', bookingId: r.bookingId });
    // The note is sealed at rest like every text.
    const [row] = await s.store.db.query<{ text: string }>('SELECT text FROM messages WHERE id = $1', [
      history.body.messages.at(-1).id,
    ]);
    expect(row!.text).not.toContain('exam');
  });

  it('an eap client outside a messaging session asks to reschedule; so does an organization client without messaging', async () => {
    for (const p of [plan('eap', true), plan('organization', false)]) {
      const r = await booked({ plan: p });
      const client = await s.connect(r.clientToken);
      const refused = await request(client, 'message:send', {
        roomId: r.roomId,
        clientMsgId: 't',
        kind: 'text',
        text: 'hi',
      });
      expect(refused.ok).toBe(false);
      const sent = await request(
        client,
        'message:send',
        ask(r.roomId, 'r1', { bookingId: r.bookingId, request: 'reschedule' }),
      );
      expect(sent).toMatchObject({ ok: true, data: { message: { kind: 'request', request: 'reschedule' } } });
      // Over REST as well.
      const rest = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'r2', kind: 'request', bookingId: r.bookingId, request: 'cancel' },
      });
      expect(rest.status).toBe(201);
    }
  });

  it('a request names a booking of the sender’s in this room that can still be asked for', async () => {
    const r = await booked({ plan: plan('organization', false) });
    const other = await booked();
    const client = await s.connect(r.clientToken);
    const send = (id: string, extra: object) =>
      request(client, 'message:send', ask(r.roomId, id, { request: 'cancel', ...extra }));

    // Another client's booking, or none at all.
    expect(await send('a', { bookingId: other.bookingId })).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    expect(await send('b', { bookingId: 'no-such-booking' })).toMatchObject({
      ok: false,
      error: { code: 'not_found' },
    });
    // The provider answers by acting on the booking, not with requests.
    const provider = await s.connect(r.providerToken);
    expect(
      await request(
        provider,
        'message:send',
        ask(r.roomId, 'c', { bookingId: r.bookingId, request: 'cancel' }),
      ),
    ).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    // Malformed: no bookingId, no request, a note too long, a request word on a text.
    for (const bad of [
      { request: 'cancel' },
      { bookingId: r.bookingId, request: undefined },
      { bookingId: r.bookingId, text: 'x'.repeat(501) },
      { bookingId: r.bookingId, request: 'refund' },
    ]) {
      expect(await send('d', bad)).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    }
    expect(
      await request(client, 'message:send', {
        roomId: r.roomId,
        clientMsgId: 'e',
        kind: 'availability',
        availability: [{ startsAt: WED_10AM, endsAt: '2026-11-18T16:00:00.000Z' }],
        request: 'cancel',
      } as never),
    ).toMatchObject({ ok: false, error: { code: 'invalid_input' } });

    // Once cancelled there is nothing left to cancel or move.
    const cancelled = await s.api('POST', `/v1/bookings/${r.bookingId}/cancel`, { token: r.providerToken });
    expect(cancelled.body.booking.status).toBe('cancelled');
    expect(await send('f', { bookingId: r.bookingId })).toMatchObject({
      ok: false,
      error: { code: 'conflict' },
    });
    expect(await send('g', { bookingId: r.bookingId, request: 'reschedule' })).toMatchObject({
      ok: false,
      error: { code: 'conflict' },
    });
  });
});

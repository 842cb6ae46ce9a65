import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';

// Monday 07:00 in New York; the session is on Wednesday at 10:00 (15:00Z), 50 minutes.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';
const IN_WINDOW = '2026-11-18T14:52:00Z';

describe('join links for outside bots', () => {
  let s: TestServer;
  const clock = new ManualClock(MONDAY);

  beforeAll(async () => {
    s = await startTestServer({ backend: embedded, clock, runScheduler: false });
  });
  afterAll(() => s?.stop());

  it('a bot fetches the links of a booking in its room, posts them as a reminder, and they open the session', async () => {
    const r = await therapyRoom(s, { client: 'jc', provider: 'jp' });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'chat', startsAt: WED_10AM },
    });
    expect(b.status).toBe(201);
    const bookingId = b.body.booking.id as string;
    await s.api('POST', `/v1/bookings/${bookingId}/confirm`, { token: r.providerToken });

    const bot = s.token('reminder-bot', 'bot', { rooms: [r.roomId] });
    const links = await s.api('GET', `/v1/bookings/${bookingId}/join-links`, { token: bot });
    expect(links).toMatchObject({
      status: 200,
      body: {
        joinUrls: {
          [r.client]: expect.stringMatching(new RegExp(`^${s.url}/join/[^/]+$`)),
          [r.provider]: expect.stringMatching(new RegExp(`^${s.url}/join/[^/]+$`)),
        },
        opensAt: '2026-11-18T14:50:00.000Z', // POLICY_JOIN_OPENS (10m) before the start
        closesAt: '2026-11-18T15:50:00.000Z',
      },
    });
    const { joinUrls } = links.body as { joinUrls: Record<string, string> };
    // The platform's backend may fetch them too; the participants and other bots may not.
    expect((await s.api('GET', `/v1/bookings/${bookingId}/join-links`, { token: r.admin })).body).toEqual(
      links.body,
    );
    const otherBot = s.token('other-bot', 'bot', { rooms: ['some-other-room'] });
    for (const token of [otherBot, r.clientToken, r.providerToken]) {
      expect((await s.api('GET', `/v1/bookings/${bookingId}/join-links`, { token })).status).toBe(403);
    }
    expect((await s.api('GET', '/v1/bookings/no-such-booking/join-links', { token: bot })).status).toBe(404);

    // The reminder goes into the room, the links in the text a person reads and in meta.
    clock.set(IN_WINDOW);
    const cs = await s.connect(r.clientToken);
    const ps = await s.connect(r.providerToken);
    const clientHears = nextEvent(cs, 'message:new');
    const posted = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: bot,
      body: {
        clientMsgId: `reminder:${bookingId}`,
        kind: 'system',
        text: `Your chat session starts at 10:00. Join: ${joinUrls[r.client]}`,
        bookingId,
        meta: { event: 'reminder', bookingId, joinUrls },
      },
    });
    expect(posted.status).toBe(201);
    const reminder = await clientHears;
    expect(reminder).toMatchObject({ senderId: 'reminder-bot', kind: 'system', meta: { joinUrls } });
    expect(reminder.text).toContain(joinUrls[r.client]);

    // Each participant opens their own link: the page, what it grants, and the session itself.
    const tokenOf = (userId: string) => new URL(reminder.meta.joinUrls[userId]).pathname.split('/join/')[1]!;
    const page = await fetch(reminder.meta.joinUrls[r.client]);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const grant = await s.api('GET', `/v1/join/${tokenOf(r.client)}`, { token: r.clientToken });
    expect(grant.body).toMatchObject({ booking: { id: bookingId }, opensAt: links.body.opensAt });
    expect(await request(cs, 'live:join', { joinToken: tokenOf(r.client) })).toMatchObject({
      ok: true,
      data: { bookingId, modality: 'chat', status: 'waiting' },
    });
    expect(await request(ps, 'live:join', { joinToken: tokenOf(r.provider) })).toMatchObject({
      ok: true,
      data: { bookingId, status: 'in_progress' },
    });
  });

  it('refuses links for a booking whose session can no longer be joined', async () => {
    clock.set(MONDAY);
    const r = await therapyRoom(s, { client: 'kc', provider: 'kp' });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
    });
    await s.api('POST', `/v1/bookings/${b.body.booking.id}/cancel`, { token: r.clientToken, body: {} });
    const bot = s.token('reminder-bot', 'bot', { rooms: ['*'] });
    const res = await s.api('GET', `/v1/bookings/${b.body.booking.id}/join-links`, { token: bot });
    expect(res).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
  });
});

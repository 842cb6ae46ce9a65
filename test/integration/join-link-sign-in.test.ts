import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import {
  collect,
  nextEvent,
  request,
  startTestServer,
  type TestServer,
  transports,
} from '../helpers/server.ts';

// Monday; the session is on Wednesday at 10:00 (15:00Z); its link opens at 14:50Z.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';
const IN_WINDOW = '2026-11-18T14:52:00Z';

/** A link is all a patient has: the page reads it, the socket signs in with it (PROTOCOL.md, "Join links are enough"). */
describe.each(transports)('signing in with a join link alone ($transport transports)', ({ transport }) => {
  let s: TestServer;
  const clock = new ManualClock(MONDAY);
  let n = 0;

  beforeAll(async () => {
    s = await startTestServer({ backend: embedded, clock, runScheduler: false, transport });
  });
  afterAll(() => s?.stop());

  /** A confirmed chat session on Wednesday and both participants' join tokens. */
  async function session(modality: 'chat' | 'video' = 'chat') {
    clock.set(MONDAY);
    n += 1;
    const r = await therapyRoom(s, { client: `lc${n}`, provider: `lp${n}` });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality, startsAt: WED_10AM },
    });
    expect(b.status).toBe(201);
    const bookingId = b.body.booking.id as string;
    await s.api('POST', `/v1/bookings/${bookingId}/confirm`, { token: r.providerToken });
    const bot = s.token('reminder-bot', 'bot', { rooms: ['*'] });
    const links = await s.api('GET', `/v1/bookings/${bookingId}/join-links`, { token: bot });
    const tokenOf = (userId: string) => new URL(links.body.joinUrls[userId]).pathname.split('/join/')[1]!;
    return { ...r, bookingId, clientLink: tokenOf(r.client), providerLink: tokenOf(r.provider) };
  }

  it('the page reads what the link grants with no other credential, and learns when it opens', async () => {
    const r = await session();
    const early = await s.api('GET', `/v1/join/${r.clientLink}`);
    expect(early).toMatchObject({
      status: 200,
      body: {
        booking: { id: r.bookingId, status: 'confirmed' },
        opensAt: '2026-11-18T14:50:00.000Z',
        closesAt: '2026-11-18T15:50:00.000Z',
        open: false,
        participant: { userId: r.client, role: 'client', displayName: 'Client' },
        other: { userId: r.provider, role: 'provider', displayName: 'Provider' },
      },
    });
    clock.set(IN_WINDOW);
    expect((await s.api('GET', `/v1/join/${r.clientLink}`)).body.open).toBe(true);
    // A platform token beside it must be the same participant's.
    expect((await s.api('GET', `/v1/join/${r.clientLink}`, { token: r.providerToken })).status).toBe(403);
    expect((await s.api('GET', `/v1/join/${r.clientLink}x`)).body.error.code).toBe('unauthenticated');
    clock.set('2026-11-18T15:50:01Z');
    const late = await s.api('GET', `/v1/join/${r.clientLink}`);
    expect(late).toMatchObject({ status: 403, body: { error: { code: 'join_window_closed' } } });
    expect(late.body.error.message).toContain('2026-11-18T15:50:00');
  });

  it('a link-only socket joins its session and chats in it, and opens nothing else', async () => {
    const r = await session();
    clock.set(IN_WINDOW);
    const link = await s.connect({ joinToken: r.clientLink });
    const provider = await s.connect(r.providerToken);
    expect(await request(link, 'live:join', { joinToken: r.clientLink })).toMatchObject({
      ok: true,
      data: { bookingId: r.bookingId, modality: 'chat', status: 'waiting' },
    });
    expect(await request(provider, 'live:join', { bookingId: r.bookingId })).toMatchObject({
      ok: true,
      data: { status: 'in_progress' },
    });

    // The session's chat goes both ways; the room's other messages never reach the link's socket.
    const linkHears = collect(link, 'message:new');
    const providerHears = nextEvent(provider, 'message:new');
    const sent = await request(link, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'c1',
      kind: 'text',
      text: 'hello from the link',
      bookingId: r.bookingId,
    });
    expect(sent).toMatchObject({
      ok: true,
      data: { message: { senderId: r.client, bookingId: r.bookingId } },
    });
    expect(await providerHears).toMatchObject({ text: 'hello from the link' });
    await request(provider, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'p-room',
      kind: 'text',
      text: 'an asynchronous note in the room',
    });
    await request(provider, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'p-chat',
      kind: 'text',
      text: 'hello from the provider',
      bookingId: r.bookingId,
    });
    // A round trip on the link's socket: what was broadcast before it has arrived.
    await request(link, 'live:mute', { bookingId: r.bookingId, producerId: 'none', paused: true });
    expect(linkHears.map((m) => m.text)).toEqual(['hello from the link', 'hello from the provider']);

    // Nothing beyond the session: not the room's history, other rooms, other bookings, or a new token.
    for (const [event, payload] of [
      ['rooms:list', {}],
      ['message:history', { roomId: r.roomId }],
      ['rooms:sync', { cursors: { [r.roomId]: 0 } }],
      ['message:send', { roomId: r.roomId, clientMsgId: 'c2', kind: 'text', text: 'outside the session' }],
      ['live:join', { bookingId: 'another-booking' }],
      ['auth:refresh', { token: r.clientToken }],
    ] as const) {
      const answer = await request(link, event as 'rooms:list', payload as never);
      expect(answer, event).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    }
  });

  it('a second device with the same link takes the session over, and the first is told', async () => {
    const r = await session();
    clock.set(IN_WINDOW);
    const first = await s.connect({ joinToken: r.clientLink });
    const provider = await s.connect(r.providerToken);
    await request(provider, 'live:join', { bookingId: r.bookingId });
    expect((await request(first, 'live:join', { joinToken: r.clientLink })).ok).toBe(true);

    const told = nextEvent(first, 'live:rejoin');
    const providerSeen = collect(provider, 'live:participant');
    const second = await s.connect({ joinToken: r.clientLink });
    expect(await request(second, 'live:join', { joinToken: r.clientLink })).toMatchObject({
      ok: true,
      data: { status: 'in_progress' },
    });
    expect(await told).toEqual({ bookingId: r.bookingId, reason: 'superseded' });
    expect(await request(first, 'live:leave', { bookingId: r.bookingId })).toMatchObject({
      ok: false,
      error: { code: 'superseded' },
    });
    // The first device going away does not take the client out of the session.
    first.disconnect();
    await request(second, 'live:mute', { bookingId: r.bookingId, producerId: 'none', paused: true });
    await request(provider, 'live:mute', { bookingId: r.bookingId, producerId: 'none', paused: true });
    expect(providerSeen.filter((p) => p.state === 'left')).toEqual([]);
    // The chat now reaches the second device only.
    const secondHears = nextEvent(second, 'message:new');
    await request(provider, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'p1',
      kind: 'text',
      text: 'still there?',
      bookingId: r.bookingId,
    });
    expect(await secondHears).toMatchObject({ text: 'still there?' });
  });

  it('a link stops signing in once its booking is cancelled, and outside its window', async () => {
    const r = await session();
    clock.set('2026-11-18T14:49:00Z');
    await expect(s.connect({ joinToken: r.clientLink })).rejects.toMatchObject({
      data: { code: 'join_window_closed' },
    });
    clock.set(IN_WINDOW);
    const ok: Socket = await s.connect({ joinToken: r.providerLink });
    ok.disconnect();
    await s.api('POST', `/v1/bookings/${r.bookingId}/cancel`, { token: r.providerToken, body: {} });
    await expect(s.connect({ joinToken: r.clientLink })).rejects.toMatchObject({
      data: { code: 'conflict' },
    });
    const page = await s.api('GET', `/v1/join/${r.clientLink}`);
    expect(page).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
    expect(page.body.error.message).toContain('cancelled');
    await expect(s.connect({ joinToken: 'not-a-link' })).rejects.toMatchObject({
      data: { code: 'unauthenticated' },
    });
  });
});

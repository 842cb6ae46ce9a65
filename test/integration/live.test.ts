import type { Socket } from 'socket.io-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { IN_WINDOW, liveServer, MONDAY } from '../helpers/live-session.ts';
import { collect, nextEvent, rawRequest, request, type TestServer, transports } from '../helpers/server.ts';

describe.each(transports)(
  'live sessions over signaling on $transport transports (real mediasoup worker)',
  ({ transport }) => {
    const live = liveServer(transport);
    const { clock, session } = live;
    let s: TestServer;
    beforeEach(() => {
      s = live.server();
    });

    const join = (socket: Socket, bookingId: string) => request(socket, 'live:join', { bookingId });
    const booking = async (token: string, id: string) =>
      (await s.api('GET', `/v1/bookings/${id}`, { token })).body.booking;

    it('starts only when both parties have joined, consumes the credit then, and tells the room', async () => {
      const x = await session();
      const started = collect(x.cs, 'live:started');
      const roomMessages = collect(x.cs, 'message:new');
      const first = await join(x.cs, x.bookingId);
      expect(first).toMatchObject({
        ok: true,
        data: {
          bookingId: x.bookingId,
          modality: 'video',
          status: 'waiting',
          participants: [{ userId: x.client, role: 'client' }],
        },
      });
      if (first.ok)
        expect((first.data.routerRtpCapabilities as any).codecs.map((c: any) => c.mimeType)).toContain(
          'video/VP8',
        );
      expect((await booking(x.clientToken, x.bookingId)).status).toBe('confirmed');

      const seesProvider = nextEvent(x.cs, 'live:participant');
      const providerHearsStart = collect(x.ps, 'live:started');
      const second = await join(x.ps, x.bookingId);
      expect(second).toMatchObject({ ok: true, data: { status: 'in_progress' } });
      if (second.ok)
        expect(second.data.participants.map((p: any) => p.role).sort()).toEqual(['client', 'provider']);
      expect(await seesProvider).toEqual({
        bookingId: x.bookingId,
        userId: x.provider,
        role: 'provider',
        state: 'joined',
      });
      await request(x.cs, 'rooms:list');
      expect(started).toEqual([{ bookingId: x.bookingId, startedAt: new Date(IN_WINDOW).toISOString() }]);
      // The second party's join starts the session, and it hears so too (before its join answer).
      expect(providerHearsStart).toEqual(started);
      expect(roomMessages.map((m) => m.meta?.event)).toContain('session_started');
      expect(await booking(x.clientToken, x.bookingId)).toMatchObject({
        status: 'in_progress',
        startedAt: new Date(IN_WINDOW).toISOString(),
      });
      const ledger = (await s.api('GET', '/v1/credits', { token: x.clientToken })).body.ledger.filter(
        (e: any) => e.creditId === x.creditId,
      );
      expect(ledger.map((e: any) => e.kind)).toEqual(['grant', 'reserve', 'consume']);

      // Leaving and rejoining within the session does not restart it.
      const left = nextEvent(x.ps, 'live:participant');
      expect(await request(x.cs, 'live:leave', { bookingId: x.bookingId })).toEqual({ ok: true, data: {} });
      expect(await left).toMatchObject({ userId: x.client, state: 'left' });
      const back = await join(x.cs, x.bookingId);
      expect(back).toMatchObject({ ok: true, data: { status: 'in_progress' } });
      await request(x.cs, 'rooms:list');
      expect(started).toHaveLength(1);
    });

    it('a dropped socket is told as left, and the participant resumes on a new socket', async () => {
      const x = await session();
      await join(x.cs, x.bookingId);
      await join(x.ps, x.bookingId);
      const left = nextEvent(x.ps, 'live:participant');
      x.cs.disconnect();
      expect(await left).toMatchObject({ userId: x.client, state: 'left' });
      const again = await s.connect(x.clientToken);
      const rejoined = nextEvent(x.ps, 'live:participant');
      expect(await join(again, x.bookingId)).toMatchObject({ ok: true, data: { status: 'in_progress' } });
      expect(await rejoined).toMatchObject({ userId: x.client, state: 'joined' });
      const t = await request(again, 'live:transport', { bookingId: x.bookingId, direction: 'recv' });
      expect(t).toMatchObject({
        ok: true,
        data: {
          id: expect.any(String),
          iceParameters: expect.any(Object),
          dtlsParameters: expect.any(Object),
        },
      });
    });

    it('admits only the booking’s client and provider, inside the join window, with a booking id or their join link', async () => {
      const x = await session();
      const stranger = await s.connect(s.token('nosy', 'client'));
      expect(await join(stranger, x.bookingId)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      const support = await s.connect(s.token('rep', 'support'));
      expect(await join(support, x.bookingId)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
      clock.set('2026-11-18T14:49:59Z');
      expect(await join(x.cs, x.bookingId)).toMatchObject({
        ok: false,
        error: { code: 'join_window_closed' },
      });
      clock.set('2026-11-18T15:50:01Z');
      expect(await join(x.cs, x.bookingId)).toMatchObject({
        ok: false,
        error: { code: 'join_window_closed' },
      });
      clock.set(IN_WINDOW);
      const b = await booking(x.clientToken, x.bookingId);
      const clientLink = s.bookings.joinUrl(b, x.client).split('/join/')[1]!;
      expect(await request(x.ps, 'live:join', { joinToken: clientLink })).toMatchObject({
        ok: false,
        error: { code: 'forbidden' },
      });
      expect(await request(x.cs, 'live:join', { joinToken: clientLink })).toMatchObject({
        ok: true,
        data: { bookingId: x.bookingId },
      });
      expect(await request(x.cs, 'live:join', { joinToken: 'forged.token.here' })).toMatchObject({
        ok: false,
        error: { code: 'unauthenticated' },
      });
    });

    it('enforces the modality: no video in an audio session, no media in a chat session', async () => {
      const audio = await session('audio');
      await join(audio.cs, audio.bookingId);
      const send = await request(audio.cs, 'live:transport', {
        bookingId: audio.bookingId,
        direction: 'send',
      });
      expect(send.ok).toBe(true);
      if (!send.ok) return;
      const video = await request(audio.cs, 'live:produce', {
        bookingId: audio.bookingId,
        transportId: send.data.id,
        kind: 'video',
        rtpParameters: { codecs: [] },
      });
      expect(video).toMatchObject({ ok: false, error: { code: 'modality_mismatch' } });

      const chat = await session('chat', { kind: 'organization', includesMessaging: false });
      const joinedChat = await join(chat.cs, chat.bookingId);
      expect(joinedChat).toMatchObject({ ok: true, data: { modality: 'chat' } });
      if (joinedChat.ok) expect(joinedChat.data.routerRtpCapabilities).toBeUndefined();
      expect(
        await request(chat.cs, 'live:transport', { bookingId: chat.bookingId, direction: 'send' }),
      ).toMatchObject({
        ok: false,
        error: { code: 'modality_mismatch' },
      });
      // Live chat is messages with the bookingId, allowed in the session even when the plan excludes messaging.
      const outside = await request(chat.cs, 'message:send', {
        roomId: chat.roomId,
        clientMsgId: 'c0',
        kind: 'text',
        text: 'hi',
      });
      expect(outside).toMatchObject({ ok: false, error: { code: 'plan_excludes_messaging' } });
      await join(chat.ps, chat.bookingId);
      const inSession = await request(chat.cs, 'message:send', {
        roomId: chat.roomId,
        clientMsgId: 'c1',
        kind: 'text',
        text: 'hi',
        bookingId: chat.bookingId,
      });
      expect(inSession).toMatchObject({ ok: true, data: { message: { bookingId: chat.bookingId } } });
    });

    it('a message’s bookingId names a session of its own room that is open for chat now', async () => {
      const x = await session('chat', { kind: 'organization', includesMessaging: false });
      const other = await session('video');
      const bot = s.token('reminder-bot', 'bot', { rooms: [x.roomId] });
      const viaSocket = (bookingId: string, id: string) =>
        request(x.cs, 'message:send', {
          roomId: x.roomId,
          clientMsgId: id,
          kind: 'text',
          text: 'hi',
          bookingId,
        });
      const viaRest = (bookingId: string, id: string, token = x.clientToken) =>
        s.api('POST', `/v1/rooms/${x.roomId}/messages`, {
          token,
          body: { clientMsgId: id, kind: 'text', text: 'hi', bookingId },
        });
      const stored = async () =>
        (
          await s.store.db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM messages WHERE room_id = $1',
            [x.roomId],
          )
        )[0]!.n;
      const before = await stored();

      // Another room's booking, or one that exists nowhere: refused, nothing stored or sent.
      for (const [id, bookingId] of [
        ['b1', other.bookingId],
        ['b2', 'no-such-booking'],
      ] as const) {
        expect(await viaSocket(bookingId, id)).toMatchObject({
          ok: false,
          error: { code: 'invalid_input', message: expect.stringContaining('bookingId') },
        });
        expect(await viaRest(bookingId, `${id}r`)).toMatchObject({
          status: 400,
          body: { error: { code: 'invalid_input' } },
        });
      }
      // Its own session before the join window opens: not yet (the room stays closed to this plan).
      clock.set(MONDAY);
      expect(await viaSocket(x.bookingId, 'b3')).toMatchObject({
        ok: false,
        error: { code: 'join_window_closed' },
      });
      expect((await viaRest(x.bookingId, 'b3r')).body).toMatchObject({
        error: { code: 'join_window_closed' },
      });
      expect(await stored()).toBe(before);
      // A bot may refer to any booking of the room, at any time (a reminder, a notice).
      const notice = await s.api('POST', `/v1/rooms/${x.roomId}/messages`, {
        token: bot,
        body: {
          clientMsgId: 'n1',
          kind: 'system',
          text: 'Your session is on Wednesday',
          bookingId: x.bookingId,
        },
      });
      expect(notice).toMatchObject({ status: 201, body: { message: { bookingId: x.bookingId } } });
      // In the window, waiting for the provider: chat under the booking works.
      clock.set(IN_WINDOW);
      expect(await viaSocket(x.bookingId, 'b4')).toMatchObject({
        ok: true,
        data: { message: { bookingId: x.bookingId } },
      });
    });

    it('answers bad signaling with a clear error and leaves the session intact', async () => {
      const x = await session();
      expect(
        await request(x.cs, 'live:transport', { bookingId: x.bookingId, direction: 'send' }),
      ).toMatchObject({
        ok: false,
        error: { code: 'forbidden' },
      });
      await join(x.cs, x.bookingId);
      await join(x.ps, x.bookingId);
      const mine = await request(x.cs, 'live:transport', { bookingId: x.bookingId, direction: 'send' });
      const myRecv = await request(x.cs, 'live:transport', { bookingId: x.bookingId, direction: 'recv' });
      const theirs = await request(x.ps, 'live:transport', { bookingId: x.bookingId, direction: 'recv' });
      if (!mine.ok || !theirs.ok || !myRecv.ok) throw new Error('transports failed');
      const cases: Array<[string, unknown, string]> = [
        [
          'live:connect',
          {
            bookingId: x.bookingId,
            transportId: 'no-such-transport',
            dtlsParameters: { role: 'client', fingerprints: [] },
          },
          'not_found',
        ],
        [
          'live:connect',
          {
            bookingId: x.bookingId,
            transportId: theirs.data.id,
            dtlsParameters: { role: 'client', fingerprints: [] },
          },
          'forbidden',
        ],
        [
          'live:produce',
          {
            bookingId: x.bookingId,
            transportId: mine.data.id,
            kind: 'audio',
            rtpParameters: { codecs: 'nonsense' },
          },
          'invalid_input',
        ],
        [
          'live:produce',
          { bookingId: x.bookingId, transportId: mine.data.id, kind: 'audio' },
          'invalid_input',
        ],
        [
          'live:consume',
          {
            bookingId: x.bookingId,
            transportId: myRecv.data.id,
            producerId: 'no-such-producer',
            rtpCapabilities: { codecs: [] },
          },
          'not_found',
        ],
        ['live:resume', { bookingId: x.bookingId, consumerId: 'no-such-consumer' }, 'not_found'],
        ['live:transport', { bookingId: x.bookingId, direction: 'sideways' }, 'invalid_input'],
      ];
      for (const [event, payload, code] of cases) {
        const ack = await rawRequest(x.cs, event, payload);
        expect(ack, `${event} ${JSON.stringify(payload)}`).toMatchObject({ ok: false, error: { code } });
      }
      // Still a working session.
      expect(
        await request(x.cs, 'live:transport', { bookingId: x.bookingId, direction: 'recv' }),
      ).toMatchObject({ ok: true });
      expect((await booking(x.clientToken, x.bookingId)).status).toBe('in_progress');
    });

    it('the provider ends the session; the client cannot', async () => {
      const x = await session();
      await join(x.cs, x.bookingId);
      await join(x.ps, x.bookingId);
      expect(await request(x.cs, 'live:end', { bookingId: x.bookingId })).toMatchObject({
        ok: false,
        error: { code: 'forbidden' },
      });
      const ended = nextEvent(x.cs, 'live:ended');
      expect(await request(x.ps, 'live:end', { bookingId: x.bookingId })).toEqual({ ok: true, data: {} });
      expect(await ended).toEqual({ bookingId: x.bookingId, status: 'completed' });
      expect(await booking(x.clientToken, x.bookingId)).toMatchObject({
        status: 'completed',
        outcome: 'completed',
      });
    });

    it('completes at its end time', async () => {
      const x = await session();
      await join(x.cs, x.bookingId);
      await join(x.ps, x.bookingId);
      const ended = nextEvent(x.ps, 'live:ended');
      clock.set('2026-11-18T15:50:00Z');
      await s.scheduler.runDue();
      expect(await ended).toEqual({ bookingId: x.bookingId, status: 'completed' });
    });

    it('a client who never joins while the provider did is a client no-show: credit lost, charge recorded', async () => {
      const x = await session();
      await join(x.ps, x.bookingId);
      const ended = nextEvent(x.ps, 'live:ended');
      clock.set('2026-11-18T15:15:00Z');
      await s.scheduler.runDue();
      expect(await ended).toEqual({ bookingId: x.bookingId, status: 'client_no_show' });
      expect(await booking(x.clientToken, x.bookingId)).toMatchObject({ status: 'client_no_show' });
      const ledger = (await s.api('GET', '/v1/credits', { token: x.clientToken })).body.ledger.filter(
        (e: any) => e.creditId === x.creditId,
      );
      expect(ledger.map((e: any) => e.kind)).toEqual(['grant', 'reserve', 'forfeit']);
      expect(
        await s.store.db.query('SELECT reason FROM charge_events WHERE booking_id = $1', [x.bookingId]),
      ).toEqual([{ reason: 'client_no_show' }]);
    });

    it('a client waiting alone for a provider who never comes keeps the credit to reschedule', async () => {
      const x = await session();
      await join(x.cs, x.bookingId);
      const ended = nextEvent(x.cs, 'live:ended');
      clock.set('2026-11-18T15:15:00Z');
      await s.scheduler.runDue();
      expect(await ended).toEqual({ bookingId: x.bookingId, status: 'provider_no_show' });
      const again = await s.api('POST', `/v1/bookings/${x.bookingId}/reschedule`, {
        token: x.clientToken,
        body: { startsAt: '2026-11-19T15:00:00Z' },
      });
      expect(again.body.booking.creditId).toBe(x.creditId);
    });

    it('when the media worker dies, both sides are told to rejoin and the session goes on with the same credit', async () => {
      const x = await session();
      await join(x.cs, x.bookingId);
      await join(x.ps, x.bookingId);
      const pid = s.media!.stats()[0]!.pid;
      const toClient = nextEvent(x.cs, 'live:rejoin');
      const toProvider = nextEvent(x.ps, 'live:rejoin');
      process.kill(pid, 'SIGKILL');
      expect(await toClient).toMatchObject({ bookingId: x.bookingId });
      await toProvider;
      const again = await join(x.cs, x.bookingId);
      expect(again).toMatchObject({ ok: true, data: { status: 'in_progress' } });
      if (again.ok) expect(again.data.routerRtpCapabilities).toBeDefined();
      expect(
        await request(x.cs, 'live:transport', { bookingId: x.bookingId, direction: 'send' }),
      ).toMatchObject({ ok: true });
      const b = await booking(x.clientToken, x.bookingId);
      expect(b).toMatchObject({ status: 'in_progress', creditId: x.creditId });
      expect(s.media!.stats()[0]!.pid).not.toBe(pid);
    });
  },
);

import type { Socket } from 'socket.io-client';
import { beforeEach, describe, expect, it } from 'vitest';
import { liveServer } from '../helpers/live-session.ts';
import { collect, nextEvent, rawRequest, request, type TestServer, transports } from '../helpers/server.ts';
import { webrtcParameters } from '../media/webrtc.ts';

/**
 * Server-initiated consumers over signaling, with a real mediasoup worker: a
 * participant that gives its receive capabilities (in live:join, or with
 * live:receive) gets each consumer of the other side's tracks made for it —
 * in those answers, then pushed as live:consumer — and never sends
 * live:consume. No browser behind the sockets: the capabilities given are the
 * router's own (a real receiver's), the rtpParameters Chrome's.
 */
describe.each(transports)('consumers the server makes, on $transport transports', ({ transport }) => {
  const live = liveServer(transport);
  const { session } = live;
  let s: TestServer;
  beforeEach(() => {
    s = live.server();
  });
  type Caps = Record<string, unknown>;

  /** Joins with both transports (and capabilities, if given); answers the join's data. */
  async function join(socket: Socket, bookingId: string, rtpCapabilities?: Caps) {
    const ack = await request(socket, 'live:join', {
      bookingId,
      transports: ['recv', 'send'],
      ...(rtpCapabilities ? { rtpCapabilities } : {}),
    });
    if (!ack.ok) throw new Error(`join failed: ${JSON.stringify(ack.error)}`);
    return ack.data;
  }

  async function produce(socket: Socket, bookingId: string, transportId: string, kind: 'audio' | 'video') {
    const ack = await request(socket, 'live:produce', {
      bookingId,
      transportId,
      kind,
      rtpParameters: webrtcParameters(kind),
    });
    if (!ack.ok) throw new Error(`produce failed: ${JSON.stringify(ack.error)}`);
    return ack.data.producerId;
  }

  it("pushes the other party's new tracks made: audio running, video paused until live:resume, no live:consume", async () => {
    const x = await session();
    const client = await join(x.cs, x.bookingId);
    const caps = client.routerRtpCapabilities as Caps;
    const provider = await join(x.ps, x.bookingId, caps);
    expect(provider.consumers).toEqual([]);
    const toClient = collect(x.cs, 'live:consumer');

    const audioMade = nextEvent(x.ps, 'live:consumer');
    const audio = await produce(x.cs, x.bookingId, client.transports!.send!.id, 'audio');
    expect(await audioMade).toEqual({
      bookingId: x.bookingId,
      userId: x.client,
      transportId: provider.transports!.recv!.id,
      consumerId: expect.any(String),
      producerId: audio,
      kind: 'audio',
      rtpParameters: expect.objectContaining({
        codecs: [expect.objectContaining({ mimeType: 'audio/opus' })],
      }),
      paused: false,
      producerPaused: false,
    });

    const videoMade = nextEvent(x.ps, 'live:consumer');
    const video = await produce(x.cs, x.bookingId, client.transports!.send!.id, 'video');
    const made = await videoMade;
    expect(made).toMatchObject({ producerId: video, kind: 'video', paused: true });
    expect(
      await request(x.ps, 'live:resume', { bookingId: x.bookingId, consumerId: made.consumerId }),
    ).toEqual({ ok: true, data: {} });
    // The client gave no capabilities: nothing is made for it.
    await request(x.cs, 'rooms:list');
    expect(toClient).toEqual([]);
  });

  it('a join with rtpCapabilities answers the consumers of what the other side already sends; live:receive does after a join without', async () => {
    const x = await session();
    const client = await join(x.cs, x.bookingId);
    const caps = client.routerRtpCapabilities as Caps;
    const audio = await produce(x.cs, x.bookingId, client.transports!.send!.id, 'audio');
    const video = await produce(x.cs, x.bookingId, client.transports!.send!.id, 'video');
    const announced = collect(x.ps, 'live:producer');

    const provider = await join(x.ps, x.bookingId, caps);
    const recv = provider.transports!.recv!.id;
    expect(provider.consumers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ producerId: audio, kind: 'audio', paused: false, transportId: recv }),
        expect.objectContaining({ producerId: video, kind: 'video', paused: true, transportId: recv }),
      ]),
    );
    expect(provider.consumers).toHaveLength(2);
    await request(x.ps, 'rooms:list');
    expect(announced).toEqual([]); // the answer said it already

    // Joining again without them: live:receive gives them, and makes each consumer once.
    const again = await join(x.ps, x.bookingId);
    expect(again.consumers).toBeUndefined();
    const received = await request(x.ps, 'live:receive', { bookingId: x.bookingId, rtpCapabilities: caps });
    expect(received.ok && received.data.consumers.map((c) => c.producerId).sort()).toEqual(
      [audio, video].sort(),
    );
    expect(await request(x.ps, 'live:receive', { bookingId: x.bookingId, rtpCapabilities: caps })).toEqual({
      ok: true,
      data: { consumers: [] },
    });
  });

  it('a participant that gives no capabilities asks as before: live:producer, live:consume, live:resume', async () => {
    const x = await session('audio');
    const client = await join(x.cs, x.bookingId);
    const provider = await join(x.ps, x.bookingId);
    const made = collect(x.ps, 'live:consumer');
    const announced = nextEvent(x.ps, 'live:producer');
    const audio = await produce(x.cs, x.bookingId, client.transports!.send!.id, 'audio');
    expect(await announced).toMatchObject({ producerId: audio, userId: x.client, kind: 'audio' });
    const consumed = await request(x.ps, 'live:consume', {
      bookingId: x.bookingId,
      transportId: provider.transports!.recv!.id,
      producerId: audio,
      rtpCapabilities: client.routerRtpCapabilities as Caps,
    });
    if (!consumed.ok) throw new Error(JSON.stringify(consumed.error));
    expect(
      await request(x.ps, 'live:resume', { bookingId: x.bookingId, consumerId: consumed.data.consumerId }),
    ).toEqual({ ok: true, data: {} });
    expect(made).toEqual([]);
  });

  it('refuses malformed capabilities naming the field; such a join leaves no presence behind', async () => {
    const x = await session();
    await join(x.ps, x.bookingId);
    const bad = { bookingId: x.bookingId, transports: ['recv'], rtpCapabilities: { codecs: 'nonsense' } };
    expect(await rawRequest(x.cs, 'live:join', bad)).toMatchObject({
      ok: false,
      error: { code: 'invalid_input', message: expect.stringMatching(/^rtpCapabilities/) },
    });
    // The client is not in: the session has not started.
    const booking = await s.api('GET', `/v1/bookings/${x.bookingId}`, { token: x.clientToken });
    expect(booking.body.booking.status).toBe('confirmed');
    await join(x.cs, x.bookingId);
    expect(
      await rawRequest(x.cs, 'live:receive', { bookingId: x.bookingId, rtpCapabilities: { codecs: [{}] } }),
    ).toMatchObject({
      ok: false,
      error: { code: 'invalid_input', message: expect.stringMatching(/^rtpCapabilities/) },
    });
    expect(await rawRequest(x.cs, 'live:receive', { bookingId: x.bookingId })).toMatchObject({
      ok: false,
      error: { code: 'invalid_input' },
    });
  });

  it('answers a join with both transports when asked, saving two round trips', async () => {
    const x = await session();
    const joined = await request(x.cs, 'live:join', {
      bookingId: x.bookingId,
      transports: ['recv', 'send'],
    });
    expect(joined).toMatchObject({
      ok: true,
      data: {
        transports: {
          send: {
            id: expect.any(String),
            iceParameters: expect.any(Object),
            dtlsParameters: expect.any(Object),
          },
          recv: { id: expect.any(String), iceCandidates: expect.any(Array) },
        },
      },
    });
    const chat = await session('chat');
    const noMedia = await request(chat.cs, 'live:join', {
      bookingId: chat.bookingId,
      transports: ['send'],
    });
    expect(noMedia).toMatchObject({ ok: true });
    if (noMedia.ok) expect(noMedia.data.transports).toBeUndefined();
  });
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaPool, type MediaSession } from '../../media/index.ts';
import {
  audioFlows,
  freePortBase,
  ip,
  opusParameters,
  rejectsWith,
  silentLog,
  udpSocket,
} from './helpers.ts';

/**
 * Server-initiated consumers at the media layer: a peer that gives its
 * receive capabilities gets its consumers made by the session — of what the
 * others send now (receive()) and of what they produce later (produce()) —
 * with no consume request. Real worker; RTP through plain transports.
 */

const vp8Parameters = (ssrc: number) => ({
  codecs: [{ mimeType: 'video/VP8', payloadType: 102, clockRate: 90000 }],
  encodings: [{ ssrc }],
});

describe('consumers the session makes for a receiving peer', () => {
  let pool: MediaPool;
  const newSession = () => pool.session(randomUUID());

  beforeAll(async () => {
    const base = await freePortBase(1);
    pool = await MediaPool.create(
      { workers: 1, listenIp: ip, rtcMinPort: base, rtcMaxPort: base + 40 },
      silentLog,
    );
  });
  afterAll(() => pool.close());

  /** Bob receives on a plain transport connected to a local socket. */
  async function receiver(session: MediaSession, peer = 'bob') {
    const socket = await udpSocket();
    const recv = await session.createPlainTransport(peer, 'recv');
    await session.connectPlainTransport(peer, recv.id, { ip, port: socket.address().port });
    return { socket, recv };
  }

  it('pushes audio flowing at once and video paused, to the newest receive transport, with no consume', async () => {
    const session = await newSession();
    const bob = await receiver(session);
    expect(await session.receive('bob', session.rtpCapabilities)).toEqual([]);
    const from = await udpSocket();
    try {
      const send = await session.createPlainTransport('alice', 'send');
      const ssrc = 20_000_000 + Math.floor(Math.random() * 1_000_000);
      const audio = await session.produce('alice', send.id, 'audio', opusParameters(ssrc));
      expect(audio.consumers).toEqual([
        {
          peerId: 'bob',
          producerPeerId: 'alice',
          transportId: bob.recv.id,
          consumerId: expect.any(String),
          producerId: audio.producerId,
          kind: 'audio',
          rtpParameters: expect.objectContaining({
            codecs: [expect.objectContaining({ mimeType: 'audio/opus' })],
          }),
          paused: false,
          producerPaused: false,
        },
      ]);
      // No resume: the consumer was made running.
      await audioFlows({
        from,
        to: send,
        ssrc,
        receiver: bob.socket,
        receivedPayloadType: audio.consumers[0]!.rtpParameters.codecs[0]!.payloadType,
      });
      const video = await session.produce('alice', send.id, 'video', vp8Parameters(ssrc + 1));
      expect(video.consumers).toMatchObject([{ peerId: 'bob', kind: 'video', paused: true }]);
      await session.resume('bob', video.consumers[0]!.consumerId);
      // The producer's own peer gets nothing pushed; bob's consumers count once each.
      expect(session.counts().consumers).toBe(2);
    } finally {
      from.close();
      bob.socket.close();
    }
  });

  it('answers consumers of what is already sent, once each, and again after the peer joins anew', async () => {
    const session = await newSession();
    const send = await session.createPlainTransport('alice', 'send');
    const { producerId } = await session.produce('alice', send.id, 'audio', opusParameters(7));
    const bob = await receiver(session);
    try {
      const [made] = await session.receive('bob', session.rtpCapabilities);
      expect(made).toMatchObject({ producerId, peerId: 'bob', transportId: bob.recv.id, kind: 'audio' });
      // Giving them again makes nothing twice.
      expect(await session.receive('bob', session.rtpCapabilities)).toEqual([]);
      expect(session.counts().consumers).toBe(1);
      // Joining again (closePeer) forgets them: the new transport gets a new consumer once given again.
      await session.closePeer('bob');
      const again = await receiver(session);
      try {
        expect(await session.receive('bob', session.rtpCapabilities)).toMatchObject([
          { producerId, transportId: again.recv.id },
        ]);
      } finally {
        again.socket.close();
      }
    } finally {
      bob.socket.close();
    }
  });

  it('a peer that gave no capabilities, or has no receive transport, gets nothing made', async () => {
    const session = await newSession();
    const bob = await receiver(session);
    await session.receive('carol', session.rtpCapabilities); // carol has no receive transport
    try {
      const send = await session.createPlainTransport('alice', 'send');
      const audio = await session.produce('alice', send.id, 'audio', opusParameters(8));
      expect(audio.consumers).toEqual([]);
      // Asking still works, as for clients that do not give their capabilities.
      const asked = await session.consume('bob', bob.recv.id, audio.producerId, session.rtpCapabilities);
      expect(asked).toMatchObject({ producerId: audio.producerId, kind: 'audio' });
    } finally {
      bob.socket.close();
    }
  });

  it('refuses malformed capabilities naming the field; one without a codec in common is left out, the produce goes on', async () => {
    const session = await newSession();
    const bob = await receiver(session);
    try {
      await rejectsWith(session.receive('bob', { codecs: 'nonsense' }), 'invalid_input', /^rtpCapabilities/);
      await rejectsWith(
        session.receive('bob', { codecs: [{ mimeType: 'audio/opus' }] }),
        'invalid_input',
        /^rtpCapabilities/,
      );
      const audioOnly = {
        ...session.rtpCapabilities,
        codecs: session.rtpCapabilities.codecs!.filter((c) => c.kind === 'audio'),
      };
      await session.receive('bob', audioOnly);
      const send = await session.createPlainTransport('alice', 'send');
      const video = await session.produce('alice', send.id, 'video', vp8Parameters(9));
      expect(video.consumers).toEqual([]);
      const audio = await session.produce('alice', send.id, 'audio', opusParameters(10));
      expect(audio.consumers).toMatchObject([{ peerId: 'bob', kind: 'audio' }]);
    } finally {
      bob.socket.close();
    }
  });
});

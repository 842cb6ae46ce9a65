/** At the media layer: mediasoup sessions of PlainTransports, and what a (re)joining receiver waits for. */
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { MediaPool, MediaSession } from '../../media/index.ts';
import { HOST, now, round, sleep, spread } from '../lib/util.ts';
import type { Child } from './generators.ts';
import type { PeerSpec } from './rtp.ts';

let ssrcSeq = 1_000_000;
export const nextSsrc = () => ssrcSeq++;
export const opus = (ssrc: number) => ({
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc }],
});
/** As a browser declares VP8: NACK and PLI, so the SFU asks the sender for key frames (and may ask for retransmissions). */
export const vp8 = (ssrc: number) => ({
  codecs: [
    {
      mimeType: 'video/VP8',
      payloadType: 101,
      clockRate: 90000,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    },
  ],
  encodings: [{ ssrc }],
});

export interface Producing {
  spec: PeerSpec;
  audio: string;
  video: string;
}

/** A peer's send transport and its two producers; the spec tells a generator where and what to send. */
export async function producingPeer(session: MediaSession, peer: string): Promise<Producing> {
  const send = await session.createPlainTransport(peer, 'send');
  const audio = { ssrc: ssrcSeq++, payloadType: 100 };
  const video = { ssrc: ssrcSeq++, payloadType: 101 };
  const a = await session.produce(peer, send.id, 'audio', opus(audio.ssrc));
  const v = await session.produce(peer, send.id, 'video', vp8(video.ssrc));
  return { spec: { port: send.port, audio, video }, audio: a.producerId, video: v.producerId };
}

/** A peer's recv transport, sending to `port`, consuming (and resuming) the other peer's producers. */
export async function consumingPeer(session: MediaSession, peer: string, port: number, from: Producing) {
  const recv = await session.createPlainTransport(peer, 'recv');
  await session.connectPlainTransport(peer, recv.id, { ip: HOST, port });
  for (const producerId of [from.audio, from.video]) {
    const c = await session.consume(peer, recv.id, producerId, session.rtpCapabilities);
    await session.resume(peer, c.consumerId);
  }
}

// ---------------------------------------------------------------- media-layer join

export interface MediaJoinResult {
  reps: number;
  /** Each MediaSession call a joining receiver makes, ms (p50 over reps). */
  callsMs: Record<string, ReturnType<typeof spread>>;
  /** The consumer's resume answered → its first RTP packet at the receiver's socket. */
  resumeToFirstPacketMs: { audio: ReturnType<typeof spread>; video: ReturnType<typeof spread> };
}

/**
 * At the media layer, what a (re)joining receiver costs and waits for once
 * signaling is done: recv transport, consume, resume, and then the first
 * forwarded packet (audio: the next one the sender sends, 20 ms apart; video:
 * the key frame the SFU asks for with a PLI when the consumer resumes).
 */
export async function mediaLayerJoin(pool: MediaPool, gen: Child, reps: number): Promise<MediaJoinResult> {
  const session = await pool.session('bench-media-join');
  const from = await producingPeer(session, 'sender');
  await gen.request({ type: 'start', peers: [from.spec] }, 'started');
  const socket = dgram.createSocket('udp4');
  socket.bind(0, HOST);
  await once(socket, 'listening');
  const expect = new Map<number, { kind: 'audio' | 'video'; at?: number }>();
  socket.on('message', (msg: Buffer) => {
    if (msg.length < 12 || (msg[1]! >= 192 && msg[1]! <= 223)) return;
    const e = expect.get(msg.readUInt32BE(8));
    if (e && e.at === undefined) e.at = now();
  });
  await sleep(300);
  const calls: Record<string, number[]> = {};
  const firsts = { audio: [] as number[], video: [] as number[] };
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = now();
    const out = await fn();
    calls[name] ??= [];
    calls[name].push(now() - t);
    return out;
  };
  try {
    for (let rep = 0; rep < reps; rep++) {
      expect.clear();
      const recv = await timed('createPlainTransport(recv)', () =>
        session.createPlainTransport('joiner', 'recv'),
      );
      await timed('connectPlainTransport', () =>
        session.connectPlainTransport('joiner', recv.id, { ip: HOST, port: socket.address().port }),
      );
      const resumedAt = new Map<number, number>();
      for (const [kind, producerId] of [
        ['audio', from.audio],
        ['video', from.video],
      ] as const) {
        const c = await timed(`consume(${kind})`, () =>
          session.consume('joiner', recv.id, producerId, session.rtpCapabilities),
        );
        const ssrc = c.rtpParameters.encodings?.[0]?.ssrc ?? 0;
        expect.set(ssrc, { kind });
        await timed(`resume(${kind})`, () => session.resume('joiner', c.consumerId));
        resumedAt.set(ssrc, now());
      }
      const until = now() + 3000;
      while ([...expect.values()].some((e) => e.at === undefined) && now() < until) await sleep(2);
      for (const [ssrc, e] of expect) {
        if (e.at !== undefined) firsts[e.kind].push(e.at - resumedAt.get(ssrc)!);
      }
      session.closePeer('joiner');
      await sleep(100);
    }
  } finally {
    socket.close();
    session.close();
  }
  const callsMs: MediaJoinResult['callsMs'] = {};
  for (const [k, v] of Object.entries(calls)) callsMs[k] = spread(v.map((x) => round(x, 2)));
  return {
    reps,
    callsMs,
    resumeToFirstPacketMs: { audio: spread(firsts.audio), video: spread(firsts.video) },
  };
}

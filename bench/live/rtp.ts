/**
 * Child process of bench/live.ts (forked, IPC only): synthetic RTP load for the
 * forwarding-cost part, in one of two roles.
 *
 *  - generator: per peer, one UDP socket connected to the peer's send
 *    PlainTransport (comedia) that sends one opus stream (50 packets/s of
 *    ~100 bytes) and one VP8 stream (30 frames/s × 4 packets of ~1000 bytes,
 *    sent back to back as a frame is); and one receiver socket per peer (its
 *    recv PlainTransport is connected to it) that counts the RTP packets
 *    forwarded to it. Pacing is by due count (packets owed since the stream
 *    started), so a late timer sends a burst rather than fewer packets; the
 *    parent compares sent with owed to tell a generator that falls behind.
 *    Every VP8 frame starts with a well-formed payload descriptor; the first
 *    frame, every 60th and the one after an RTCP PLI are key frames (mediasoup
 *    forwards video to a resumed consumer only from a key frame on).
 *  - relay: the baseline. Per peer, an "in" socket and an "out" socket; every
 *    datagram that reaches "in" is sent on through "out" to a fixed
 *    destination (connected), byte for byte: the least a forwarder can do in
 *    Node, with the same socket layout as the SFU (one socket per transport).
 *
 * Everything binds and sends on 127.0.0.1 only.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';

const HOST = '127.0.0.1';

type Kind = 'audio' | 'video';

export interface PeerSpec {
  /** The port the peer's audio and video go to (its send PlainTransport, or a relay's "in" socket). */
  port: number;
  audio: { ssrc: number; payloadType: number };
  video: { ssrc: number; payloadType: number };
}

export type ToChild =
  | { type: 'bind'; count: number }
  | { type: 'start'; peers: PeerSpec[] }
  | { type: 'sample' }
  | { type: 'stop' }
  | { type: 'relay'; destinations: number[] }
  | { type: 'exit' };

export interface Sample {
  at: number;
  sent: Record<Kind, number>;
  /** Packets owed by now at the nominal rates: sent < owed means the generator fell behind. */
  owed: Record<Kind, number>;
  received: Record<Kind, number>;
  /** mediasoup's bandwidth-probation padding packets that reached the receivers (not counted as media). */
  probation: number;
  relayed: number;
  bytesSent: number;
  sendErrors: number;
  /** Worst timer lateness since the previous sample (ms): the generator's own event-loop health. */
  maxTickLateMs: number;
}

export type FromChild =
  | { type: 'ready'; pid: number }
  | { type: 'bound'; ports: number[] }
  | { type: 'started' }
  | { type: 'sample'; sample: Sample }
  | { type: 'stopped' }
  | { type: 'relaying'; ports: number[] }
  | { type: 'error'; message: string };

export const AUDIO_PPS = 50;
export const AUDIO_PAYLOAD = 100;
export const VIDEO_FPS = 30;
export const VIDEO_PACKETS_PER_FRAME = 4;
export const VIDEO_PAYLOAD = 1000;
const KEY_FRAME_EVERY = 60;
const TICK_MS = 5;
const PROBATION_PT = 127;

const send = (m: FromChild) => process.send?.(m);

async function bindSocket(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.bind(0, HOST);
  await once(s, 'listening');
  return s;
}

// ---------------------------------------------------------------- generator

interface Stream {
  kind: Kind;
  ssrc: number;
  payloadType: number;
  seq: number;
  /** Frames (video) or packets (audio) sent so far. */
  units: number;
  startAt: number;
  keyFrameWanted: boolean;
  payload: Buffer;
}

interface Peer {
  socket: dgram.Socket;
  audio: Stream;
  video: Stream;
}

const receivers: dgram.Socket[] = [];
const peers: Peer[] = [];
const counters = {
  sent: { audio: 0, video: 0 } as Record<Kind, number>,
  received: { audio: 0, video: 0 } as Record<Kind, number>,
  relayed: 0,
  probation: 0,
  bytesSent: 0,
  sendErrors: 0,
  maxTickLateMs: 0,
};
let ticker: NodeJS.Timeout | undefined;
let lastTick = 0;
let running = false;

function randomPayload(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (Math.random() * 256) | 0;
  return b;
}

function newStream(kind: Kind, ssrc: number, payloadType: number, startAt: number): Stream {
  const stream: Stream = {
    kind,
    ssrc,
    payloadType,
    seq: (Math.random() * 30000) | 0,
    units: 0,
    startAt,
    keyFrameWanted: true,
    payload: randomPayload(kind === 'audio' ? AUDIO_PAYLOAD : VIDEO_PAYLOAD),
  };
  return stream;
}

function packet(s: Stream, timestamp: number, marker: boolean, vp8?: { start: boolean; key: boolean }) {
  const buf = Buffer.allocUnsafe(12 + s.payload.length);
  buf[0] = 0x80;
  buf[1] = (marker ? 0x80 : 0) | (s.payloadType & 0x7f);
  buf.writeUInt16BE(s.seq & 0xffff, 2);
  buf.writeUInt32BE(timestamp >>> 0, 4);
  buf.writeUInt32BE(s.ssrc >>> 0, 8);
  s.payload.copy(buf, 12);
  s.seq++;
  if (vp8) {
    // VP8 payload descriptor (RFC 7741): S bit and partition 0 on a frame's first packet;
    // then the payload header, whose lowest bit is 0 on a key frame ("inverse key frame bit").
    buf[12] = vp8.start ? 0x10 : 0x00;
    if (vp8.start) buf[13] = vp8.key ? 0x10 : 0x11;
  }
  return buf;
}

function emit(peer: Peer, buf: Buffer, kind: Kind): void {
  peer.socket.send(buf, (err) => {
    if (err) counters.sendErrors++;
  });
  counters.sent[kind]++;
  counters.bytesSent += buf.length;
}

function tick(): void {
  const now = performance.now();
  if (lastTick) counters.maxTickLateMs = Math.max(counters.maxTickLateMs, now - lastTick - TICK_MS);
  lastTick = now;
  for (const peer of peers) {
    const a = peer.audio;
    const dueA = Math.floor(((now - a.startAt) / 1000) * AUDIO_PPS);
    while (a.units < dueA) {
      emit(peer, packet(a, a.units * 960, false), 'audio');
      a.units++;
    }
    const v = peer.video;
    const dueV = Math.floor(((now - v.startAt) / 1000) * VIDEO_FPS);
    while (v.units < dueV) {
      const key = v.keyFrameWanted || v.units % KEY_FRAME_EVERY === 0;
      v.keyFrameWanted = false;
      const ts = v.units * 3000;
      for (let i = 0; i < VIDEO_PACKETS_PER_FRAME; i++) {
        const last = i === VIDEO_PACKETS_PER_FRAME - 1;
        emit(peer, packet(v, ts, last, { start: i === 0, key }), 'video');
      }
      v.units++;
    }
  }
}

function owed(now: number): Record<Kind, number> {
  let audio = 0;
  let video = 0;
  if (!running) return { audio: counters.sent.audio, video: counters.sent.video };
  for (const p of peers) {
    audio += Math.floor(((now - p.audio.startAt) / 1000) * AUDIO_PPS);
    video += Math.floor(((now - p.video.startAt) / 1000) * VIDEO_FPS) * VIDEO_PACKETS_PER_FRAME;
  }
  // Streams stopped earlier (there are none while running) would be counted in sent only.
  return { audio, video };
}

/** A (compound) RTCP packet holding a PLI (PT 206, FMT 1) or a FIR (PT 206, FMT 4). */
function wantsKeyFrame(msg: Buffer): boolean {
  for (let off = 0; off + 4 <= msg.length; ) {
    const pt = msg[off + 1]!;
    const fmt = msg[off]! & 0x1f;
    if (pt < 192 || pt > 223) return false;
    if (pt === 206 && (fmt === 1 || fmt === 4)) return true;
    off += (msg.readUInt16BE(off + 2) + 1) * 4;
  }
  return false;
}

function isRtcp(msg: Buffer): boolean {
  return msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223;
}

async function bindReceivers(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = await bindSocket();
    s.on('message', (msg: Buffer) => {
      if (msg.length < 12 || isRtcp(msg)) return;
      // mediasoup's bandwidth probation: padding-only RTP (payload type 127), not media.
      if ((msg[1]! & 0x7f) === PROBATION_PT) {
        counters.probation++;
        return;
      }
      // The consumers' payload types are the router's; size tells the two streams apart.
      counters.received[msg.length > 400 ? 'video' : 'audio']++;
    });
    receivers.push(s);
    ports.push(s.address().port);
  }
  return ports;
}

async function startPeers(specs: PeerSpec[]): Promise<void> {
  const now = performance.now();
  for (const spec of specs) {
    const socket = await bindSocket();
    socket.connect(spec.port, HOST);
    await once(socket, 'connect');
    // Random phase within a period, so the streams do not all send in the same tick.
    const phase = Math.random() * 40;
    const peer: Peer = {
      socket,
      audio: newStream('audio', spec.audio.ssrc, spec.audio.payloadType, now + phase),
      video: newStream('video', spec.video.ssrc, spec.video.payloadType, now + phase),
    };
    // RTCP from the SFU (receiver reports; a PLI when a consumer needs a key frame).
    socket.on('message', (msg: Buffer) => {
      if (wantsKeyFrame(msg)) peer.video.keyFrameWanted = true;
    });
    peers.push(peer);
  }
  running = true;
  ticker ??= setInterval(tick, TICK_MS);
}

// ---------------------------------------------------------------- relay

async function startRelay(destinations: number[]): Promise<number[]> {
  const ports: number[] = [];
  for (const dst of destinations) {
    const inSocket = await bindSocket();
    const outSocket = await bindSocket();
    outSocket.connect(dst, HOST);
    await once(outSocket, 'connect');
    inSocket.on('message', (msg: Buffer) => {
      outSocket.send(msg);
      counters.relayed++;
    });
    receivers.push(inSocket, outSocket);
    ports.push(inSocket.address().port);
  }
  return ports;
}

// ---------------------------------------------------------------- control

process.on('message', (m: ToChild) => {
  void (async () => {
    try {
      switch (m.type) {
        case 'bind':
          send({ type: 'bound', ports: await bindReceivers(m.count) });
          break;
        case 'start':
          await startPeers(m.peers);
          send({ type: 'started' });
          break;
        case 'sample': {
          const at = performance.now();
          send({
            type: 'sample',
            sample: {
              at,
              sent: { ...counters.sent },
              owed: owed(at),
              received: { ...counters.received },
              probation: counters.probation,
              relayed: counters.relayed,
              bytesSent: counters.bytesSent,
              sendErrors: counters.sendErrors,
              maxTickLateMs: Math.round(counters.maxTickLateMs),
            },
          });
          counters.maxTickLateMs = 0;
          break;
        }
        case 'stop':
          running = false;
          clearInterval(ticker);
          ticker = undefined;
          send({ type: 'stopped' });
          break;
        case 'relay':
          send({ type: 'relaying', ports: await startRelay(m.destinations) });
          break;
        case 'exit':
          process.exit(0);
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  })();
});
// The parent went away: nothing left to do.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready', pid: process.pid });

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { expect } from 'vitest';
import { MediaError, type MediaSession } from '../../media/index.ts';

export const ip = '127.0.0.1';
export const silentLog = pino({ level: 'silent' });

/** The promise rejects with a MediaError of that code (and a message matching, if given). */
export const rejectsWith = (promise: Promise<unknown>, code: MediaError['code'], message?: RegExp) =>
  expect(promise).rejects.toSatisfy((e: unknown) => {
    expect(e).toBeInstanceOf(MediaError);
    expect(e).toMatchObject({ code, name: 'MediaError' });
    if (message) expect((e as Error).message).toMatch(message);
    return true;
  });

const bindsUdp = async (port: number) => {
  const socket = dgram.createSocket('udp4');
  try {
    socket.bind(port, ip);
    await once(socket, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
};

const bindsTcp = async (port: number) => {
  const server = net.createServer();
  try {
    server.listen(port, ip);
    await once(server, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
};

/**
 * A base port whose first `servers` ports are free in UDP and TCP (the
 * WebRtcServers bind them). Below Linux's ephemeral range, at random, so test
 * files running side by side do not pick the same ports.
 */
export async function freePortBase(servers: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * 12_000);
    let free = true;
    for (let port = base; port < base + servers && free; port += 1) {
      free = (await bindsUdp(port)) && (await bindsTcp(port));
    }
    if (free) return base;
  }
  throw new Error('no free port range');
}

export async function udpSocket(): Promise<dgram.Socket> {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, ip);
  await once(socket, 'listening');
  return socket;
}

/** What a plain RTP sender (an RTP tool) declares for one opus stream. */
export const opusParameters = (ssrc: number) => ({
  codecs: [{ mimeType: 'audio/opus', payloadType: 101, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc }],
});

const sequences = new Map<number, number>();

function rtpPacket(ssrc: number, payloadType: number, payload: Buffer): Buffer {
  const seq = (sequences.get(ssrc) ?? 1000) + 1;
  sequences.set(ssrc, seq);
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = payloadType & 0x7f;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE((seq * 960) >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

/** Payload of an RTP packet of the given payload type, or undefined (RTCP, other streams). */
function rtpPayload(msg: Buffer, payloadType: number): Buffer | undefined {
  if (msg.length < 12 || msg[0]! >> 6 !== 2 || (msg[1]! & 0x7f) !== payloadType) return undefined;
  let offset = 12 + (msg[0]! & 0x0f) * 4;
  if (msg[0]! & 0x10) offset += 4 + msg.readUInt16BE(offset + 2) * 4;
  return msg.subarray(offset);
}

/**
 * Sends opus RTP from `from` to `to` every 10 ms until `packets` of them have
 * reached `receiver` with their payload intact, or rejects after `timeoutMs`.
 */
export function audioFlows(options: {
  from: dgram.Socket;
  to: { ip: string; port: number };
  ssrc: number;
  receiver: dgram.Socket;
  receivedPayloadType: number;
  packets?: number;
  timeoutMs?: number;
}): Promise<void> {
  const { from, to, ssrc, receiver, receivedPayloadType, packets = 5, timeoutMs = 5_000 } = options;
  const sent = new Set<string>();
  let arrived = 0;
  return new Promise<void>((resolve, reject) => {
    const onMessage = (msg: Buffer) => {
      const payload = rtpPayload(msg, receivedPayloadType);
      if (payload && sent.has(payload.toString('hex'))) arrived += 1;
      if (arrived >= packets) done();
    };
    const pump = setInterval(() => {
      const payload = randomBytes(40);
      sent.add(payload.toString('hex'));
      from.send(rtpPacket(ssrc, 101, payload), to.port, to.ip);
    }, 10);
    const timer = setTimeout(
      () => done(new Error(`${arrived} of ${packets} RTP packets arrived in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (error?: Error) => {
      clearInterval(pump);
      clearTimeout(timer);
      receiver.off('message', onMessage);
      if (error) reject(error);
      else resolve();
    };
    receiver.on('message', onMessage);
  });
}

/**
 * `sender` produces opus on a plain transport; `receiver` consumes it on
 * another, connected to a local socket. Returns what a test needs to push
 * packets through.
 */
export async function plainAudioCall(session: MediaSession, sender: string, receiver: string) {
  const ssrc = 10_000_000 + Math.floor(Math.random() * 1_000_000);
  const from = await udpSocket();
  const to = await udpSocket();
  const send = await session.createPlainTransport(sender, 'send');
  const { producerId } = await session.produce(sender, send.id, 'audio', opusParameters(ssrc));
  const recv = await session.createPlainTransport(receiver, 'recv');
  await session.connectPlainTransport(receiver, recv.id, { ip, port: to.address().port });
  const consumer = await session.consume(receiver, recv.id, producerId, session.rtpCapabilities);
  await session.resume(receiver, consumer.consumerId);
  const flows = () =>
    audioFlows({
      from,
      to: send,
      ssrc,
      receiver: to,
      receivedPayloadType: consumer.rtpParameters.codecs[0]!.payloadType,
    });
  return {
    ssrc,
    send,
    recv,
    producerId,
    consumer,
    flows,
    close: () => {
      from.close();
      to.close();
    },
  };
}

/** The first value a callback-style listener receives, or a rejection after `timeoutMs`. */
export function nextEvent<T>(
  subscribe: (listener: (value: T) => void) => void,
  timeoutMs = 5_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`no event within ${timeoutMs} ms`));
    }, timeoutMs);
    subscribe((value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/**
 * The join benchmark's node route (when the browser route does not work): two socket.io clients in
 * this process sending exactly the requests the reference client sends, in its order (web/client.ts
 * setupMedia and consume), with WebRTC-shaped rtpParameters and a syntactically valid DTLS
 * fingerprint. Not @talkroom/client: the route must reproduce the reference client's request order
 * request by request and time each one on the wire, which the SDK's own sequencing would hide.
 */
import { randomBytes } from 'node:crypto';
import { io as connectSocket, type Socket as IoSocket } from 'socket.io-client';
import type { Ack } from '../../protocol/errors.ts';
import type {
  BroadcastPayload,
  ClientToServerEvents,
  RequestAnswer,
  RequestEvent,
  ServerToClientEvents,
} from '../../protocol/events.ts';
import { countsDelta } from '../lib/metrics.ts';
import { log, round, sleep } from '../lib/util.ts';
import { KINDS, type Kind, type Request, type SideLog, sampleFrom } from './join-analysis.ts';
import {
  clock,
  JOIN_REPS,
  type JoinResult,
  MEDIA_TIMEOUT_MS,
  type Setup,
  serverRequests,
} from './join-setup.ts';

type Socket = IoSocket<ServerToClientEvents, ClientToServerEvents>;

/** A participant's socket, recording its requests and the pushes it gets, as the page probe does. */
class SigClient {
  readonly log: SideLog = { requests: [], pushes: [] };
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    socket.onAny((event: string, payload: unknown) => {
      this.log.pushes.push({ event, at: clock(), payload: JSON.stringify(payload ?? null) });
    });
  }

  static connect(url: string, token: string): Promise<SigClient> {
    return new Promise((resolve, reject) => {
      const s = connectSocket(url, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: 10_000,
      });
      s.once('connect', () => resolve(new SigClient(s)));
      s.once('connect_error', (e) => {
        s.close();
        reject(new Error(`socket connect failed: ${e.message}`));
      });
    });
  }

  /** Answers typed by the contract; payloads are what the reference client sends (checked by the server). */
  request<E extends RequestEvent>(event: E, payload: unknown): Promise<RequestAnswer<E>> {
    const r: Request = {
      event,
      sentAt: clock(),
      ackAt: undefined,
      payload: JSON.stringify([event, payload]),
      answer: undefined,
    };
    this.log.requests.push(r);
    // The event is a type parameter here, which the socket's typed emit cannot narrow.
    const untyped = this.socket as unknown as IoSocket;
    return new Promise((resolve, reject) => {
      untyped.timeout(15_000).emit(event, payload, (err: Error | null, ack: Ack<RequestAnswer<E>>) => {
        r.ackAt = clock();
        if (err) return reject(new Error(`${event}: no answer`));
        r.answer = JSON.stringify(ack);
        if (ack?.ok) resolve(ack.data);
        else reject(new Error(`${event}: ${ack?.error?.code}: ${ack?.error?.message}`));
      });
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}

const fakeDtls = () => ({
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
    },
  ],
});

const rtpExtensions = [
  { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 },
  { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2 },
  { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3 },
];

/** What mediasoup-client sends for Chrome's opus and VP8 (+RTX) tracks. */
function webrtcParameters(kind: Kind) {
  const ssrc = 100_000 + Math.floor(Math.random() * 1e9);
  const rtcp = { cname: randomBytes(6).toString('hex'), reducedSize: true };
  if (kind === 'audio') {
    return {
      mid: '0',
      codecs: [
        {
          mimeType: 'audio/opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
          parameters: { minptime: 10, useinbandfec: 1 },
          rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
        },
      ],
      headerExtensions: [...rtpExtensions, { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }],
      encodings: [{ ssrc, dtx: false }],
      rtcp,
    };
  }
  return {
    mid: '1',
    codecs: [
      {
        mimeType: 'video/VP8',
        payloadType: 96,
        clockRate: 90000,
        parameters: {},
        rtcpFeedback: [
          { type: 'goog-remb', parameter: '' },
          { type: 'transport-cc', parameter: '' },
          { type: 'ccm', parameter: 'fir' },
          { type: 'nack', parameter: '' },
          { type: 'nack', parameter: 'pli' },
        ],
      },
      { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 }, rtcpFeedback: [] },
    ],
    headerExtensions: [...rtpExtensions, { uri: 'urn:3gpp:video-orientation', id: 13 }],
    encodings: [{ ssrc, rtx: { ssrc: ssrc + 1 }, maxBitrate: 1_500_000 }],
    rtcp,
  };
}

/**
 * A participant doing what web/client.ts does: live:join asking for both
 * transports in its answer, consume whatever is announced (the first consume
 * connects the recv transport), then produce audio and video (the first
 * produce connects the send transport first). Connects are optimistic, as
 * mediasoup-client's are in the web client: sent, and the next request follows
 * on the same socket without waiting for their answer.
 */
class NodeParticipant {
  readonly c: SigClient;
  readonly bookingId: string;
  readonly userId: string;
  caps: unknown;
  recvId: string | undefined;
  recvConnected = false;
  readonly queued: string[] = [];
  readonly consumed = new Set<string>();
  /** producerId → resolved when this participant's consumer of it is resumed. */
  readonly resumed = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  readonly produced: string[] = [];

  constructor(c: SigClient, bookingId: string, userId: string) {
    this.c = c;
    this.bookingId = bookingId;
    this.userId = userId;
    c.socket.on('live:producer', (ev: BroadcastPayload<'live:producer'>) => {
      if (ev.userId === this.userId) return;
      if (!this.recvId) this.queued.push(ev.producerId);
      else void this.consume(ev.producerId);
    });
    c.socket.on('live:participant', (ev: BroadcastPayload<'live:participant'>) => {
      if (ev.state === 'left' && ev.userId !== this.userId) this.consumed.clear();
    });
  }

  waitResumed(producerId: string): Promise<void> {
    let entry = this.resumed.get(producerId);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      entry = { promise, resolve };
      this.resumed.set(producerId, entry);
    }
    return entry.promise;
  }

  async consume(producerId: string): Promise<void> {
    if (this.consumed.has(producerId)) return;
    this.consumed.add(producerId);
    const b = this.bookingId;
    const ans = await this.c.request('live:consume', {
      bookingId: b,
      transportId: this.recvId,
      producerId,
      rtpCapabilities: this.caps,
    });
    if (!this.recvConnected) {
      this.recvConnected = true;
      this.#connect(this.recvId!);
    }
    await this.c.request('live:resume', { bookingId: b, consumerId: ans.consumerId });
    void this.waitResumed(producerId);
    this.resumed.get(producerId)!.resolve();
  }

  /** Optimistic, as in the web client: a refused connect shows as a failed sample, not here. */
  #connect(transportId: string): void {
    this.c
      .request('live:connect', { bookingId: this.bookingId, transportId, dtlsParameters: fakeDtls() })
      .catch((e: unknown) => log(`[join/node] live:connect refused: ${(e as Error).message}`));
  }

  async join(ref: { joinToken: string }): Promise<void> {
    const b = this.bookingId;
    const answer = await this.c.request('live:join', { ...ref, transports: ['recv', 'send'] });
    this.caps = answer.routerRtpCapabilities;
    const recv =
      answer.transports?.recv ??
      (await this.c.request('live:transport', { bookingId: b, direction: 'recv' }));
    this.recvId = recv.id;
    for (const p of this.queued.splice(0)) void this.consume(p);
    const send =
      answer.transports?.send ??
      (await this.c.request('live:transport', { bookingId: b, direction: 'send' }));
    this.#connect(send.id);
    for (const kind of KINDS) {
      const { producerId } = await this.c.request('live:produce', {
        bookingId: b,
        transportId: send.id,
        kind,
        rtpParameters: webrtcParameters(kind),
        appData: { source: kind },
      });
      this.produced.push(producerId);
    }
  }
}

export async function nodeRoute(setup: Setup, result: JoinResult): Promise<void> {
  const { srv } = setup;
  const provider = new NodeParticipant(
    await SigClient.connect(srv.url, setup.providerJwt),
    setup.bookingId,
    setup.providerId,
  );
  let client: NodeParticipant | undefined;
  try {
    await provider.join({ joinToken: setup.joinToken(setup.providerId) });
    log('[join/node] provider joined and producing; the client joins');
    for (let rep = 0; rep <= JOIN_REPS; rep++) {
      if (client) {
        await client.c.request('live:leave', { bookingId: setup.bookingId });
        client.c.close();
        await sleep(300);
      }
      const before = await serverRequests(srv.url);
      const openedAt = clock();
      const c = new NodeParticipant(
        await SigClient.connect(srv.url, setup.clientJwt),
        setup.bookingId,
        setup.clientId,
      );
      client = c;
      const providerMark = { requests: provider.c.log.requests.length, pushes: provider.c.log.pushes.length };
      const done = c.join({ joinToken: setup.joinToken(setup.clientId) });
      const timeout = sleep(MEDIA_TIMEOUT_MS).then(() => {
        throw new Error(`rep ${rep}: signaling did not complete within ${MEDIA_TIMEOUT_MS} ms`);
      });
      await Promise.race([done, timeout]);
      await Promise.race([
        Promise.all([
          ...c.produced.map((p) => provider.waitResumed(p)),
          ...provider.produced.map((p) => c.waitResumed(p)),
        ]),
        timeout,
      ]);
      await sleep(200);
      const after = await serverRequests(srv.url);
      const joiner = c.c.log;
      const other: SideLog = {
        requests: provider.c.log.requests.slice(providerMark.requests),
        pushes: provider.c.log.pushes.slice(providerMark.pushes),
      };
      const t0 = joiner.requests.find((r) => r.event === 'live:join')!.sentAt;
      const until = Math.max(...[...joiner.requests, ...other.requests].map((r) => r.ackAt ?? 0));
      const sample = sampleFrom(joiner, other, t0, until);
      sample.serverRequests = countsDelta(before, after);
      sample.beforeJoinMs = round(t0 - openedAt, 1);
      if (rep === 0) result.first = sample;
      else result.samples.push(sample);
      log(
        `[join/node] ${rep === 0 ? 'first join' : `rejoin ${rep}`}: other party resumed audio at ${sample.otherReadyMs.audio} ms, video ${sample.otherReadyMs.video} ms; joiner resumed audio ${sample.joinerReadyMs.audio} ms, video ${sample.joinerReadyMs.video} ms`,
      );
    }
  } finally {
    client?.c.close();
    provider.c.close();
  }
}

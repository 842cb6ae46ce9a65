/**
 * The join benchmark's node route (when the browser route does not work): two socket.io clients in
 * this process sending exactly the requests the reference client (the session page, through the
 * SDK's LiveSession) sends, in its order, with WebRTC-shaped rtpParameters and a syntactically
 * valid DTLS fingerprint. Not @talkroom/client: it needs a browser's WebRTC, and the route times
 * each request on the wire, which the SDK's own sequencing would hide.
 */
import { io as connectSocket, type Socket as IoSocket } from 'socket.io-client';
import type { LiveConsumer } from '../../protocol/answers.ts';
import type { Ack } from '../../protocol/errors.ts';
import type {
  BroadcastPayload,
  ClientToServerEvents,
  RequestAnswer,
  RequestEvent,
  ServerToClientEvents,
} from '../../protocol/events.ts';
import { fakeDtls, webrtcParameters } from '../../test/media/webrtc.ts';
import { countsDelta } from '../lib/metrics.ts';
import { log, round, sleep } from '../lib/util.ts';
import { KINDS, type Request, type SideLog, sampleFrom } from './join-analysis.ts';
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

/**
 * A participant doing what the SDK's LiveSession does for the reference web
 * page: live:join asking for both transports in its answer — with receive
 * capabilities when it knows the server's (the page keeps them across a
 * reload), else giving them right after with live:receive — then receive
 * every consumer the server makes (the first connects the recv transport;
 * video ones are resumed), and produce audio and video (the first produce
 * connects the send transport first). Connects are optimistic, as
 * mediasoup-client's are in the SDK: sent, and the next request follows on
 * the same socket without waiting for their answer. Having no device, it
 * gives the router's own capabilities as its receive capabilities.
 */
class NodeParticipant {
  readonly c: SigClient;
  readonly bookingId: string;
  recvId: string | undefined;
  recvConnected = false;
  /** Consumers made before the recv transport was known (a push may come before the join answer). */
  readonly early: LiveConsumer[] = [];
  readonly received = new Set<string>();
  /** producerId → resolved once this participant's consumer of it can carry media (resumed, if paused). */
  readonly ready = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  readonly produced: string[] = [];

  constructor(c: SigClient, bookingId: string) {
    this.c = c;
    this.bookingId = bookingId;
    c.socket.on('live:consumer', (ev: BroadcastPayload<'live:consumer'>) => this.take(ev));
  }

  waitReady(producerId: string): Promise<void> {
    let entry = this.ready.get(producerId);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      entry = { promise, resolve };
      this.ready.set(producerId, entry);
    }
    return entry.promise;
  }

  take(c: LiveConsumer): void {
    if (!this.recvId) this.early.push(c);
    else if (c.transportId === this.recvId) void this.receive(c);
  }

  async receive(c: LiveConsumer): Promise<void> {
    if (this.received.has(c.producerId)) return;
    this.received.add(c.producerId);
    if (!this.recvConnected) {
      this.recvConnected = true;
      this.#connect(this.recvId!);
    }
    if (c.paused)
      await this.c.request('live:resume', { bookingId: this.bookingId, consumerId: c.consumerId });
    void this.waitReady(c.producerId);
    this.ready.get(c.producerId)!.resolve();
  }

  /** Optimistic, as in the SDK: a refused connect shows as a failed sample, not here. */
  #connect(transportId: string): void {
    this.c
      .request('live:connect', { bookingId: this.bookingId, transportId, dtlsParameters: fakeDtls() })
      .catch((e: unknown) => log(`[join/node] live:connect refused: ${(e as Error).message}`));
  }

  /** `known`: the server's router capabilities, from an earlier join. */
  async join(ref: { joinToken: string }, known?: unknown): Promise<unknown> {
    const b = this.bookingId;
    const answer = await this.c.request('live:join', {
      ...ref,
      transports: ['recv', 'send'],
      ...(known ? { rtpCapabilities: known } : {}),
    });
    const caps = answer.routerRtpCapabilities;
    if (!known) {
      void this.c.request('live:receive', { bookingId: b, rtpCapabilities: caps }).then(({ consumers }) => {
        for (const c of consumers) this.take(c);
      });
    }
    const recv =
      answer.transports?.recv ??
      (await this.c.request('live:transport', { bookingId: b, direction: 'recv' }));
    this.recvId = recv.id;
    for (const c of [...this.early.splice(0), ...(answer.consumers ?? [])]) this.take(c);
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
    return caps;
  }
}

export async function nodeRoute(setup: Setup, result: JoinResult): Promise<void> {
  const { srv } = setup;
  const provider = new NodeParticipant(await SigClient.connect(srv.url, setup.providerJwt), setup.bookingId);
  let client: NodeParticipant | undefined;
  try {
    // The first join of each page knows no capabilities; the client page's later ones (a reload) do.
    const known = await provider.join({ joinToken: setup.joinToken(setup.providerId) });
    log('[join/node] provider joined and producing; the client joins');
    for (let rep = 0; rep <= JOIN_REPS; rep++) {
      if (client) {
        await client.c.request('live:leave', { bookingId: setup.bookingId });
        client.c.close();
        await sleep(300);
      }
      const before = await serverRequests(srv.url);
      const openedAt = clock();
      const c = new NodeParticipant(await SigClient.connect(srv.url, setup.clientJwt), setup.bookingId);
      client = c;
      const providerMark = { requests: provider.c.log.requests.length, pushes: provider.c.log.pushes.length };
      const done = c.join({ joinToken: setup.joinToken(setup.clientId) }, rep === 0 ? undefined : known);
      const timeout = sleep(MEDIA_TIMEOUT_MS).then(() => {
        throw new Error(`rep ${rep}: signaling did not complete within ${MEDIA_TIMEOUT_MS} ms`);
      });
      await Promise.race([done, timeout]);
      await Promise.race([
        Promise.all([
          ...c.produced.map((p) => provider.waitReady(p)),
          ...provider.produced.map((p) => c.waitReady(p)),
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
        `[join/node] ${rep === 0 ? 'first join' : `rejoin ${rep}`}: the other party could receive audio at ${sample.otherReadyMs.audio} ms, video ${sample.otherReadyMs.video} ms; the joiner audio ${sample.joinerReadyMs.audio} ms, video ${sample.joinerReadyMs.video} ms`,
      );
    }
  } finally {
    client?.c.close();
    provider.c.close();
  }
}

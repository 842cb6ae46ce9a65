import { errors } from 'mediasoup';
import type {
  Consumer,
  DtlsParameters,
  IceCandidate,
  IceParameters,
  PlainTransport,
  Producer,
  Router,
  RtpCapabilities,
  RtpParameters,
  Transport,
  TransportListenInfo,
  WebRtcServer,
  WebRtcTransport,
} from 'mediasoup/types';
import type { Logger } from 'pino';
import { peerLimits, webRtcTransportOptions } from './config.ts';
import { MediaError } from './errors.ts';
import {
  checkAppData,
  checkDirection,
  checkDtlsParameters,
  checkId,
  checkKind,
  checkRemote,
  checkRtpCapabilities,
  checkRtpParameters,
  type Direction,
  invalid,
  label,
  type MediaKind,
} from './validate.ts';

type TransportEntry = { peerId: string; direction: Direction } & (
  | { type: 'webrtc'; transport: WebRtcTransport }
  | { type: 'plain'; transport: PlainTransport }
);

export interface ProducerInfo {
  producerId: string;
  peerId: string;
  kind: MediaKind;
}

export interface MediaSessionOptions {
  id: string;
  router: Router;
  webRtcServer: WebRtcServer;
  plainListenInfo: TransportListenInfo | undefined;
  log: Logger;
  /** Called once, whatever closed the router (close(), pool close, worker death). */
  onClose: (session: MediaSession) => void;
}

/**
 * One live session: a router and, per peer, its transports, producers and
 * consumers. Peers and sessions are opaque ids; who may join is decided
 * before anything reaches here. Every method takes the acting peer's id and
 * refuses to touch another peer's entities.
 *
 * Bookkeeping lives in three maps keyed by mediasoup id, each entry naming its
 * peer; entries leave on the entity's observer 'close', which mediasoup emits
 * on every path (own close, transport closed, producer gone, router closed).
 */
export class MediaSession {
  readonly id: string;
  /** Router capabilities, for the client's device.load(). */
  readonly rtpCapabilities: RtpCapabilities;
  readonly #router: Router;
  readonly #webRtcServer: WebRtcServer;
  readonly #plainListenInfo: TransportListenInfo | undefined;
  readonly #log: Logger;
  readonly #transports = new Map<string, TransportEntry>();
  readonly #producers = new Map<string, { peerId: string; producer: Producer }>();
  readonly #consumers = new Map<string, { peerId: string; consumer: Consumer }>();
  /** Bumped by closePeer(), so a transport still being created for a peer that left is dropped. */
  readonly #peerEpochs = new Map<string, number>();
  readonly #producerClosedListeners: Array<(p: { producerId: string; peerId: string }) => void> = [];

  /** Created by MediaPool.session(). */
  constructor(options: MediaSessionOptions) {
    this.id = options.id;
    this.#router = options.router;
    this.#webRtcServer = options.webRtcServer;
    this.#plainListenInfo = options.plainListenInfo;
    this.#log = options.log;
    this.rtpCapabilities = options.router.rtpCapabilities;
    options.router.observer.once('close', () => {
      this.#transports.clear();
      this.#producers.clear();
      this.#consumers.clear();
      options.onClose(this);
    });
  }

  get closed(): boolean {
    return this.#router.closed;
  }

  async createTransport(
    peerId: string,
    direction: Direction,
  ): Promise<{
    id: string;
    iceParameters: IceParameters;
    iceCandidates: IceCandidate[];
    dtlsParameters: DtlsParameters;
  }> {
    this.#checkPeer(peerId);
    checkDirection(direction);
    this.#checkLimit(peerId, this.#transports, 'transports');
    const epoch = this.#peerEpochs.get(peerId) ?? 0;
    const transport = await this.#guard(
      undefined,
      () => undefined,
      () =>
        this.#router.createWebRtcTransport({
          webRtcServer: this.#webRtcServer,
          ...webRtcTransportOptions,
          appData: { peerId, direction },
        }),
    );
    this.#adopt({ peerId, direction, type: 'webrtc', transport }, epoch);
    // A client that closes its RTCPeerConnection sends DTLS close_notify; the
    // transport can never carry media again, and closing it tells the others.
    transport.on('dtlsstatechange', (state) => {
      if (state === 'closed') transport.close();
    });
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  async connectTransport(peerId: string, transportId: string, dtlsParameters: unknown): Promise<void> {
    const entry = this.#ownTransport(peerId, transportId);
    if (entry.type !== 'webrtc')
      throw invalid('transportId', `transport ${label(transportId)} is not WebRTC`);
    checkDtlsParameters(dtlsParameters);
    await this.#guard('dtlsParameters', this.#gone(entry), () =>
      entry.transport.connect({ dtlsParameters: dtlsParameters as DtlsParameters }),
    );
  }

  /** Restart ICE on a peer's transport (reconnection without new transports). */
  async restartIce(peerId: string, transportId: string): Promise<IceParameters> {
    const entry = this.#ownTransport(peerId, transportId);
    if (entry.type !== 'webrtc')
      throw invalid('transportId', `transport ${label(transportId)} is not WebRTC`);
    return this.#guard(undefined, this.#gone(entry), () => entry.transport.restartIce());
  }

  async produce(
    peerId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: unknown,
    appData?: Record<string, unknown>,
  ): Promise<{ producerId: string }> {
    const entry = this.#ownTransport(peerId, transportId);
    checkKind(kind);
    if (entry.direction !== 'send') {
      throw invalid(
        'transportId',
        `transport ${label(transportId)} is for receiving; produce on a send transport`,
      );
    }
    checkRtpParameters(rtpParameters, kind);
    checkAppData(appData);
    this.#checkLimit(peerId, this.#producers, 'producers');
    const producer = await this.#guard('rtpParameters', this.#gone(entry), () =>
      entry.transport.produce({
        kind,
        rtpParameters: rtpParameters as RtpParameters,
        appData: { ...appData },
      }),
    );
    if (this.closed || entry.transport.closed) {
      producer.close();
      throw this.#gone(entry)() ?? this.#sessionClosed();
    }
    const producerId = producer.id;
    this.#producers.set(producerId, { peerId, producer });
    producer.observer.once('close', () => {
      this.#producers.delete(producerId);
      // A closing session says so once, through the pool; not per producer.
      if (!this.closed) this.#emitProducerClosed({ producerId, peerId });
    });
    return { producerId };
  }

  /** The consumer is created paused: the client resumes it once its track is wired up. */
  async consume(
    peerId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: unknown,
  ): Promise<{
    consumerId: string;
    producerId: string;
    kind: MediaKind;
    rtpParameters: RtpParameters;
    producerPaused: boolean;
  }> {
    const entry = this.#ownTransport(peerId, transportId);
    if (entry.direction !== 'recv') {
      throw invalid(
        'transportId',
        `transport ${label(transportId)} is for sending; consume on a recv transport`,
      );
    }
    const source = typeof producerId === 'string' ? this.#producers.get(producerId) : undefined;
    if (!source) throw new MediaError('not_found', `producer ${label(producerId)} not found`);
    if (source.peerId === peerId) {
      throw invalid(
        'producerId',
        `producer ${label(producerId)} is the peer's own; a peer does not consume itself`,
      );
    }
    checkRtpCapabilities(rtpCapabilities);
    const capabilities = rtpCapabilities as RtpCapabilities;
    if (!this.#router.canConsume({ producerId, rtpCapabilities: capabilities })) {
      throw invalid('rtpCapabilities', `cannot consume producer ${label(producerId)}: no codec in common`);
    }
    this.#checkLimit(peerId, this.#consumers, 'consumers');
    const gone = () =>
      source.producer.closed ? `producer ${label(producerId)} is closed` : this.#gone(entry)();
    const consumer = await this.#guard('rtpCapabilities', gone, () =>
      entry.transport.consume({ producerId, rtpCapabilities: capabilities, paused: true }),
    );
    if (this.closed || entry.transport.closed) {
      consumer.close();
      throw this.#gone(entry)() ?? this.#sessionClosed();
    }
    const consumerId = consumer.id;
    this.#consumers.set(consumerId, { peerId, consumer });
    consumer.observer.once('close', () => this.#consumers.delete(consumerId));
    return {
      consumerId,
      producerId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      producerPaused: consumer.producerPaused,
    };
  }

  async resume(peerId: string, consumerId: string): Promise<void> {
    const { consumer } = this.#own(peerId, consumerId, this.#consumers, 'consumer');
    await this.#guard(undefined, this.#closedEntity(consumer, 'consumer'), () => consumer.resume());
  }

  /** Mute: consumers stay, and receive nothing until resumeProducer(). */
  async pauseProducer(peerId: string, producerId: string): Promise<void> {
    const { producer } = this.#own(peerId, producerId, this.#producers, 'producer');
    await this.#guard(undefined, this.#closedEntity(producer, 'producer'), () => producer.pause());
  }

  async resumeProducer(peerId: string, producerId: string): Promise<void> {
    const { producer } = this.#own(peerId, producerId, this.#producers, 'producer');
    await this.#guard(undefined, this.#closedEntity(producer, 'producer'), () => producer.resume());
  }

  /** Stop one track (e.g. screen sharing ends); onProducerClosed fires. */
  closeProducer(peerId: string, producerId: string): void {
    this.#own(peerId, producerId, this.#producers, 'producer').producer.close();
  }

  /** Async like every call a session answers, so a session held by another node (relayed) looks the same. */
  async producers(): Promise<ProducerInfo[]> {
    return [...this.#producers].map(([producerId, { peerId, producer }]) => ({
      producerId,
      peerId,
      kind: producer.kind,
    }));
  }

  /** Called when a producer closes while the session stays open (peer left, transport closed). */
  onProducerClosed(listener: (p: { producerId: string; peerId: string }) => void): void {
    this.#producerClosedListeners.push(listener);
  }

  /** Closes the peer's transports, and with them its producers and consumers. Unknown peer: nothing to do. */
  async closePeer(peerId: string): Promise<void> {
    if (this.closed) return;
    this.#peerEpochs.set(peerId, (this.#peerEpochs.get(peerId) ?? 0) + 1);
    for (const entry of [...this.#transports.values()]) {
      if (entry.peerId === peerId) entry.transport.close();
    }
  }

  /** Safe twice; closing the router closes every transport, producer and consumer (at once: nothing to wait for). */
  async close(): Promise<void> {
    this.#router.close();
  }

  counts(): { transports: number; producers: number; consumers: number } {
    return {
      transports: this.#transports.size,
      producers: this.#producers.size,
      consumers: this.#consumers.size,
    };
  }

  /**
   * A transport that receives or sends plain RTP, for RTP tools and benchmarks
   * (synthetic media without a browser); not for clients: its remote address
   * is whatever connectPlainTransport() is told. A 'send' transport learns the
   * sender's address from the first packet (comedia); a 'recv' one needs
   * connectPlainTransport(). RTCP is multiplexed on the same port.
   */
  async createPlainTransport(
    peerId: string,
    direction: Direction,
  ): Promise<{ id: string; ip: string; port: number }> {
    this.#checkPeer(peerId);
    checkDirection(direction);
    const listenInfo = this.#plainListenInfo;
    if (!listenInfo) {
      throw new MediaError(
        'media_unavailable',
        'no port left for plain transports: widen rtcMinPort..rtcMaxPort',
      );
    }
    this.#checkLimit(peerId, this.#transports, 'transports');
    const epoch = this.#peerEpochs.get(peerId) ?? 0;
    const transport = await this.#guard(
      undefined,
      () => undefined,
      () =>
        this.#router.createPlainTransport({
          listenInfo,
          rtcpMux: true,
          comedia: direction === 'send',
          appData: { peerId, direction },
        }),
    );
    this.#adopt({ peerId, direction, type: 'plain', transport }, epoch);
    return { id: transport.id, ip: transport.tuple.localAddress, port: transport.tuple.localPort };
  }

  async connectPlainTransport(
    peerId: string,
    transportId: string,
    remote: { ip: string; port: number },
  ): Promise<void> {
    const entry = this.#ownTransport(peerId, transportId);
    if (entry.type !== 'plain')
      throw invalid('transportId', `transport ${label(transportId)} is not plain RTP`);
    checkRemote(remote);
    await this.#guard('remote', this.#gone(entry), () =>
      entry.transport.connect({ ip: remote.ip, port: remote.port }),
    );
  }

  #sessionClosed(): MediaError {
    return new MediaError('not_found', `session ${label(this.id)} is closed`);
  }

  #checkPeer(peerId: string): void {
    if (this.closed) throw this.#sessionClosed();
    checkId('peerId', peerId);
  }

  #ownTransport(peerId: string, transportId: string): TransportEntry {
    return this.#own(peerId, transportId, this.#transports, 'transport');
  }

  /** The entity `id` of `map`, if it is the peer's: not_found, then forbidden. */
  #own<T extends { peerId: string }>(peerId: string, id: unknown, map: Map<string, T>, what: string): T {
    this.#checkPeer(peerId);
    const entry = typeof id === 'string' ? map.get(id) : undefined;
    if (!entry) throw new MediaError('not_found', `${what} ${label(id)} not found`);
    if (entry.peerId !== peerId)
      throw new MediaError('forbidden', `${what} ${label(id)} belongs to another peer`);
    return entry;
  }

  // The count is checked before the await that creates the entity, so
  // concurrent requests can pass it together; signaling's rate limits bound
  // that, and the limit is a ceiling against abuse, not an exact quota.
  #checkLimit(peerId: string, map: Map<string, { peerId: string }>, what: keyof typeof peerLimits): void {
    let count = 0;
    for (const entry of map.values()) if (entry.peerId === peerId) count += 1;
    if (count >= peerLimits[what]) {
      throw new MediaError('forbidden', `limit: a peer has at most ${peerLimits[what]} ${what}`);
    }
  }

  #adopt(entry: TransportEntry, epoch: number): void {
    const { peerId } = entry;
    const transport: Transport = entry.transport;
    if (this.closed) {
      transport.close();
      throw this.#sessionClosed();
    }
    if ((this.#peerEpochs.get(peerId) ?? 0) !== epoch) {
      transport.close();
      throw new MediaError('not_found', `peer ${label(peerId)} left the session`);
    }
    const id = transport.id;
    this.#transports.set(id, entry);
    transport.observer.once('close', () => this.#transports.delete(id));
  }

  #gone(entry: TransportEntry): () => string | undefined {
    return this.#closedEntity(entry.transport, 'transport');
  }

  #closedEntity(entity: { closed: boolean; id: string }, what: string): () => string | undefined {
    return () => (entity.closed ? `${what} ${label(entity.id)} is closed` : undefined);
  }

  /**
   * Runs a mediasoup request and says whose fault a failure is. A request
   * carrying client input (`field`) fails because of that input, unless what
   * it acts on closed meanwhile (then not_found); a request without input
   * fails on our side (media_unavailable). Nothing else is touched, so the
   * session stays usable.
   */
  async #guard<T>(
    field: string | undefined,
    gone: () => string | undefined,
    request: () => Promise<T>,
  ): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof MediaError) throw error;
      if (this.closed) throw this.#sessionClosed();
      const goneMessage = gone();
      if (goneMessage) throw new MediaError('not_found', goneMessage);
      if (error instanceof errors.WorkerClosedError)
        throw new MediaError('media_unavailable', 'media worker closed');
      const message = error instanceof Error ? error.message : String(error);
      if (field) throw invalid(field, message.length > 200 ? `${message.slice(0, 200)}…` : message);
      this.#log.error({ err: error, sessionId: this.id }, 'media request failed');
      throw new MediaError('media_unavailable', 'media request failed');
    }
  }

  #emitProducerClosed(p: { producerId: string; peerId: string }): void {
    for (const listener of this.#producerClosedListeners) {
      try {
        listener(p);
      } catch (error) {
        this.#log.error(
          { err: error, sessionId: this.id, producerId: p.producerId },
          'onProducerClosed listener threw',
        );
      }
    }
  }
}

import type {
  DtlsParameters,
  IceCandidate,
  IceParameters,
  Router,
  RtpCapabilities,
  RtpParameters,
  Transport,
  TransportListenInfo,
  WebRtcServer,
} from 'mediasoup/types';
import type { Logger } from 'pino';
import { webRtcTransportOptions } from './config.ts';
import {
  Consumers,
  closedError,
  type ProducerEntry,
  type PushedConsumer,
  type TransportEntry,
  transportGone,
} from './consumers.ts';
import { MediaError } from './errors.ts';
import { closedEntity, type GuardScope, guard, sessionClosed } from './guard.ts';
import { Registry } from './registry.ts';
import {
  checkAppData,
  checkDirection,
  checkDtlsParameters,
  checkId,
  checkKind,
  checkRemote,
  checkRtpParameters,
  type Direction,
  invalid,
  label,
  type MediaKind,
} from './validate.ts';

export type { PushedConsumer } from './consumers.ts';

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
 * consumers (a Registry for each kind of entity; consumers.ts for the
 * consumers). Peers and sessions are opaque ids; who may join is decided
 * before anything reaches here. Every method takes the acting peer's id and
 * refuses to touch another peer's entities.
 */
export class MediaSession {
  readonly id: string;
  /** Router capabilities, for the client's device.load(). */
  readonly rtpCapabilities: RtpCapabilities;
  readonly #router: Router;
  readonly #webRtcServer: WebRtcServer;
  readonly #plainListenInfo: TransportListenInfo | undefined;
  readonly #log: Logger;
  readonly #scope: GuardScope;
  readonly #transports = new Registry<TransportEntry>('transports');
  readonly #producers = new Registry<ProducerEntry>('producers');
  readonly #consumers: Consumers;
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
    const router = options.router;
    this.#scope = {
      id: options.id,
      log: options.log,
      get closed() {
        return router.closed;
      },
    };
    this.rtpCapabilities = router.rtpCapabilities;
    this.#consumers = new Consumers({
      router,
      scope: this.#scope,
      transports: this.#transports,
      producers: this.#producers,
    });
    router.observer.once('close', () => {
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
    const { transport } = await this.#newTransport(peerId, direction, async () => ({
      peerId,
      direction,
      type: 'webrtc' as const,
      transport: await this.#router.createWebRtcTransport({
        webRtcServer: this.#webRtcServer,
        ...webRtcTransportOptions,
        appData: { peerId, direction },
      }),
    }));
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
    await guard(this.#scope, 'dtlsParameters', transportGone(entry), () =>
      entry.transport.connect({ dtlsParameters: dtlsParameters as DtlsParameters }),
    );
  }

  /** Restart ICE on a peer's transport (reconnection without new transports). */
  async restartIce(peerId: string, transportId: string): Promise<IceParameters> {
    const entry = this.#ownTransport(peerId, transportId);
    if (entry.type !== 'webrtc')
      throw invalid('transportId', `transport ${label(transportId)} is not WebRTC`);
    return guard(this.#scope, undefined, transportGone(entry), () => entry.transport.restartIce());
  }

  /** Also answers the consumers it made for the peers that receive (see receive()). */
  async produce(
    peerId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: unknown,
    appData?: Record<string, unknown>,
  ): Promise<{ producerId: string; consumers: PushedConsumer[] }> {
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
    this.#producers.checkLimit(peerId);
    const producer = await guard(this.#scope, 'rtpParameters', transportGone(entry), () =>
      entry.transport.produce({
        kind,
        rtpParameters: rtpParameters as RtpParameters,
        appData: { ...appData },
      }),
    );
    if (this.closed || entry.transport.closed) {
      producer.close();
      throw closedError(this.#scope, entry);
    }
    const producerId = producer.id;
    const source = { peerId, producer };
    this.#producers.set(producerId, source);
    producer.observer.once('close', () => {
      this.#producers.delete(producerId);
      // A closing session says so once, through the pool; not per producer.
      if (!this.closed) this.#emitProducerClosed({ producerId, peerId });
    });
    return { producerId, consumers: await this.#consumers.produced(source) };
  }

  /**
   * The peer's receive capabilities (its device's, as consume() takes them):
   * from now on the session makes the peer's consumers itself, one for each
   * producer of the other peers, on the peer's newest receive transport —
   * those there are now (answered here) and those to come (answered by
   * produce()). Giving them again replaces them; joining again (closePeer)
   * forgets them.
   */
  async receive(peerId: string, rtpCapabilities: unknown): Promise<PushedConsumer[]> {
    this.#checkPeer(peerId);
    return this.#consumers.receive(peerId, rtpCapabilities);
  }

  /** The consumer is created paused: the client resumes it once its track is wired up. */
  async consume(peerId: string, transportId: string, producerId: string, rtpCapabilities: unknown) {
    const entry = this.#ownTransport(peerId, transportId);
    return this.#consumers.consume(peerId, entry, producerId, rtpCapabilities);
  }

  async resume(peerId: string, consumerId: string): Promise<void> {
    this.#checkPeer(peerId);
    await this.#consumers.resume(peerId, consumerId);
  }

  /** Mute: consumers stay, and receive nothing until resumeProducer(). */
  async pauseProducer(peerId: string, producerId: string): Promise<void> {
    const { producer } = this.#own(peerId, producerId, this.#producers);
    await guard(this.#scope, undefined, closedEntity(producer, 'producer'), () => producer.pause());
  }

  async resumeProducer(peerId: string, producerId: string): Promise<void> {
    const { producer } = this.#own(peerId, producerId, this.#producers);
    await guard(this.#scope, undefined, closedEntity(producer, 'producer'), () => producer.resume());
  }

  /** Stop one track (e.g. screen sharing ends); onProducerClosed fires. */
  closeProducer(peerId: string, producerId: string): void {
    this.#own(peerId, producerId, this.#producers).producer.close();
  }

  /** Async like every call a session answers, so a session held by another node (relayed) looks the same. */
  async producers(): Promise<ProducerInfo[]> {
    return this.#producers.entries().map(([producerId, { peerId, producer }]) => ({
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
    this.#consumers.receivers.forget(peerId);
    for (const entry of this.#transports.values()) {
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
      consumers: this.#consumers.registry.size,
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
    const listenInfo = this.#plainListenInfo;
    const { transport } = await this.#newTransport(peerId, direction, async () => {
      if (!listenInfo) {
        throw new MediaError(
          'media_unavailable',
          'no port left for plain transports: widen rtcMinPort..rtcMaxPort',
        );
      }
      const comedia = direction === 'send';
      const options = { listenInfo, rtcpMux: true, comedia, appData: { peerId, direction } };
      return {
        peerId,
        direction,
        type: 'plain' as const,
        transport: await this.#router.createPlainTransport(options),
      };
    });
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
    await guard(this.#scope, 'remote', transportGone(entry), () =>
      entry.transport.connect({ ip: remote.ip, port: remote.port }),
    );
  }

  #checkPeer(peerId: string): void {
    if (this.closed) throw sessionClosed(this.id);
    checkId('peerId', peerId);
  }

  #ownTransport(peerId: string, transportId: string): TransportEntry {
    return this.#own(peerId, transportId, this.#transports);
  }

  #own<T extends { peerId: string }>(peerId: string, id: unknown, registry: Registry<T>): T {
    this.#checkPeer(peerId);
    return registry.own(peerId, id);
  }

  /**
   * Makes a transport for the peer, within its limit, and keeps it — unless the
   * session closed or the peer left (closePeer) while it was being made.
   */
  async #newTransport<E extends TransportEntry>(
    peerId: string,
    direction: Direction,
    create: () => Promise<E>,
  ): Promise<E> {
    this.#checkPeer(peerId);
    checkDirection(direction);
    this.#transports.checkLimit(peerId);
    const epoch = this.#peerEpochs.get(peerId) ?? 0;
    const entry = await guard(this.#scope, undefined, () => undefined, create);
    const transport: Transport = entry.transport;
    if (this.closed) {
      transport.close();
      throw sessionClosed(this.id);
    }
    if ((this.#peerEpochs.get(peerId) ?? 0) !== epoch) {
      transport.close();
      throw new MediaError('not_found', `peer ${label(peerId)} left the session`);
    }
    const id = transport.id;
    this.#transports.set(id, entry);
    const { receivers } = this.#consumers;
    if (direction === 'recv') receivers.transportOpened(peerId, id);
    transport.observer.once('close', () => {
      this.#transports.delete(id);
      receivers.transportClosed(peerId, id);
    });
    return entry;
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

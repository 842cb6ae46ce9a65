import type {
  Consumer,
  PlainTransport,
  Producer,
  Router,
  RtpCapabilities,
  WebRtcTransport,
} from 'mediasoup/types';
import { MediaError } from './errors.ts';
import { closedEntity, type GuardScope, guard, sessionClosed } from './guard.ts';
import { Receivers } from './receivers.ts';
import { Registry } from './registry.ts';
import { checkRtpCapabilities, type Direction, invalid, label } from './validate.ts';

export type TransportEntry = { peerId: string; direction: Direction } & (
  | { type: 'webrtc'; transport: WebRtcTransport }
  | { type: 'plain'; transport: PlainTransport }
);
export type ProducerEntry = { peerId: string; producer: Producer };

/** A consumer as the session answers it: what the client's recvTransport.consume() takes. */
function described(consumer: Consumer) {
  return {
    consumerId: consumer.id,
    producerId: consumer.producerId,
    kind: consumer.kind,
    rtpParameters: consumer.rtpParameters,
    producerPaused: consumer.producerPaused,
  };
}

/** A consumer the session made for a receiving peer without being asked (see MediaSession.receive()). */
export type PushedConsumer = ReturnType<typeof described> & {
  /** The receiving peer, on its transport `transportId`; the producer is `producerPeerId`'s. */
  peerId: string;
  transportId: string;
  producerPeerId: string;
  /** Video starts paused: the peer resumes it once its side of the consumer is set up (see #push). */
  paused: boolean;
};

export const transportGone = (entry: TransportEntry) => closedEntity(entry.transport, 'transport');

/** not_found naming what closed under a request: the transport, else the session. */
export function closedError(scope: GuardScope, entry: TransportEntry): MediaError {
  const gone = transportGone(entry)();
  return gone ? new MediaError('not_found', gone) : sessionClosed(scope.id);
}

/**
 * A session's consumers, both ways they come about: asked for one by one
 * (consume), or made by the session for a peer that gave its receive
 * capabilities (Receivers), when it gives them and as producers appear.
 * The session checks the acting peer before calling in.
 */
export class Consumers {
  readonly registry = new Registry<{ peerId: string; consumer: Consumer }>('consumers');
  readonly receivers = new Receivers();
  readonly #router: Router;
  readonly #scope: GuardScope;
  readonly #transports: Registry<TransportEntry>;
  readonly #producers: Registry<ProducerEntry>;

  constructor(d: {
    router: Router;
    scope: GuardScope;
    transports: Registry<TransportEntry>;
    producers: Registry<ProducerEntry>;
  }) {
    this.#router = d.router;
    this.#scope = d.scope;
    this.#transports = d.transports;
    this.#producers = d.producers;
  }

  /** The consumer is created paused: the client resumes it once its track is wired up. */
  async consume(peerId: string, entry: TransportEntry, producerId: string, rtpCapabilities: unknown) {
    if (entry.direction !== 'recv') {
      throw invalid(
        'transportId',
        `transport ${label(entry.transport.id)} is for sending; consume on a recv transport`,
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
    return described(await this.#create(peerId, entry, source, rtpCapabilities as RtpCapabilities, true));
  }

  async resume(peerId: string, consumerId: string): Promise<void> {
    const { consumer } = this.registry.own(peerId, consumerId);
    await guard(this.#scope, undefined, closedEntity(consumer, 'consumer'), () => consumer.resume());
  }

  /** The peer's receive capabilities; answers the consumers of what the other peers send now. */
  receive(peerId: string, rtpCapabilities: unknown): Promise<PushedConsumer[]> {
    this.receivers.setCapabilities(peerId, rtpCapabilities);
    return this.#push(
      peerId,
      this.#producers.values().filter((p) => p.peerId !== peerId),
    );
  }

  /** A new producer: its consumers for every other peer that receives. */
  async produced(source: ProducerEntry): Promise<PushedConsumer[]> {
    const peers = this.receivers.peers().filter((p) => p !== source.peerId);
    return (await Promise.all(peers.map((p) => this.#push(p, [source])))).flat();
  }

  clear(): void {
    this.registry.clear();
    this.receivers.clear();
  }

  /** Makes and keeps a consumer of `source` on the peer's receive transport `entry`. */
  async #create(
    peerId: string,
    entry: TransportEntry,
    source: ProducerEntry,
    rtpCapabilities: RtpCapabilities,
    paused: boolean,
  ): Promise<Consumer> {
    const producerId = source.producer.id;
    if (!this.#router.canConsume({ producerId, rtpCapabilities })) {
      throw invalid('rtpCapabilities', `cannot consume producer ${label(producerId)}: no codec in common`);
    }
    this.registry.checkLimit(peerId);
    const gone = () =>
      source.producer.closed ? `producer ${label(producerId)} is closed` : transportGone(entry)();
    const consumer = await guard(this.#scope, 'rtpCapabilities', gone, () =>
      entry.transport.consume({ producerId, rtpCapabilities, paused }),
    );
    if (this.#scope.closed || entry.transport.closed) {
      consumer.close();
      throw closedError(this.#scope, entry);
    }
    const consumerId = consumer.id;
    this.registry.set(consumerId, { peerId, consumer });
    consumer.observer.once('close', () => this.registry.delete(consumerId));
    return consumer;
  }

  /**
   * Consumers of `sources` for a receiving peer, each made once (claimed).
   * Audio flows at once: all it can lose is the few packets the browser drops
   * until its side of the consumer exists. Video starts paused, as mediasoup
   * recommends (ConsumerOptions.paused): a video stream is forwarded from a
   * key frame on (the worker drops everything before one and asks the
   * producer for it: SimpleProducerStreamManager's syncRequired, set when the
   * transport connects and on resume), and a key frame that reached the
   * browser before it had set the consumer up would be dropped there,
   * leaving the picture black until the browser asks for another. The peer
   * resumes it (live:resume) once set up, so the key frame comes after.
   * A consumer that cannot be made (no codec in common, transport gone) is
   * left out and logged: the request that caused it does not fail for it.
   */
  async #push(peerId: string, sources: ProducerEntry[]): Promise<PushedConsumer[]> {
    const target = this.receivers.target(peerId);
    const entry = target && this.#transports.get(target.transportId);
    if (!target || !entry) return [];
    const made = await Promise.all(
      sources
        .filter((source) => this.receivers.claim(peerId, source.producer.id))
        .map(async (source): Promise<PushedConsumer | undefined> => {
          const producerId = source.producer.id;
          try {
            const paused = source.producer.kind === 'video';
            const consumer = await this.#create(peerId, entry, source, target.caps, paused);
            consumer.observer.once('close', () => this.receivers.release(peerId, producerId));
            const where = { peerId, transportId: entry.transport.id, producerPeerId: source.peerId };
            return { ...described(consumer), ...where, paused };
          } catch (error) {
            this.receivers.release(peerId, producerId);
            const code = error instanceof MediaError ? error.code : 'media_unavailable';
            this.#scope.log.warn(
              { sessionId: this.#scope.id, peerId, producerId, code },
              'consumer not pushed',
            );
            return undefined;
          }
        }),
    );
    return made.filter((c) => c !== undefined);
  }
}

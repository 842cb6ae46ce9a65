/// <reference lib="dom" />
import { Device, type types } from 'mediasoup-client';
import type { LiveConsumer } from '../../protocol/answers.ts';
import type { RequestAnswer } from '../../protocol/events.ts';
import type { TalkroomClient } from './client.ts';
import { TalkroomError } from './errors.ts';
import type { Kind, LocalTrack, RemoteTrack, Source } from './live-types.ts';

/** A producer of the other side, as live:producer announces it. */
export type Announced = { producerId: string; userId: string; kind: Kind };

/** What the media of one join tells its LiveSession. */
export interface MediaHost {
  track(t: RemoteTrack): void;
  trackEnded(t: RemoteTrack): void;
  /** Receiving or sending one track failed; the session goes on. */
  error(e: unknown): void;
  /** A transport connected: the rejoin backoff starts over. */
  connected(): void;
  /** A transport failed for good, or its connect was refused: join again. */
  rejoin(): void;
}

export async function loadDevice(routerRtpCapabilities: unknown): Promise<Device> {
  const device = await Device.factory();
  await device.load({ routerRtpCapabilities: routerRtpCapabilities as types.RtpCapabilities });
  return device;
}

/**
 * The media of one join: the mediasoup-client Device, that join's two
 * transports, the tracks sent on them and the other side's received. The
 * server makes this side's consumers once it has the device's receive
 * capabilities (`push`: in the join answer, the live:receive answer, then
 * live:consumer as the other side produces), so receiving a track costs no
 * request but, for video, the live:resume that starts it. A server that does
 * not make them (`ask`) announces each producer, asked for with live:consume.
 */
export class LiveMedia {
  readonly device: Device;
  send: types.Transport | null = null;
  recv: types.Transport | null = null;
  readonly consumers = new Map<string, { consumer: types.Consumer; remote: RemoteTrack }>();
  readonly #client: TalkroomClient;
  readonly #bookingId: string;
  readonly #host: MediaHost;
  readonly #ice: { iceServers?: RTCIceServer[]; iceTransportPolicy?: RTCIceTransportPolicy };
  /** Producers received, or being received: one consumer each. */
  readonly #receiving = new Set<string>();
  #mode: 'push' | 'ask' | undefined;
  /** Announcements heard before the mode was known. */
  #announced: Announced[] = [];
  /** Consumers made before the receive transport was. */
  #early: LiveConsumer[] = [];
  #closed = false;

  constructor(o: {
    client: TalkroomClient;
    bookingId: string;
    device: Device;
    host: MediaHost;
    ice: { iceServers?: RTCIceServer[]; iceTransportPolicy?: RTCIceTransportPolicy };
  }) {
    this.#client = o.client;
    this.#bookingId = o.bookingId;
    this.device = o.device;
    this.#host = o.host;
    this.#ice = o.ice;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Receive first: the other side may already be sending. */
  openRecv(info: RequestAnswer<'live:transport'>): void {
    this.recv = this.device.createRecvTransport({ ...transportOptions(info), ...this.#ice });
    this.#wire(this.recv);
    for (const c of this.#early.splice(0)) this.made(c);
    for (const p of this.#announced.splice(0)) this.announced(p);
  }

  openSend(info: RequestAnswer<'live:transport'>): void {
    const send = this.device.createSendTransport({ ...transportOptions(info), ...this.#ice });
    this.send = send;
    this.#wire(send);
    send.on('produce', ({ kind, rtpParameters, appData }, done, failed) => {
      this.#client
        .request('live:produce', {
          bookingId: this.#bookingId,
          transportId: send.id,
          kind,
          rtpParameters: rtpParameters as unknown as Record<string, unknown>,
          appData,
        })
        .then(({ producerId }) => done({ id: producerId }), failed);
    });
  }

  /** Whether the server makes the consumers: announcements heard meanwhile are dropped or asked for. */
  setMode(mode: 'push' | 'ask'): void {
    this.#mode = mode;
    for (const p of this.#announced.splice(0)) this.announced(p);
  }

  /** A consumer the server made for this side (in an answer, or live:consumer). */
  made(c: LiveConsumer): void {
    if (this.#closed) return;
    if (!this.recv) this.#early.push(c);
    // One made for an earlier join's transport is gone with it.
    else if (c.transportId === this.recv.id) void this.#receive(c, c);
  }

  /** live:producer: only a server that does not make the consumers needs it. */
  announced(p: Announced): void {
    if (this.#closed || this.#mode === 'push') return;
    if (this.#mode === undefined || !this.recv) this.#announced.push(p);
    else void this.#receive(p);
  }

  /** Sends a local track; false when it is no longer wanted once its producer exists. */
  async produce(source: Source, entry: LocalTrack, wanted: () => boolean): Promise<void> {
    if (!this.send) return; // sent once the transports are up
    const kind = entry.track.kind as Kind;
    if (!this.device.canProduce(kind))
      throw new TalkroomError('media_unavailable', `this device cannot send ${kind}`);
    // stopTracks false: a rejoin closes the transport but keeps the camera and microphone.
    const producer = await this.send.produce({ track: entry.track, stopTracks: false, appData: { source } });
    if (this.#closed || !wanted()) {
      producer.close();
      return;
    }
    entry.producer = producer;
    if (entry.paused) {
      producer.pause();
      await this.#client
        .request('live:mute', { bookingId: this.#bookingId, producerId: producer.id, paused: true })
        .catch(() => {});
    }
  }

  /** The other side left: its tracks end. */
  dropUser(userId: string): void {
    for (const [id, entry] of this.consumers) if (entry.remote.userId === userId) this.#remove(id);
  }

  /** Closes the transports (and with them producers and consumers); the local tracks stay the application's. */
  close(): void {
    this.#closed = true;
    for (const id of [...this.consumers.keys()]) this.#remove(id);
    this.send?.close();
    this.recv?.close();
  }

  /**
   * Receives one producer of the other side: with the consumer the server
   * made (`made`), or by asking for one. A made consumer this device cannot
   * take (its capabilities changed since they were given) is asked for again.
   */
  async #receive(p: Announced, made?: LiveConsumer): Promise<void> {
    const recv = this.recv;
    if (!recv || this.#receiving.has(p.producerId)) return;
    this.#receiving.add(p.producerId);
    const stale = () => this.#closed || recv.closed;
    let consumer: types.Consumer;
    try {
      const c = made ?? (await this.#ask(recv, p.producerId));
      if (stale()) return;
      consumer = await recv.consume({
        id: c.consumerId,
        producerId: c.producerId,
        kind: c.kind,
        rtpParameters: c.rtpParameters as types.RtpParameters,
      });
    } catch (e) {
      this.#receiving.delete(p.producerId);
      if (stale()) return;
      return made ? this.#receive(p) : this.#host.error(e);
    }
    this.#add(consumer, p.userId);
    // Made paused on the server (video, and every asked-for one): start it now that it is wired up.
    if (made && !made.paused) return;
    await this.#client
      .request('live:resume', { bookingId: this.#bookingId, consumerId: consumer.id })
      .catch((e: unknown) => {
        if (!stale()) this.#host.error(e);
      });
  }

  #ask(recv: types.Transport, producerId: string) {
    return this.#client.request('live:consume', {
      bookingId: this.#bookingId,
      transportId: recv.id,
      producerId,
      rtpCapabilities: this.device.recvRtpCapabilities as unknown as Record<string, unknown>,
    });
  }

  #add(consumer: types.Consumer, userId: string): void {
    const kind = consumer.kind as Kind;
    const videoBeside = [...this.consumers.values()].some(
      (x) => x.remote.userId === userId && x.remote.kind === 'video',
    );
    const remote: RemoteTrack = {
      userId,
      kind,
      source: kind === 'audio' ? 'mic' : videoBeside ? 'screen' : 'camera',
      track: consumer.track,
      consumerId: consumer.id,
      producerId: consumer.producerId,
    };
    this.consumers.set(consumer.id, { consumer, remote });
    const gone = () => this.#remove(consumer.id);
    consumer.on('trackended', gone);
    consumer.on('transportclose', gone);
    this.#host.track(remote);
  }

  #remove(consumerId: string): void {
    const entry = this.consumers.get(consumerId);
    if (!entry) return;
    this.consumers.delete(consumerId);
    this.#receiving.delete(entry.consumer.producerId);
    if (!entry.consumer.closed) entry.consumer.close();
    this.#host.trackEnded(entry.remote);
  }

  #wire(t: types.Transport): void {
    const bookingId = this.#bookingId;
    // Optimistic, as the web client: the server accepts live:connect before the DTLS handshake.
    t.on('connect', ({ dtlsParameters }, done) => {
      done();
      this.#client
        .request('live:connect', {
          bookingId,
          transportId: t.id,
          dtlsParameters: dtlsParameters as unknown as Record<string, unknown>,
        })
        .catch(() => this.#host.rejoin());
    });
    t.on('connectionstatechange', (state) => {
      if (state === 'connected') this.#host.connected();
      else if (state === 'failed' || state === 'disconnected') {
        // A network change: new ICE parameters over the same transport.
        this.#client
          .request('live:restartIce', { bookingId, transportId: t.id })
          .then(({ iceParameters }) => t.restartIce({ iceParameters: iceParameters as types.IceParameters }))
          .catch(() => {
            if (state === 'failed') this.#host.rejoin();
          });
      }
    });
  }
}

function transportOptions(t: RequestAnswer<'live:transport'>) {
  return {
    id: t.id,
    iceParameters: t.iceParameters as types.IceParameters,
    iceCandidates: t.iceCandidates as types.IceCandidate[],
    dtlsParameters: t.dtlsParameters as types.DtlsParameters,
  };
}

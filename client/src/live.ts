/// <reference lib="dom" />
import { Device, type types } from 'mediasoup-client';
import type { RequestAnswer } from '../../protocol/events.ts';
import type { BookingStatus, Modality } from '../../protocol/vocabulary.ts';
import type { TalkroomClient } from './client.ts';
import { Emitter } from './emitter.ts';
import { TalkroomError } from './errors.ts';

export type LiveRef = { bookingId: string } | { joinToken: string };
export type Kind = 'audio' | 'video';
/** What a local track is: it names the producer (appData.source) so the other side can tell a screen from a camera. */
export type Source = 'mic' | 'camera' | 'screen';
/** `superseded`: the same participant joined from another device or tab, which now has the session. */
export type LiveStatus =
  | 'joining'
  | 'waiting'
  | 'in_progress'
  | 'reconnecting'
  | 'ended'
  | 'left'
  | 'superseded';

export interface LiveOptions {
  /** Tracks to send as soon as the transports are up (e.g. from getUserMedia). More later with `produce`. */
  tracks?: Array<{ track: MediaStreamTrack; source?: Source }>;
  /** `relay` sends all media through the TURN servers the join answer lists. */
  iceTransportPolicy?: RTCIceTransportPolicy;
}

export interface RemoteTrack {
  userId: string;
  kind: Kind;
  track: MediaStreamTrack;
  consumerId: string;
  producerId: string;
  /**
   * What the track most likely is: audio is the microphone; a user's first
   * video is the camera and a second one, sent beside it, the screen (the
   * producer broadcast does not say which).
   */
  source: Source;
}

export interface LiveEvents {
  /** waiting → in_progress → ended; `reconnecting` while the socket or the media server is away. */
  status: (status: LiveStatus) => void;
  participants: (participants: Array<{ userId: string; role: string }>) => void;
  /** A track of the other side to render (one per consumed producer). */
  track: (t: RemoteTrack) => void;
  /** That track is gone (the other side stopped it, left, or the transports were rebuilt). */
  trackEnded: (t: RemoteTrack) => void;
  /** The session ended, with the booking's status (completed, …). */
  ended: (status: BookingStatus) => void;
  /** Something could not be done (receiving a track, sending one); the session goes on. */
  error: (error: TalkroomError) => void;
}

interface Media {
  device: Device;
  send: types.Transport | null;
  recv: types.Transport | null;
  consumers: Map<string, { consumer: types.Consumer; remote: RemoteTrack }>;
}

type ProducerEvent = { bookingId: string; producerId: string; userId: string; kind: Kind };

/**
 * A live session through the SDK: the join (by booking id or join token), the
 * mediasoup-client Device and transports with the answer's ICE servers, the
 * local tracks sent and the other side's received, mute, and recovery (a
 * reconnect or `live:rejoin` joins again and sends the same tracks; a failed
 * ICE connection restarts ICE). Ported from the reference web client.
 */
export class LiveSession extends Emitter<LiveEvents> {
  readonly #client: TalkroomClient;
  readonly #ref: LiveRef;
  readonly #o: LiveOptions;
  bookingId = '';
  modality: Modality | null = null;
  status: LiveStatus = 'joining';
  participants: Array<{ userId: string; role: string }> = [];
  /** The mediasoup-client handler in use (e.g. Chrome111), once media is set up. */
  handlerName: string | null = null;
  /** Local tracks by source, kept across rejoins; with their producers while sent. */
  readonly #local = new Map<
    Source,
    { track: MediaStreamTrack; paused: boolean; producer?: types.Producer }
  >();
  #media: Media | null = null;
  #pending: ProducerEvent[] = [];
  readonly #consumed = new Set<string>();
  #generation = 0;
  #rejoins = 0;
  #rejoinTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #offs: Array<() => void> = [];

  private constructor(client: TalkroomClient, ref: LiveRef, o: LiveOptions) {
    super();
    this.#client = client;
    this.#ref = ref;
    this.#o = o;
    for (const t of o.tracks ?? [])
      this.#local.set(t.source ?? sourceOf(t.track), { track: t.track, paused: false });
  }

  /** Joins a live session; resolves once joined (media keeps setting up in the background, see `ready`). */
  static async join(client: TalkroomClient, ref: LiveRef, o: LiveOptions = {}): Promise<LiveSession> {
    const s = new LiveSession(client, ref, o);
    s.#listen();
    try {
      await s.#join();
    } catch (e) {
      s.#stop();
      throw e;
    }
    return s;
  }

  /** Resolves when media is set up after the latest join (transports made, the given tracks sent). */
  ready: Promise<void> = Promise.resolve();

  get active(): boolean {
    return this.status !== 'ended' && this.status !== 'left' && this.status !== 'superseded';
  }

  /** What is being sent now, by source, and whether it is paused. */
  sending(): Partial<Record<Source, { paused: boolean; producerId: string | null }>> {
    const out: Partial<Record<Source, { paused: boolean; producerId: string | null }>> = {};
    for (const [source, e] of this.#local)
      out[source] = { paused: e.paused, producerId: e.producer?.id ?? null };
    return out;
  }

  /** Packets received so far on each track of the other side, by consumer id (a track with none arriving is paused or away). */
  async received(): Promise<Record<string, number>> {
    const m = this.#media;
    const out: Record<string, number> = {};
    if (!m) return out;
    await Promise.all(
      [...m.consumers.values()].map(async ({ consumer }) => {
        const report = await consumer.getStats().catch(() => null);
        let packets = 0;
        report?.forEach((x: { type: string; packetsReceived?: number }) => {
          if (x.type === 'inbound-rtp') packets += x.packetsReceived ?? 0;
        });
        out[consumer.id] = packets;
      }),
    );
    return out;
  }

  /** Sends a local track (a microphone, a camera, a screen); replaces an earlier track of the same source. */
  async produce(track: MediaStreamTrack, source: Source = sourceOf(track)): Promise<void> {
    const earlier = this.#local.get(source);
    earlier?.producer?.close();
    const entry = { track, paused: false } as {
      track: MediaStreamTrack;
      paused: boolean;
      producer?: types.Producer;
    };
    this.#local.set(source, entry);
    await this.#produce(source, entry, this.#generation);
  }

  /** Shares a screen (from getDisplayMedia); stopping it in the browser stops sending it. */
  async shareScreen(track: MediaStreamTrack): Promise<void> {
    if (this.modality !== 'video')
      throw new TalkroomError('modality_mismatch', 'screens are shared in video sessions only');
    track.addEventListener('ended', () => void this.stopProducing('screen'), { once: true });
    await this.produce(track, 'screen');
  }

  /** Stops sending a source (the track itself is the application's to stop). */
  async stopProducing(source: Source): Promise<void> {
    const entry = this.#local.get(source);
    this.#local.delete(source);
    entry?.producer?.close();
  }

  /** Mutes or unmutes a source; the server stops forwarding it meanwhile (`live:mute`). */
  async mute(source: Source, paused: boolean): Promise<void> {
    const entry = this.#local.get(source);
    if (!entry) return;
    entry.paused = paused;
    const p = entry.producer;
    if (!p) return;
    if (paused) p.pause();
    else p.resume();
    await this.#client.request('live:mute', { bookingId: this.bookingId, producerId: p.id, paused });
  }

  /** The WebRTC statistics of the current transports (packets sent and received, the selected ICE pair). */
  async getStats(): Promise<{ send: RTCStatsReport | null; recv: RTCStatsReport | null }> {
    const m = this.#media;
    const [send, recv] = await Promise.all([
      m?.send && !m.send.closed ? m.send.getStats() : null,
      m?.recv && !m.recv.closed ? m.recv.getStats() : null,
    ]);
    return { send, recv };
  }

  /** Leaves the session (it goes on; joining again resumes it). */
  async leave(): Promise<void> {
    if (!this.active) return;
    this.#setStatus('left');
    this.#stop();
    await this.#client.request('live:leave', { bookingId: this.bookingId }).catch(() => {});
  }

  /** Ends the session for both (the provider). */
  async end(): Promise<void> {
    await this.#client.request('live:end', { bookingId: this.bookingId });
  }

  // ---- the join and its media ----------------------------------------------------------------

  async #join(): Promise<void> {
    const gen = ++this.#generation;
    const answer = await this.#client.request('live:join', { ...this.#ref, transports: ['recv', 'send'] });
    if (gen !== this.#generation || !this.active) return;
    this.bookingId = answer.bookingId;
    this.modality = answer.modality;
    this.participants = answer.participants;
    this.emit('participants', this.participants);
    this.#setStatus(answer.status);
    if (answer.modality === 'chat' || answer.modality === 'messaging') return;
    this.ready = this.#setupMedia(gen, answer).catch((e: unknown) => {
      if (gen === this.#generation && this.active) this.emit('error', asError(e, 'media_unavailable'));
    });
  }

  async #setupMedia(gen: number, answer: RequestAnswer<'live:join'>): Promise<void> {
    const stale = () => gen !== this.#generation || !this.active;
    if (!answer.routerRtpCapabilities) {
      throw new TalkroomError('media_unavailable', 'the join answer carried no routerRtpCapabilities');
    }
    const device = await Device.factory();
    await device.load({ routerRtpCapabilities: answer.routerRtpCapabilities as types.RtpCapabilities });
    if (stale()) return;
    this.handlerName = device.handlerName;
    const m: Media = { device, send: null, recv: null, consumers: new Map() };
    this.#media = m;
    const ice = {
      ...(answer.iceServers?.length ? { iceServers: answer.iceServers as RTCIceServer[] } : {}),
      ...(this.#o.iceTransportPolicy ? { iceTransportPolicy: this.#o.iceTransportPolicy } : {}),
    };
    const bookingId = this.bookingId;

    // Receive first: the other side may already be sending.
    const recvInfo =
      answer.transports?.recv ??
      (await this.#client.request('live:transport', { bookingId, direction: 'recv' }));
    if (stale()) return;
    m.recv = device.createRecvTransport({ ...transportOptions(recvInfo), ...ice });
    this.#wireTransport(m.recv);
    for (const p of this.#pending.splice(0)) void this.#consume(p);

    const sendInfo =
      answer.transports?.send ??
      (await this.#client.request('live:transport', { bookingId, direction: 'send' }));
    if (stale()) return;
    const send = device.createSendTransport({ ...transportOptions(sendInfo), ...ice });
    m.send = send;
    this.#wireTransport(send);
    send.on('produce', ({ kind, rtpParameters, appData }, done, failed) => {
      this.#client
        .request('live:produce', {
          bookingId,
          transportId: send.id,
          kind,
          rtpParameters: rtpParameters as unknown as Record<string, unknown>,
          appData,
        })
        .then(({ producerId }) => done({ id: producerId }), failed);
    });
    for (const [source, entry] of this.#local) await this.#produce(source, entry, gen);
  }

  async #produce(
    source: Source,
    entry: { track: MediaStreamTrack; paused: boolean; producer?: types.Producer },
    gen: number,
  ): Promise<void> {
    const m = this.#media;
    if (!m?.send || gen !== this.#generation) return; // sent once the transports are up
    const kind = entry.track.kind as Kind;
    if (!m.device.canProduce(kind))
      throw new TalkroomError('media_unavailable', `this device cannot send ${kind}`);
    // stopTracks false: a rejoin closes the transport but keeps the camera and microphone.
    const producer = await m.send.produce({ track: entry.track, stopTracks: false, appData: { source } });
    if (gen !== this.#generation || this.#local.get(source) !== entry) {
      producer.close();
      return;
    }
    entry.producer = producer;
    if (entry.paused) {
      producer.pause();
      await this.#client
        .request('live:mute', { bookingId: this.bookingId, producerId: producer.id, paused: true })
        .catch(() => {});
    }
  }

  #wireTransport(t: types.Transport): void {
    const bookingId = this.bookingId;
    // Optimistic, as the web client: the server accepts live:connect before the DTLS handshake.
    t.on('connect', ({ dtlsParameters }, done) => {
      done();
      this.#client
        .request('live:connect', {
          bookingId,
          transportId: t.id,
          dtlsParameters: dtlsParameters as unknown as Record<string, unknown>,
        })
        .catch(() => this.#rejoinSoon());
    });
    t.on('connectionstatechange', (state) => {
      if (state === 'connected') this.#rejoins = 0;
      else if (state === 'failed' || state === 'disconnected') {
        // A network change: new ICE parameters over the same transport.
        this.#client
          .request('live:restartIce', { bookingId, transportId: t.id })
          .then(({ iceParameters }) => t.restartIce({ iceParameters: iceParameters as types.IceParameters }))
          .catch(() => {
            if (state === 'failed') this.#rejoinSoon();
          });
      }
    });
  }

  async #consume(p: ProducerEvent): Promise<void> {
    const own = [...this.#local.values()].some((l) => l.producer?.id === p.producerId);
    if (own || this.#consumed.has(p.producerId)) return;
    const m = this.#media;
    if (!m?.recv) {
      if (!this.#pending.some((q) => q.producerId === p.producerId)) this.#pending.push(p);
      return;
    }
    this.#consumed.add(p.producerId);
    const recv = m.recv;
    try {
      const c = await this.#client.request('live:consume', {
        bookingId: this.bookingId,
        transportId: recv.id,
        producerId: p.producerId,
        rtpCapabilities: m.device.recvRtpCapabilities as unknown as Record<string, unknown>,
      });
      if (this.#media !== m || recv.closed) return;
      const consumer = await recv.consume({
        id: c.consumerId,
        producerId: c.producerId,
        kind: c.kind,
        rtpParameters: c.rtpParameters as types.RtpParameters,
      });
      const videoBeside = [...m.consumers.values()].some(
        (x) => x.remote.userId === p.userId && x.remote.kind === 'video',
      );
      const remote: RemoteTrack = {
        userId: p.userId,
        kind: c.kind,
        source: c.kind === 'audio' ? 'mic' : videoBeside ? 'screen' : 'camera',
        track: consumer.track,
        consumerId: consumer.id,
        producerId: c.producerId,
      };
      m.consumers.set(consumer.id, { consumer, remote });
      const gone = () => this.#removeConsumer(m, consumer.id);
      consumer.on('trackended', gone);
      consumer.on('transportclose', gone);
      this.emit('track', remote);
      // Created paused on the server: resume once the application has it.
      await this.#client.request('live:resume', { bookingId: this.bookingId, consumerId: consumer.id });
    } catch (e) {
      this.#consumed.delete(p.producerId);
      if (this.#media === m) this.emit('error', asError(e, 'media_unavailable'));
    }
  }

  #removeConsumer(m: Media, consumerId: string): void {
    const entry = m.consumers.get(consumerId);
    if (!entry) return;
    m.consumers.delete(consumerId);
    this.#consumed.delete(entry.consumer.producerId);
    if (!entry.consumer.closed) entry.consumer.close();
    this.emit('trackEnded', entry.remote);
  }

  /** Closes transports (and with them producers and consumers); the local tracks stay the application's. */
  #teardown(): void {
    this.#generation++;
    const m = this.#media;
    this.#media = null;
    this.#pending = [];
    this.#consumed.clear();
    for (const entry of this.#local.values()) delete entry.producer;
    if (!m) return;
    for (const id of [...m.consumers.keys()]) this.#removeConsumer(m, id);
    m.send?.close();
    m.recv?.close();
  }

  /** Joins again after a pause that grows while the media server keeps failing (reset once media connects). */
  #rejoinSoon(): void {
    if (!this.active || this.#rejoinTimer) return;
    this.#teardown();
    this.#setStatus('reconnecting');
    const delay = Math.min(30_000, 250 * 2 ** this.#rejoins++);
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = undefined;
      if (this.active && this.#client.socket.connected)
        this.#join().catch((e) => this.emit('error', asError(e)));
    }, delay);
  }

  #listen(): void {
    const c = this.#client;
    const mine = (ev: { bookingId: string }) => ev.bookingId === this.bookingId && this.active;
    this.#offs.push(
      c.onServer('live:participant', (ev) => {
        if (!mine(ev)) return;
        this.participants = this.participants.filter((p) => p.userId !== ev.userId);
        if (ev.state === 'joined') this.participants.push({ userId: ev.userId, role: ev.role });
        else if (this.#media) {
          for (const [id, entry] of this.#media.consumers)
            if (entry.remote.userId === ev.userId) this.#removeConsumer(this.#media, id);
        }
        this.emit('participants', this.participants);
      }),
      c.onServer('live:started', (ev) => {
        if (mine(ev)) this.#setStatus('in_progress');
      }),
      c.onServer('live:ended', (ev) => {
        if (!mine(ev)) return;
        this.#setStatus('ended');
        this.#stop();
        this.emit('ended', ev.status);
      }),
      c.onServer('live:producer', (ev) => {
        if (mine(ev)) void this.#consume(ev);
      }),
      c.onServer('live:rejoin', (ev) => {
        if (!mine(ev)) return;
        // Joining back would take the session from the newer device, which would take it back.
        if (ev.reason === 'superseded') {
          this.#setStatus('superseded');
          this.#stop();
        } else this.#rejoinSoon();
      }),
      c.on('disconnected', () => {
        if (!this.active) return;
        this.#teardown();
        this.#setStatus('reconnecting');
      }),
      // The server left the session for the dropped socket: join again on the new one.
      c.on('connected', () => {
        if (this.active && this.bookingId) this.#join().catch((e) => this.emit('error', asError(e)));
      }),
    );
  }

  #setStatus(s: LiveStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  #stop(): void {
    clearTimeout(this.#rejoinTimer);
    this.#teardown();
    for (const off of this.#offs.splice(0)) off();
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

const sourceOf = (track: MediaStreamTrack): Source => (track.kind === 'audio' ? 'mic' : 'camera');

function asError(e: unknown, fallback: TalkroomError['code'] = 'internal'): TalkroomError {
  return e instanceof TalkroomError
    ? e
    : new TalkroomError(fallback, e instanceof Error ? e.message : String(e));
}

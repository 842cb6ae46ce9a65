/// <reference lib="dom" />
import type { Device } from 'mediasoup-client';
import type { RequestAnswer } from '../../protocol/events.ts';
import type { Modality } from '../../protocol/vocabulary.ts';
import type { TalkroomClient } from './client.ts';
import { Emitter } from './emitter.ts';
import { TalkroomError } from './errors.ts';
import { LiveMedia, loadDevice } from './live-media.ts';
import type {
  LiveEvents,
  LiveOptions,
  LiveRef,
  LiveStatus,
  LocalTrack,
  RemoteTrack,
  Source,
} from './live-types.ts';

export type {
  Kind,
  LiveEvents,
  LiveOptions,
  LiveRef,
  LiveStatus,
  RemoteTrack,
  Source,
} from './live-types.ts';

/**
 * Router capabilities per client, once its server has made consumers from
 * them (every router of a server is built from the same codecs, so they hold
 * for its next session and every rejoin).
 */
const knownCapabilities = new WeakMap<TalkroomClient, unknown>();

/**
 * A live session through the SDK: the join (by booking id or join token), its
 * status and participants, the local tracks (sent on every join) and mute,
 * and recovery (a reconnect or `live:rejoin` joins again and sends the same
 * tracks; a failed ICE connection restarts ICE). Each join's media — Device,
 * transports, the tracks received — is a LiveMedia.
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
  /** The server's router capabilities, once it made consumers from them (see LiveOptions). */
  routerRtpCapabilities: unknown;
  /** Local tracks by source, kept across rejoins; with their producers while sent. */
  readonly #local = new Map<Source, LocalTrack>();
  #media: LiveMedia | null = null;
  /** Server events for the join's media that came before it existed (a consumer may come before the answer). */
  #early: Array<{ bookingId: string; give: (m: LiveMedia) => void }> = [];
  #generation = 0;
  #rejoins = 0;
  #rejoinTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #offs: Array<() => void> = [];

  private constructor(client: TalkroomClient, ref: LiveRef, o: LiveOptions) {
    super();
    this.#client = client;
    this.#ref = ref;
    this.#o = o;
    this.routerRtpCapabilities = knownCapabilities.get(client) ?? o.routerRtpCapabilities;
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
    const out: Record<string, number> = {};
    await Promise.all(
      [...(this.#media?.consumers.values() ?? [])].map(async ({ consumer }) => {
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
    this.#local.get(source)?.producer?.close();
    const entry: LocalTrack = { track, paused: false };
    this.#local.set(source, entry);
    await this.#produce(source, entry);
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
    const producer = entry?.producer;
    if (!producer) return;
    producer.close();
    // No event closes a producer on the server: paused, it stops reaching the other side at once.
    await this.#client
      .request('live:mute', { bookingId: this.bookingId, producerId: producer.id, paused: true })
      .catch(() => {});
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
    // Known router capabilities: this device's receive capabilities go in the join itself.
    const known = this.routerRtpCapabilities;
    const device = known === undefined ? undefined : await loadDevice(known).catch(() => undefined);
    const receive = device
      ? { rtpCapabilities: device.recvRtpCapabilities as unknown as Record<string, unknown> }
      : {};
    const answer = await this.#client.request('live:join', {
      ...this.#ref,
      transports: ['recv', 'send'],
      ...receive,
    });
    if (gen !== this.#generation || !this.active) return;
    this.bookingId = answer.bookingId;
    this.modality = answer.modality;
    this.participants = answer.participants;
    this.emit('participants', this.participants);
    this.#setStatus(answer.status);
    if (answer.modality === 'chat' || answer.modality === 'messaging') return;
    const joinedWith = device && { device, caps: known };
    this.ready = this.#setupMedia(gen, answer, joinedWith).catch((e: unknown) => {
      if (gen === this.#generation && this.active) this.emit('error', asError(e, 'media_unavailable'));
    });
  }

  /** `joinedWith`: the device (and router capabilities) the join's receive capabilities came from, if it carried them. */
  async #setupMedia(
    gen: number,
    answer: RequestAnswer<'live:join'>,
    joinedWith: { device: Device; caps: unknown } | undefined,
  ): Promise<void> {
    const stale = () => gen !== this.#generation || !this.active;
    const caps = answer.routerRtpCapabilities;
    if (!caps)
      throw new TalkroomError('media_unavailable', 'the join answer carried no routerRtpCapabilities');
    // The server's capabilities changed since (an upgrade): load them, and give the new receive capabilities.
    const same = !!joinedWith && JSON.stringify(caps) === JSON.stringify(joinedWith.caps);
    const device = joinedWith && same ? joinedWith.device : await loadDevice(caps);
    if (stale()) return;
    this.handlerName = device.handlerName;
    const ice = {
      ...(answer.iceServers?.length ? { iceServers: answer.iceServers as RTCIceServer[] } : {}),
      ...(this.#o.iceTransportPolicy ? { iceTransportPolicy: this.#o.iceTransportPolicy } : {}),
    };
    const bookingId = this.bookingId;
    const m = new LiveMedia({ client: this.#client, bookingId, device, host: this.#host(gen), ice });
    this.#media = m;
    for (const e of this.#early.splice(0)) if (e.bookingId === bookingId) e.give(m);
    if (joinedWith) this.#knownCapabilities(caps, m);
    if (!same) this.#giveCapabilities(m, caps, !joinedWith);
    const transport = (direction: 'send' | 'recv') =>
      answer.transports?.[direction] ?? this.#client.request('live:transport', { bookingId, direction });
    m.openRecv(await transport('recv'));
    if (stale()) return;
    for (const c of answer.consumers ?? []) m.made(c);
    m.openSend(await transport('send'));
    if (stale()) return;
    for (const [source, entry] of this.#local) await this.#produce(source, entry);
  }

  /** live:receive: the server makes this side's consumers from now on (or, if it cannot, `ask` for each). */
  #giveCapabilities(m: LiveMedia, caps: unknown, fallBack: boolean): void {
    const rtpCapabilities = m.device.recvRtpCapabilities as unknown as Record<string, unknown>;
    this.#client.request('live:receive', { bookingId: this.bookingId, rtpCapabilities }).then(
      ({ consumers }) => {
        this.#knownCapabilities(caps, m);
        for (const c of consumers) m.made(c);
      },
      () => {
        if (fallBack) m.setMode('ask');
      },
    );
  }

  #knownCapabilities(caps: unknown, m: LiveMedia): void {
    m.setMode('push');
    this.routerRtpCapabilities = caps;
    knownCapabilities.set(this.#client, caps);
  }

  async #produce(source: Source, entry: LocalTrack): Promise<void> {
    const gen = this.#generation;
    await this.#media?.produce(
      source,
      entry,
      () => gen === this.#generation && this.#local.get(source) === entry,
    );
  }

  /** What one join's media tells this session; nothing once a later join (or the end) replaced it. */
  #host(gen: number) {
    const current = () => gen === this.#generation && this.active;
    return {
      track: (t: RemoteTrack) => {
        if (current()) this.emit('track', t);
      },
      // Always: the application drops what an earlier join's media showed.
      trackEnded: (t: RemoteTrack) => this.emit('trackEnded', t),
      error: (e: unknown) => {
        if (current()) this.emit('error', asError(e, 'media_unavailable'));
      },
      connected: () => {
        this.#rejoins = 0;
      },
      rejoin: () => {
        if (current()) this.#rejoinSoon();
      },
    };
  }

  /** Closes the join's media; the local tracks stay the application's. */
  #teardown(): void {
    this.#generation++;
    const m = this.#media;
    this.#media = null;
    this.#early = [];
    for (const entry of this.#local.values()) delete entry.producer;
    m?.close();
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
        else this.#media?.dropUser(ev.userId);
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
      c.onServer('live:consumer', (ev) => this.#toMedia(ev, (m) => m.made(ev))),
      c.onServer('live:producer', (ev) => this.#toMedia(ev, (m) => m.announced(ev))),
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

  /** Hands a server event to the join's media, or keeps it until that media exists. */
  #toMedia(ev: { bookingId: string }, give: (m: LiveMedia) => void): void {
    // Before the first answer the booking is not known (a join by token): kept, and sorted then.
    if (!this.active || (this.bookingId && ev.bookingId !== this.bookingId)) return;
    if (this.#media) give(this.#media);
    else this.#early.push({ bookingId: ev.bookingId, give });
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

const sourceOf = (track: MediaStreamTrack): Source => (track.kind === 'audio' ? 'mic' : 'camera');

function asError(e: unknown, fallback: TalkroomError['code'] = 'internal'): TalkroomError {
  return e instanceof TalkroomError
    ? e
    : new TalkroomError(fallback, e instanceof Error ? e.message : String(e));
}

/// <reference lib="dom" />
/**
 * The session a join link opens, as state the page renders from: the link
 * looked up (GET /v1/join/:token), one SDK connection (TalkroomClient with the
 * join token in its handshake, and the platform JWT when the page has one),
 * the SDK's LiveSession for media, and the session's chat. Everything that
 * recovers (reconnects, rejoins after a server restart or a network change)
 * is the SDK's; this module only follows it.
 */
import { type LiveSession, type Source, TalkroomClient, TalkroomError } from '@talkroom/client';
import type { ErrorBody } from '../../protocol/errors.ts';
import { levelMeter, listDevices, openTrack } from './local-media.ts';
import { joinLive, watchRemotes } from './media.ts';
import type { ChatLine, JoinInfo, Remote, TalkroomState } from './state.ts';
import { linkClaims } from './words.ts';

export type { ChatLine, JoinInfo, Person, Phase, Remote, TalkroomState } from './state.ts';

class PageError extends Error {
  readonly code: ErrorBody['code'];
  constructor(code: ErrorBody['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export const toErrorBody = (e: unknown): ErrorBody =>
  e instanceof PageError || e instanceof TalkroomError
    ? { code: e.code, message: e.message }
    : { code: 'internal', message: e instanceof Error ? e.message : String(e) };

export class SessionPage {
  readonly state: TalkroomState;
  readonly #listeners = new Set<() => void>();
  readonly #jwt: string | null;
  readonly #iceTransportPolicy: RTCIceTransportPolicy | undefined;
  client: TalkroomClient | null = null;
  live: LiveSession | null = null;
  /** Own camera and microphone, kept across rejoins (the SDK sends them again). */
  readonly local: {
    mic: MediaStreamTrack | null;
    camera: MediaStreamTrack | null;
    screen: MediaStreamTrack | null;
  } = { mic: null, camera: null, screen: null };
  /** The other side's tracks, to render. */
  remotes: Remote[] = [];
  #meter: ReturnType<typeof levelMeter> | null = null;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #levelTimer: ReturnType<typeof setInterval> | undefined;
  #timers: ReturnType<typeof setInterval>[] = [];
  #seen = new Set<string>();

  constructor(o: {
    joinToken: string | null;
    jwt: string | null;
    iceTransportPolicy?: RTCIceTransportPolicy;
  }) {
    this.#jwt = o.jwt;
    this.#iceTransportPolicy = o.iceTransportPolicy;
    this.state = {
      phase: 'starting',
      joinToken: o.joinToken,
      me: null,
      other: null,
      otherOnline: false,
      otherAway: false,
      bookingId: null,
      roomId: null,
      modality: null,
      startsAt: null,
      endsAt: null,
      opensAt: null,
      closesAt: null,
      linkOpen: null,
      startedAt: null,
      skewMs: 0,
      endedStatus: null,
      participants: [],
      error: null,
      notice: null,
      connected: false,
      handlerName: null,
      producers: { audio: null, video: null, screen: null },
      audioPaused: false,
      videoPaused: false,
      consumers: [],
      chat: [],
      messages: 0,
      devices: { cameras: [], microphones: [] },
      cameraId: null,
      microphoneId: null,
      level: 0,
      check: { server: 'checking', media: 'checking' },
    };
  }

  /** What the LiveSession sends now (and its mediasoup handler), into the state (read fresh by the test hook, and once a second). */
  syncSending(): void {
    const sending = this.live?.sending() ?? {};
    const producers = {
      audio: sending.mic?.producerId ?? null,
      video: sending.camera?.producerId ?? null,
      screen: sending.screen?.producerId ?? null,
    };
    const now = this.state.producers;
    const handlerName = this.live?.handlerName ?? null;
    if (
      producers.audio !== now.audio ||
      producers.video !== now.video ||
      producers.screen !== now.screen ||
      handlerName !== this.state.handlerName
    )
      this.set({ producers, handlerName });
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  set(patch: Partial<TalkroomState>): void {
    Object.assign(this.state, patch);
    for (const fn of this.#listeners) fn();
  }

  fail(e: unknown): void {
    const error = toErrorBody(e);
    const w = this.state.joinToken ? linkClaims(this.state.joinToken) : null;
    this.set({
      error,
      phase: 'error',
      ...(w && !this.state.opensAt
        ? { opensAt: new Date(w.opensAt).toISOString(), closesAt: new Date(w.closesAt).toISOString() }
        : {}),
    });
    this.#stop();
  }

  /** Looks the link up, opens the connection and joins. */
  async start(): Promise<void> {
    clearTimeout(this.#retry);
    const joinToken = this.state.joinToken;
    if (!joinToken) return this.fail(new PageError('invalid_input', 'the address has no join link'));
    this.set({ phase: 'connecting', error: null, notice: null });
    let info: JoinInfo;
    try {
      info = await this.#api<JoinInfo>(`/v1/join/${encodeURIComponent(joinToken)}`);
    } catch (e) {
      return this.fail(e);
    }
    const b = info.booking;
    this.set({
      bookingId: b.id,
      roomId: b.roomId,
      modality: b.modality,
      startsAt: b.startsAt,
      endsAt: b.endsAt,
      opensAt: info.opensAt,
      closesAt: info.closesAt,
      linkOpen: info.open,
      startedAt: b.startedAt ?? null,
      me: info.participant,
      other: info.other,
    });
    if (!info.open) {
      // Too early: say when it opens, and look again now and then (the page joins once it is open).
      this.fail(new PageError('join_window_closed', `this join link opens at ${info.opensAt}`));
      this.#retry = setTimeout(() => void this.start(), 30_000);
      return;
    }
    if (b.modality === 'video' || b.modality === 'audio') await this.#openLocal(b.modality === 'video');
    this.#connect(joinToken);
    await this.join();
  }

  /** Joins (again, after Leave) through the SDK; media and rejoins are the LiveSession's. */
  async join(): Promise<void> {
    const client = this.client;
    if (!client || !this.state.joinToken) return;
    this.set({ phase: 'connecting', error: null, notice: null });
    try {
      this.live = await joinLive(this, client, this.state.joinToken, this.#iceTransportPolicy);
    } catch (e) {
      const err = toErrorBody(e);
      // Not reachable yet (a restart, a network change): the SDK's reconnect joins when it can.
      if (err.code === 'unavailable') {
        this.set({ notice: 'Reconnecting…' });
        client.socket.once('connect', () => void this.join());
        return;
      }
      return this.fail(e);
    }
    void this.#loadChat();
    this.#timers.push(setInterval(() => void watchRemotes(this), 1000));
  }

  async leave(): Promise<void> {
    await this.live?.leave();
    this.#clearTimers();
    this.remotes = [];
    this.set({ phase: 'left', consumers: [], otherAway: false });
  }

  async end(): Promise<void> {
    try {
      await this.live?.end();
    } catch (e) {
      this.set({ notice: toErrorBody(e).message });
    }
  }

  async mute(source: 'mic' | 'camera', paused: boolean): Promise<void> {
    const track = this.local[source];
    if (track) track.enabled = !paused;
    this.set(source === 'mic' ? { audioPaused: paused } : { videoPaused: paused });
    await this.live?.mute(source, paused).catch(() => {});
  }

  async shareScreen(): Promise<void> {
    if (this.local.screen) {
      this.local.screen.stop();
      this.local.screen = null;
      await this.live?.stopProducing('screen');
      this.set({ producers: { ...this.state.producers, screen: null } });
      return;
    }
    let track: MediaStreamTrack | undefined;
    try {
      track = (
        await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false })
      ).getVideoTracks()[0];
    } catch {
      this.set({ notice: 'Screen sharing was not started.' });
      return;
    }
    if (!track || !this.live) return;
    this.local.screen = track;
    track.addEventListener('ended', () => {
      if (this.local.screen === track) this.local.screen = null;
      this.set({ producers: { ...this.state.producers, screen: null } });
    });
    try {
      await this.live.shareScreen(track);
    } catch (e) {
      track.stop();
      this.local.screen = null;
      this.set({ notice: toErrorBody(e).message });
    }
    this.set({});
  }

  /** Another camera or microphone: the SDK replaces what it sends. */
  async choose(kind: 'audio' | 'video', deviceId: string): Promise<void> {
    const source: Source = kind === 'audio' ? 'mic' : 'camera';
    const track = await openTrack(kind, deviceId);
    if (!track) return this.set({ notice: 'That device could not be opened.' });
    this.local[source as 'mic' | 'camera']?.stop();
    this.local[source as 'mic' | 'camera'] = track;
    track.enabled = !(kind === 'audio' ? this.state.audioPaused : this.state.videoPaused);
    if (kind === 'audio') this.#watchLevel(track);
    this.set(kind === 'audio' ? { microphoneId: deviceId } : { cameraId: deviceId });
    await this.live?.produce(track, source).catch((e) => this.set({ notice: toErrorBody(e).message }));
    if (this.state.audioPaused && kind === 'audio') await this.live?.mute('mic', true);
    if (this.state.videoPaused && kind === 'video') await this.live?.mute('camera', true);
  }

  async sendChat(text: string, clientMsgId: string): Promise<boolean> {
    const { roomId, bookingId } = this.state;
    if (!this.client || !roomId || !bookingId) return false;
    try {
      this.addMessage(await this.client.send({ roomId, bookingId, kind: 'text', text, clientMsgId }));
      return true;
    } catch (e) {
      this.set({ notice: `Your message was not sent: ${toErrorBody(e).message}` });
      return false;
    }
  }

  addMessage(m: {
    id: string;
    seq: number;
    senderId: string;
    senderRole: string;
    text?: string;
    bookingId?: string;
    createdAt: string;
    kind: string;
  }): void {
    if (this.#seen.has(m.id) || m.bookingId !== this.state.bookingId || m.kind !== 'text') return;
    this.#seen.add(m.id);
    const mine = m.senderId === this.state.me?.userId;
    const line: ChatLine = {
      id: m.id,
      seq: m.seq,
      mine,
      who: mine
        ? 'You'
        : (this.state.other?.displayName ?? (m.senderRole === 'provider' ? 'Provider' : 'Client')),
      text: m.text ?? '',
      at: m.createdAt,
    };
    const chat = [...this.state.chat, line].sort((a, b) => a.seq - b.seq);
    this.set({ chat, messages: chat.length });
  }

  async #loadChat(): Promise<void> {
    const { roomId } = this.state;
    if (!this.client || !roomId) return;
    try {
      const { messages } = await this.client.history(roomId, { limit: 100 });
      for (const m of messages) this.addMessage(m);
      this.client.follow(roomId, messages.at(-1)?.seq ?? 0);
    } catch {
      // A join link may not read the room's history: new messages still arrive.
    }
  }

  #connect(joinToken: string): void {
    this.client?.close();
    const client = new TalkroomClient({
      url: location.origin,
      joinToken,
      ...(this.#jwt ? { token: this.#jwt } : {}),
      // WebSocket first (no sticky sessions needed behind a load balancer); long-polling where it is blocked.
      socket: { transports: ['websocket', 'polling'] },
    });
    this.client = client;
    client.on('connected', () =>
      this.set({ connected: true, notice: null, check: { ...this.state.check, server: 'ok' } }),
    );
    client.on('disconnected', () => this.set({ connected: false }));
    client.on('message', (m) => this.addMessage(m));
    client.onServer('live:started', (ev) => {
      if (ev.bookingId !== this.state.bookingId) return;
      this.set({ startedAt: ev.startedAt, skewMs: Date.now() - Date.parse(ev.startedAt) });
    });
    client.onServer('presence', (ev) => {
      if (ev.userId === this.state.other?.userId) this.set({ otherOnline: ev.online });
    });
    client.socket.on('connect_error', (err: Error & { data?: ErrorBody }) => {
      const code = err.data?.code;
      // Refused for good (not a restart or a busy moment): say why.
      if (code && code !== 'unavailable' && code !== 'rate_limited' && code !== 'internal')
        this.fail(err.data);
      else this.set({ notice: 'Reconnecting…', check: { ...this.state.check, server: 'checking' } });
    });
    if (this.#jwt && this.state.roomId) void this.#readMembers(this.state.roomId);
  }

  /** The other party's name and presence, from the room (a platform sign-in can read it; a link alone gets them from the lookup). */
  async #readMembers(roomId: string): Promise<void> {
    try {
      const { room } = await this.#api<{
        room: { members: { userId: string; displayName: string | null; online: boolean }[] };
      }>(`/v1/rooms/${encodeURIComponent(roomId)}`);
      const them = room.members.find((m) => m.userId === this.state.other?.userId);
      if (them && this.state.other) {
        this.set({
          other: { ...this.state.other, displayName: this.state.other.displayName ?? them.displayName },
          otherOnline: them.online,
        });
      }
    } catch {
      // Names are a courtesy.
    }
  }

  async #openLocal(video: boolean): Promise<void> {
    const [mic, camera] = await Promise.all([openTrack('audio'), video ? openTrack('video') : null]);
    this.local.mic = mic;
    this.local.camera = camera;
    if (mic) this.#watchLevel(mic);
    const devices = await listDevices();
    this.set({
      devices,
      microphoneId: mic?.getSettings().deviceId ?? null,
      cameraId: camera?.getSettings().deviceId ?? null,
      ...(!mic || (video && !camera)
        ? {
            notice: video
              ? 'We could not use your camera or microphone. Check that the browser may use them; you can still chat.'
              : 'We could not use your microphone. Check that the browser may use it; you can still chat.',
          }
        : {}),
    });
  }

  #watchLevel(track: MediaStreamTrack): void {
    this.#meter?.close();
    try {
      this.#meter = levelMeter(track);
    } catch {
      this.#meter = null;
    }
    this.#levelTimer ??= setInterval(() => {
      const level = this.#meter?.read() ?? 0;
      if (Math.abs(level - this.state.level) > 0.02) this.set({ level });
    }, 150);
  }

  async #api<T>(path: string): Promise<T> {
    let res: Response;
    try {
      res = await fetch(path, {
        headers: this.#jwt ? { authorization: `Bearer ${this.#jwt}` } : {},
        cache: 'no-store',
      });
    } catch {
      throw new PageError('unavailable', 'the server cannot be reached');
    }
    const body = (await res.json().catch(() => null)) as (T & { error?: ErrorBody }) | null;
    if (!res.ok || !body)
      throw new PageError(body?.error?.code ?? 'unavailable', body?.error?.message ?? `HTTP ${res.status}`);
    return body;
  }

  #clearTimers(): void {
    for (const t of this.#timers.splice(0)) clearInterval(t);
  }

  #stop(): void {
    this.#clearTimers();
    clearInterval(this.#levelTimer);
    this.#meter?.close();
    for (const t of Object.values(this.local)) t?.stop();
    this.live?.leave().catch(() => {});
    this.client?.close();
  }

  /** After the session ended or was taken over: nothing more to send. */
  finish(patch: Partial<TalkroomState>): void {
    this.remotes = [];
    this.set({ ...patch, consumers: [] });
    this.#stop();
  }
}

/// <reference lib="dom" />
/**
 * talkroom's reference web client: the page a join link (`PUBLIC_URL/join/<joinToken>`)
 * opens. Bundled by web/build.ts (esbuild, with socket.io-client and mediasoup-client
 * inside) and served as /web/client.js next to web/join.html.
 *
 * Two credentials meet here:
 * - the join token, from the path: *which* session (bound to one booking and one participant);
 * - the platform JWT: *who* is joining. The platform normally injects it when it opens the
 *   link (a webview, a redirect). This reference client takes it from the URL
 *   fragment `#token=<jwt>` (never sent to the server, and removed from the address bar at
 *   once), else from sessionStorage (`talkroom.token`, so a reload keeps working), else asks
 *   for it in a small form. An embedding platform can swap in a fresh token before the old
 *   one expires with `window.talkroom.refreshToken(jwt)` (Socket.IO `auth:refresh`).
 *
 * The flow (PROTOCOL.md, "Live sessions"): `GET /v1/join/<joinToken>` (the booking, its room
 * and its window) → Socket.IO with `auth: { token }` → `live:join { joinToken }` → waiting until
 * `live:started`, then in progress until `live:ended`. Video and audio sessions load a
 * mediasoup Device, open a send and a recv transport, produce the microphone (and camera)
 * and consume every `live:producer`; chat sessions exchange `message:send` / `message:new`.
 *
 * For tests, `window.talkroom` exposes the page's state and its RTP packet counts.
 */

import { TalkroomClient, TalkroomError } from '@talkroom/client';
import { Device, type types } from 'mediasoup-client';
import type { z } from 'zod';
import type { Message } from '../protocol/answers.ts';
import type { ErrorBody, ErrorCode } from '../protocol/errors.ts';
import type { BroadcastPayload, RequestAnswer, RequestEvent, RequestInput } from '../protocol/events.ts';
import type { JoinInfo as JoinInfoAnswer } from '../protocol/rest.ts';
import type { Modality } from '../protocol/vocabulary.ts';

type Kind = 'audio' | 'video';
export type Phase =
  | 'starting' // the script is reading its inputs
  | 'need_token' // no platform JWT: the form asks for one
  | 'connecting' // looking the link up, connecting, joining
  | 'waiting' // joined; the other party has not arrived yet
  | 'in_progress' // both have been here: the session is on
  | 'ended' // live:ended
  | 'left' // this user pressed Leave
  | 'error'; // could not join (state.error says why)

// The shapes are the contract's (protocol/): nothing the server sends is re-declared here.
type PublicError = ErrorBody;
type JoinAnswer = RequestAnswer<'live:join'>;
type Participant = JoinAnswer['participants'][number];
type JoinInfo = z.infer<typeof JoinInfoAnswer>;
type TransportAnswer = RequestAnswer<'live:transport'>;
type ProducerEvent = BroadcastPayload<'live:producer'>;
type ChatMessage = Message;

/** What the page knows; read by tests through `window.talkroom.state`. */
export interface TalkroomState {
  phase: Phase;
  joinToken: string | null;
  me: { userId: string; role: string } | null;
  bookingId: string | null;
  roomId: string | null;
  modality: Modality | null;
  startsAt: string | null;
  endsAt: string | null;
  startedAt: string | null;
  /** The booking status live:ended reported. */
  endedStatus: string | null;
  /** Who is in the session now (this user included). */
  participants: Participant[];
  /** Why the page could not join (phase 'error'), or the last request that failed. */
  error: PublicError | null;
  /** A problem beside the session itself: camera blocked, media unavailable, reconnecting. */
  notice: string | null;
  connected: boolean;
  /** The mediasoup-client handler in use (e.g. Chrome111), once the Device loaded. */
  handlerName: string | null;
  producers: { audio: string | null; video: string | null };
  audioPaused: boolean;
  videoPaused: boolean;
  /** Remote tracks being received: one per consumed producer. */
  consumers: { consumerId: string; producerId: string; userId: string; kind: Kind }[];
  messages: number;
}

export interface TalkroomStats {
  inboundAudioPackets: number;
  inboundVideoPackets: number;
  outboundAudioPackets: number;
  outboundVideoPackets: number;
  /** Each transport's selected ICE candidate pair (RTCTransportStats.selectedCandidatePairId), once it has one. */
  candidatePairs: SelectedPair[];
}

export interface SelectedPair {
  direction: 'send' | 'recv';
  state: string;
  /** host, srflx, prflx or relay: `relay` means the browser's side goes through a TURN server. */
  localType: string;
  remoteType: string;
  /** The candidate's transport (udp or tcp); for a relay candidate, `relayProtocol` is how the browser reaches the TURN server. */
  protocol: string;
  relayProtocol: string | null;
  /** The TURN server's URL, for a relay candidate. */
  url: string | null;
}

declare global {
  interface Window {
    talkroom: {
      state: TalkroomState;
      stats(): Promise<TalkroomStats>;
      refreshToken(jwt: string): Promise<void>;
    };
  }
}

const TOKEN_KEY = 'talkroom.token';

/**
 * `iceTransportPolicy` from the address (`?iceTransportPolicy=relay`, or in the
 * fragment beside the token): `relay` sends all media through the TURN servers
 * the join answer lists (a platform that must hide participants' addresses, or
 * a test of the relay); `all` (the browser's default) also tries direct paths.
 */
function iceTransportPolicyFromUrl(): RTCIceTransportPolicy | undefined {
  const v =
    new URLSearchParams(location.search).get('iceTransportPolicy') ??
    new URLSearchParams(location.hash.slice(1)).get('iceTransportPolicy');
  return v === 'relay' || v === 'all' ? v : undefined;
}
// Read before the fragment is scrubbed from the address bar.
const iceTransportPolicy = iceTransportPolicyFromUrl();

const state: TalkroomState = {
  phase: 'starting',
  joinToken: null,
  me: null,
  bookingId: null,
  roomId: null,
  modality: null,
  startsAt: null,
  endsAt: null,
  startedAt: null,
  endedStatus: null,
  participants: [],
  error: null,
  notice: null,
  connected: false,
  handlerName: null,
  producers: { audio: null, video: null },
  audioPaused: false,
  videoPaused: false,
  consumers: [],
  messages: 0,
};

window.talkroom = { state, stats, refreshToken };

// ---------------------------------------------------------------- the page

const el = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`join.html lacks #${id}`);
  return found as T;
};

const ui = {
  status: el('status'),
  detail: el('detail'),
  code: el('code'),
  notice: el('notice'),
  when: el('when'),
  tokenForm: el<HTMLFormElement>('token-form'),
  tokenInput: el<HTMLInputElement>('token-input'),
  media: el('media'),
  remote: el('remote'),
  local: el<HTMLVideoElement>('local'),
  enableSound: el<HTMLButtonElement>('enable-sound'),
  chat: el('chat'),
  messages: el<HTMLOListElement>('messages'),
  chatForm: el<HTMLFormElement>('chat-form'),
  chatInput: el<HTMLInputElement>('chat-input'),
  people: el('people'),
  participants: el<HTMLUListElement>('participants'),
  controls: el('controls'),
  mute: el<HTMLButtonElement>('mute'),
  camera: el<HTMLButtonElement>('camera'),
  leave: el<HTMLButtonElement>('leave'),
  end: el<HTMLButtonElement>('end'),
  rejoin: el<HTMLButtonElement>('rejoin'),
};

/** Error codes in plain words: a short title for the status line and what to do about it. */
const FRIENDLY: Record<string, [title: string, hint: string]> = {
  join_window_closed: [
    'This session is not open right now',
    'The link works from shortly before the start until the end of the session.',
  ],
  forbidden: ['This link is for someone else', 'Please use the link that was sent to you.'],
  unauthenticated: ['We could not confirm who you are', 'Please open the session again from the app.'],
  token_expired: ['Your sign-in has expired', 'Please open the session again from the app.'],
  not_found: ['We could not find this session', 'Please check the link, or open the session from the app.'],
  invalid_input: ['This link looks incomplete', 'Please open the session again from the app.'],
  media_unavailable: ['Audio and video are not available right now', 'Please try again in a moment.'],
  unavailable: ['The service is busy right now', 'Please try again in a moment.'],
  rate_limited: ['Too many attempts', 'Please wait a moment and try again.'],
  modality_mismatch: ['This session does not use that kind of media', ''],
};

/** One sentence for a notice. */
function explain(e: PublicError): string {
  const f = FRIENDLY[e.code];
  return f ? `${f[0]}. ${f[1]}`.trim() : e.message;
}

function statusText(): string {
  switch (state.phase) {
    case 'starting':
    case 'connecting':
      return 'Connecting…';
    case 'need_token':
      return 'Please enter your sign-in token to join';
    case 'waiting':
      return 'Waiting for the other party…';
    case 'in_progress':
      return 'Session in progress';
    case 'ended':
      return `Session ended (${state.endedStatus ?? 'completed'})`;
    case 'left':
      return 'You left the session';
    case 'error':
      return (state.error && FRIENDLY[state.error.code]?.[0]) ?? 'We could not join the session';
  }
}

const live = () => state.phase === 'waiting' || state.phase === 'in_progress';
const hasMedia = () => state.modality === 'video' || state.modality === 'audio';
const isChat = () => state.modality === 'chat' || state.modality === 'messaging';

/** Brings the DOM in line with `state`; called after every change. */
function render(): void {
  document.body.dataset.phase = state.phase;
  ui.status.textContent = statusText();
  const failed = state.phase === 'error' ? state.error : null;
  ui.detail.textContent = failed ? (FRIENDLY[failed.code]?.[1] ?? failed.message) : '';
  ui.detail.hidden = !failed;
  // The machine-readable code beside the words: what a user quotes to support.
  ui.code.textContent = failed ? `(${failed.code})` : '';
  ui.code.hidden = !failed;
  ui.notice.textContent = state.notice ?? '';
  ui.notice.hidden = !state.notice;
  ui.tokenForm.hidden = state.phase !== 'need_token';

  if (state.startsAt && state.endsAt) {
    const day = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
    const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
    const start = new Date(state.startsAt);
    const what = state.modality === 'video' ? 'Video' : state.modality === 'audio' ? 'Audio' : 'Chat';
    ui.when.textContent = `${what} session · ${day.format(start)} · ${time.format(start)}–${time.format(new Date(state.endsAt))}`;
  }

  const active = live();
  ui.media.hidden = !(hasMedia() && active);
  ui.chat.hidden = !(isChat() && (active || state.messages > 0));
  ui.chatInput.disabled = !(isChat() && active);
  ui.chatForm.querySelector('button')!.disabled = ui.chatInput.disabled;
  ui.people.hidden = !active;
  ui.controls.hidden = !active;
  ui.local.hidden = !localStream?.getVideoTracks().length;

  ui.mute.hidden = !hasMedia();
  ui.mute.disabled = !state.producers.audio;
  ui.mute.textContent = state.audioPaused ? 'Unmute' : 'Mute';
  ui.mute.setAttribute('aria-pressed', String(state.audioPaused));
  ui.camera.hidden = state.modality !== 'video';
  ui.camera.disabled = !state.producers.video;
  ui.camera.textContent = state.videoPaused ? 'Turn camera on' : 'Turn camera off';
  ui.camera.setAttribute('aria-pressed', String(state.videoPaused));
  ui.end.hidden = state.me?.role !== 'provider';
  ui.rejoin.hidden = state.phase !== 'left';

  ui.participants.replaceChildren(
    ...state.participants.map((p) => {
      const li = document.createElement('li');
      li.textContent = p.userId === state.me?.userId ? `You (${roleName(p.role)})` : roleName(p.role);
      return li;
    }),
  );
}

function roleName(role: string): string {
  if (role === 'provider') return 'Provider';
  if (role === 'client') return 'Client';
  return role.charAt(0).toUpperCase() + role.slice(1);
}

function setPhase(phase: Phase): void {
  state.phase = phase;
  render();
}

function fail(e: unknown): void {
  state.error = toPublicError(e);
  teardown(true);
  client?.close();
  setPhase('error');
}

function notify(notice: string | null): void {
  state.notice = notice;
  render();
}

class ClientError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function toPublicError(e: unknown): PublicError {
  if (e instanceof ClientError || e instanceof TalkroomError) return { code: e.code, message: e.message };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e) };
}

// ---------------------------------------------------------------- identity

/** The join token from `/join/<token>`. */
function joinTokenFromPath(): string | null {
  const m = /\/join\/([^/?#]+)\/?$/.exec(location.pathname);
  return m?.[1] ? decodeURIComponent(m[1]) : null;
}

/** The platform JWT: `#token=` (then stored and scrubbed from the address bar), else sessionStorage. */
function platformToken(): string | null {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    saveToken(fromHash);
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function saveToken(jwt: string | null): void {
  try {
    if (jwt) sessionStorage.setItem(TOKEN_KEY, jwt);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives for this page only.
  }
}

/** The JWT's claims, unverified: only to label "You" and offer providers "End session". */
function claims(jwt: string): { sub?: string; role?: string } {
  try {
    const b64 = jwt.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}

let token: string | null = null;

// ---------------------------------------------------------------- the server

/** The page's connection: the SDK's client (typed requests and events, token refresh). */
let client: TalkroomClient | null = null;

/** A request event with its acknowledgement (PROTOCOL.md, Errors), through the SDK; rejects with the error's code. */
function request<E extends RequestEvent>(
  event: E,
  payload: RequestInput<E>,
  timeoutMs = 15_000,
): Promise<RequestAnswer<E>> {
  if (!client) return Promise.reject(new ClientError('unavailable', 'not connected'));
  return client.request(event, payload, { timeoutMs }).catch((e: unknown) => {
    throw e instanceof TalkroomError && e.timedOut
      ? new ClientError('unavailable', `no answer to ${event}`)
      : e;
  });
}

async function api<T>(path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    throw new ClientError('unavailable', 'the server cannot be reached');
  }
  const body = (await res.json().catch(() => null)) as (T & { error?: PublicError }) | null;
  if (!res.ok || !body) {
    throw new ClientError(body?.error?.code ?? 'unavailable', body?.error?.message ?? `HTTP ${res.status}`);
  }
  return body;
}

async function start(): Promise<void> {
  state.error = null;
  state.notice = null;
  setPhase('connecting');
  const me = claims(token!);
  state.me = { userId: me.sub ?? '', role: me.role ?? '' };

  let info: JoinInfo;
  try {
    info = await api<JoinInfo>(`/v1/join/${encodeURIComponent(state.joinToken!)}`);
  } catch (e) {
    const err = toPublicError(e);
    if (err.code === 'unauthenticated' || err.code === 'token_expired') return askForToken(err);
    return fail(e);
  }
  state.bookingId = info.booking.id;
  state.roomId = info.booking.roomId;
  state.modality = info.booking.modality;
  state.startsAt = info.booking.startsAt;
  state.endsAt = info.booking.endsAt;
  render();
  connect();
}

function askForToken(why?: PublicError): void {
  saveToken(null);
  token = null;
  state.error = null;
  state.notice = why ? explain(why) : null;
  setPhase('need_token');
  ui.tokenInput.focus();
}

function connect(): void {
  // websocket first (no sticky sessions needed behind a load balancer), polling if it is blocked.
  client?.close();
  client = new TalkroomClient({
    url: location.origin,
    token: token!,
    socket: { transports: ['websocket', 'polling'] },
  });
  const s = client.socket;

  s.on('connect', () => {
    state.connected = true;
    notify(null);
    void join();
  });
  s.on('connect_error', (err: Error & { data?: PublicError }) => {
    const code = err.data?.code;
    if (code === 'unauthenticated' || code === 'token_expired') {
      s.disconnect();
      askForToken(err.data);
    } else if (code) {
      fail(new ClientError(code, err.data?.message ?? err.message));
    } else {
      notify('Cannot reach the server. Trying again…');
    }
  });
  s.on('disconnect', (reason) => {
    state.connected = false;
    if (!live()) return;
    teardown(false);
    if (reason === 'io client disconnect') return;
    if (reason === 'io server disconnect') {
      // The server closed us (auth:expired came first if the token ran out): no automatic retry.
      fail(new ClientError(state.error?.code ?? 'unavailable', 'the server closed the connection'));
      return;
    }
    notify('Connection lost. Reconnecting…');
  });
  s.on('auth:expired', (e: PublicError) => {
    state.error = e;
  });

  s.on('live:participant', (ev: Participant & { bookingId: string; state: 'joined' | 'left' }) => {
    if (ev.bookingId !== state.bookingId) return;
    state.participants = state.participants.filter((p) => p.userId !== ev.userId);
    if (ev.state === 'joined') state.participants.push({ userId: ev.userId, role: ev.role });
    else dropUser(ev.userId);
    render();
  });
  s.on('live:started', (ev: { bookingId: string; startedAt: string }) => {
    if (ev.bookingId !== state.bookingId) return;
    state.startedAt = ev.startedAt;
    if (state.phase === 'waiting') setPhase('in_progress');
  });
  s.on('live:ended', (ev: { bookingId: string; status: string }) => {
    if (ev.bookingId !== state.bookingId) return;
    state.endedStatus = ev.status;
    teardown(true);
    setPhase('ended');
    s.disconnect();
  });
  s.on('live:producer', (ev: ProducerEvent) => {
    if (ev.bookingId !== state.bookingId) return;
    void consume(ev);
  });
  // The media server under the session restarted: joining again gives new transports. Backed off, so a
  // media server that keeps failing is not hammered (reset once media connects again).
  s.on('live:rejoin', (ev: { bookingId: string }) => {
    if (ev.bookingId !== state.bookingId || !live() || rejoinTimer) return;
    teardown(false);
    notify('Reconnecting audio and video…');
    const delay = Math.min(30_000, 500 * 2 ** rejoins++);
    rejoinTimer = setTimeout(() => {
      rejoinTimer = null;
      if (live()) void join();
    }, delay);
  });
  s.on('message:new', (m: ChatMessage) => {
    if (m.roomId === state.roomId && isChat()) addMessage(m);
  });
}

/** Each (re)join gets a number; work begun for an older one stops when it notices. */
let generation = 0;
/** live:rejoin requests since media last connected, and the pending one. */
let rejoins = 0;
let rejoinTimer: ReturnType<typeof setTimeout> | null = null;

async function join(): Promise<void> {
  const gen = ++generation;
  // The camera and microphone start while the join is on its way, so sending
  // can begin as soon as the transports are there.
  const stream = hasMedia() ? localMedia(state.modality === 'video') : Promise.resolve(null);
  let answer: JoinAnswer;
  try {
    // Media sessions ask for both transports in the join answer: two round trips fewer before media flows.
    answer = await request('live:join', {
      joinToken: state.joinToken!,
      ...(hasMedia() ? { transports: ['recv', 'send'] } : {}),
    });
  } catch (e) {
    if (gen === generation) fail(e);
    return;
  }
  if (gen !== generation) return;
  state.bookingId = answer.bookingId;
  state.modality = answer.modality;
  const seen = new Map(answer.participants.map((p) => [p.userId, p]));
  state.participants = [...seen.values()];
  setPhase(answer.status === 'in_progress' || state.startedAt ? 'in_progress' : 'waiting');

  if (hasMedia()) await setupMedia(gen, answer, stream);
  else await loadChat(gen);
}

// ---------------------------------------------------------------- media

interface Media {
  device: Device;
  send: types.Transport | null;
  recv: types.Transport | null;
  producers: Map<Kind, types.Producer>;
  consumers: Map<string, { consumer: types.Consumer; userId: string; el: HTMLMediaElement }>;
}

let media: Media | null = null;
/** live:producer events that came before the recv transport was ready (the server sends existing ones right after the join answer). */
let pendingProducers: ProducerEvent[] = [];
const consumedProducers = new Set<string>();
/** Kept across reconnects so the browser does not ask again. */
let localStream: MediaStream | null = null;

async function setupMedia(
  gen: number,
  answer: JoinAnswer,
  early: Promise<MediaStream | null>,
): Promise<void> {
  const bookingId = answer.bookingId;
  const stale = () => gen !== generation || !live();
  try {
    if (!answer.routerRtpCapabilities) {
      throw new ClientError('media_unavailable', 'the join answer carried no routerRtpCapabilities');
    }
    const device = await Device.factory();
    await device.load({ routerRtpCapabilities: answer.routerRtpCapabilities });
    if (stale()) return;
    state.handlerName = device.handlerName;
    media = { device, send: null, recv: null, producers: new Map(), consumers: new Map() };
    const m = media;
    const iceServers = answer.iceServers as RTCIceServer[] | undefined;

    // Receive first: the other party may already be sending.
    const recvInfo =
      answer.transports?.recv ?? (await request('live:transport', { bookingId, direction: 'recv' }));
    if (stale()) return;
    m.recv = device.createRecvTransport({ ...pick(recvInfo), ...iceOptions(iceServers) });
    wireTransport(m.recv, bookingId);
    for (const p of pendingProducers.splice(0)) void consume(p);

    const sendInfo =
      answer.transports?.send ?? (await request('live:transport', { bookingId, direction: 'send' }));
    if (stale()) return;
    const send = device.createSendTransport({ ...pick(sendInfo), ...iceOptions(iceServers) });
    m.send = send;
    wireTransport(send, bookingId);
    send.on('produce', ({ kind, rtpParameters, appData }, done, failed) => {
      request('live:produce', {
        bookingId,
        transportId: send.id,
        kind,
        rtpParameters,
        appData,
      }).then(({ producerId }) => done({ id: producerId }), failed);
    });

    const stream = await early;
    if (!stream || stale()) return;
    // The preview shows at once, before (and whether or not) sending works.
    const camera = stream.getVideoTracks()[0];
    if (camera) ui.local.srcObject = new MediaStream([camera]);
    render();
    for (const track of stream.getTracks()) {
      const kind = track.kind as Kind;
      if (!device.canProduce(kind)) continue;
      // stopTracks false: a reconnect closes the transport but keeps the camera and microphone.
      const producer = await send.produce({ track, stopTracks: false, appData: { source: kind } });
      if (stale()) return;
      m.producers.set(kind, producer);
      state.producers[kind] = producer.id;
      const paused = kind === 'audio' ? state.audioPaused : state.videoPaused;
      if (paused) producer.pause();
      render();
    }
  } catch (e) {
    if (stale()) return;
    const err = toPublicError(e);
    state.error = err;
    const known = err.code === 'media_unavailable' || err.code === 'unavailable';
    notify(`${known ? explain(err) : 'Audio and video could not start.'} (${err.code})`);
  }
}

/** The join answer's TURN servers (with their credentials) and the page's ICE policy, for RTCPeerConnection. */
function iceOptions(iceServers: RTCIceServer[] | undefined): {
  iceServers?: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
} {
  return {
    ...(iceServers?.length ? { iceServers } : {}),
    ...(iceTransportPolicy ? { iceTransportPolicy } : {}),
  };
}

function pick(t: TransportAnswer) {
  return {
    id: t.id,
    iceParameters: t.iceParameters as types.IceParameters,
    iceCandidates: t.iceCandidates as types.IceCandidate[],
    dtlsParameters: t.dtlsParameters as types.DtlsParameters,
  };
}

function wireTransport(t: types.Transport, bookingId: string): void {
  // Optimistic: the transport goes on at once (the next request, live:produce
  // or live:resume, follows live:connect on the same socket, and the server
  // accepts it before the DTLS handshake), which saves a round trip before
  // media flows. If the server refuses the connect, rejoin from scratch.
  t.on('connect', ({ dtlsParameters }, done) => {
    done();
    request('live:connect', { bookingId, transportId: t.id, dtlsParameters }).catch((e: unknown) => {
      notify('The media connection could not be set up. Trying again…');
      if (live()) void join();
      void e;
    });
  });
  t.on('connectionstatechange', (s) => {
    if (s === 'connected') {
      rejoins = 0;
      if (state.notice?.startsWith('The media connection') || state.notice?.startsWith('Reconnecting'))
        notify(null);
    } else if (s === 'failed' || s === 'disconnected') {
      notify('The media connection is unstable. Trying to recover…');
      // Beyond the brief: live:restartIce answers new ICE parameters where the server supports it.
      request('live:restartIce', { bookingId, transportId: t.id })
        .then(({ iceParameters }) => t.restartIce({ iceParameters: iceParameters as types.IceParameters }))
        .catch(() => {});
    }
  });
}

async function localMedia(video: boolean): Promise<MediaStream | null> {
  if (localStream?.getTracks().every((t) => t.readyState === 'live')) return localStream;
  if (!navigator.mediaDevices?.getUserMedia) {
    notify(
      'Camera and microphone need a secure (https) connection. You can still see and hear the other party.',
    );
    return null;
  }
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    return localStream;
  } catch (e) {
    if (video) {
      // No camera (or it is blocked): join with the microphone alone.
      try {
        localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
        notify('Your camera is not available; you joined with audio only.');
        return localStream;
      } catch {}
    }
    const name = e instanceof DOMException ? e.name : '';
    notify(
      name === 'NotAllowedError'
        ? 'Camera and microphone are blocked. Allow them in your browser to be seen and heard.'
        : 'No microphone was found. You can still see and hear the other party.',
    );
    return null;
  }
}

async function consume(p: ProducerEvent): Promise<void> {
  // The server announces every producer to the whole session, this user's own included (which can arrive
  // before live:produce answers); a peer never consumes itself.
  const own = p.userId === state.me?.userId || p.producerId === state.producers[p.kind];
  if (own || consumedProducers.has(p.producerId)) return;
  const m = media;
  if (!m?.recv) {
    if (!pendingProducers.some((q) => q.producerId === p.producerId)) pendingProducers.push(p);
    return;
  }
  consumedProducers.add(p.producerId);
  const recv = m.recv;
  try {
    const c = await request('live:consume', {
      bookingId: state.bookingId!,
      transportId: recv.id,
      producerId: p.producerId,
      rtpCapabilities: m.device.recvRtpCapabilities,
    });
    if (media !== m || recv.closed) return;
    const consumer = await recv.consume({
      id: c.consumerId,
      producerId: c.producerId,
      kind: c.kind,
      rtpParameters: c.rtpParameters as types.RtpParameters,
    });
    const mediaEl = attach(p.userId, consumer.track, c.kind);
    m.consumers.set(consumer.id, { consumer, userId: p.userId, el: mediaEl });
    state.consumers.push({
      consumerId: consumer.id,
      producerId: c.producerId,
      userId: p.userId,
      kind: c.kind,
    });
    const gone = () => removeConsumer(m, consumer.id);
    consumer.on('trackended', gone);
    consumer.on('transportclose', gone);
    render();
    // Created paused on the server: resume once the track has somewhere to go.
    await request('live:resume', { bookingId: state.bookingId!, consumerId: consumer.id });
  } catch (e) {
    consumedProducers.delete(p.producerId);
    if (media === m) {
      state.error = toPublicError(e);
      notify(`Could not receive the other party’s audio or video (${state.error.code}).`);
    }
  }
}

/** One tile per remote user: a video (muted: sound goes through the audio element) and an audio element. */
function attach(userId: string, track: MediaStreamTrack, kind: Kind): HTMLMediaElement {
  let tile = ui.remote.querySelector<HTMLElement>(`[data-user="${CSS.escape(userId)}"]`);
  if (!tile) {
    tile = document.createElement('figure');
    tile.className = 'tile';
    tile.dataset.user = userId;
    const caption = document.createElement('figcaption');
    const who = state.participants.find((p) => p.userId === userId);
    caption.textContent = who ? roleName(who.role) : 'Other participant';
    tile.append(caption);
    ui.remote.append(tile);
  }
  const mediaEl = document.createElement(kind === 'video' ? 'video' : 'audio');
  mediaEl.autoplay = true;
  mediaEl.srcObject = new MediaStream([track]);
  if (mediaEl instanceof HTMLVideoElement) {
    mediaEl.muted = true;
    mediaEl.playsInline = true;
    tile.prepend(mediaEl);
  } else {
    tile.append(mediaEl);
  }
  mediaEl.play().catch(() => {
    // Autoplay with sound needs a gesture in some browsers: offer one.
    if (kind === 'audio') ui.enableSound.hidden = false;
  });
  return mediaEl;
}

function removeConsumer(m: Media, consumerId: string): void {
  const entry = m.consumers.get(consumerId);
  if (!entry) return;
  m.consumers.delete(consumerId);
  consumedProducers.delete(entry.consumer.producerId);
  if (!entry.consumer.closed) entry.consumer.close();
  entry.el.srcObject = null;
  const tile = entry.el.parentElement;
  entry.el.remove();
  if (tile && !tile.querySelector('video, audio')) tile.remove();
  state.consumers = state.consumers.filter((c) => c.consumerId !== consumerId);
  render();
}

function dropUser(userId: string): void {
  const m = media;
  if (!m) return;
  for (const [id, c] of m.consumers) if (c.userId === userId) removeConsumer(m, id);
}

/** Closes transports (and with them producers and consumers); `final` also releases camera and microphone. */
function teardown(final: boolean): void {
  generation++;
  const m = media;
  media = null;
  pendingProducers = [];
  consumedProducers.clear();
  if (m) {
    for (const id of [...m.consumers.keys()]) removeConsumer(m, id);
    m.send?.close();
    m.recv?.close();
  }
  state.consumers = [];
  state.producers = { audio: null, video: null };
  ui.remote.replaceChildren();
  if (final) {
    for (const t of localStream?.getTracks() ?? []) t.stop();
    localStream = null;
    ui.local.srcObject = null;
  }
}

function setPaused(kind: Kind, paused: boolean): void {
  const producer = media?.producers.get(kind);
  if (!producer) return;
  if (paused) producer.pause();
  else producer.resume();
  if (kind === 'audio') state.audioPaused = paused;
  else state.videoPaused = paused;
  render();
  // Tells the other side (and lets the server pause forwarding); optional on the server: errors are ignored.
  request('live:mute', { bookingId: state.bookingId!, producerId: producer.id, paused }, 5000).catch(
    () => {},
  );
}

async function stats(): Promise<TalkroomStats> {
  const out: TalkroomStats = {
    inboundAudioPackets: 0,
    inboundVideoPackets: 0,
    outboundAudioPackets: 0,
    outboundVideoPackets: 0,
    candidatePairs: [],
  };
  const transports = [media?.send, media?.recv].filter((t): t is types.Transport => !!t && !t.closed);
  const reports = await Promise.all(transports.map((t) => t.getStats().catch(() => null)));
  reports.forEach((report, i) => {
    const pair = report && selectedPair(report, transports[i]!.direction);
    if (pair) out.candidatePairs.push(pair);
  });
  for (const report of reports) {
    report?.forEach((s: { type: string; kind?: string; packetsReceived?: number; packetsSent?: number }) => {
      if (s.type === 'inbound-rtp') {
        if (s.kind === 'audio') out.inboundAudioPackets += s.packetsReceived ?? 0;
        if (s.kind === 'video') out.inboundVideoPackets += s.packetsReceived ?? 0;
      } else if (s.type === 'outbound-rtp') {
        if (s.kind === 'audio') out.outboundAudioPackets += s.packetsSent ?? 0;
        if (s.kind === 'video') out.outboundVideoPackets += s.packetsSent ?? 0;
      }
    });
  }
  return out;
}

/** The pair ICE chose, read from the peer connection's transport stats. */
function selectedPair(report: RTCStatsReport, direction: 'send' | 'recv'): SelectedPair | null {
  type Stat = Record<string, unknown> & { id: string; type: string };
  const all = [...report.values()] as Stat[];
  const transport = all.find((x) => x.type === 'transport' && typeof x.selectedCandidatePairId === 'string');
  const pair = transport && report.get(transport.selectedCandidatePairId as string);
  if (!pair) return null;
  const local = report.get(pair.localCandidateId);
  const remote = report.get(pair.remoteCandidateId);
  return {
    direction,
    state: String(pair.state),
    localType: String(local?.candidateType),
    remoteType: String(remote?.candidateType),
    protocol: String(local?.protocol),
    relayProtocol: local?.relayProtocol ?? null,
    url: local?.url ?? null,
  };
}

async function refreshToken(jwt: string): Promise<void> {
  token = jwt;
  saveToken(jwt);
  await client?.setToken(jwt);
}

// ---------------------------------------------------------------- chat

const shownMessages = new Set<string>();
/** An unsent message keeps its clientMsgId, so pressing Send again never posts it twice. */
let pendingSend: { text: string; clientMsgId: string } | null = null;

async function loadChat(gen: number): Promise<void> {
  try {
    const { messages } = await request('message:history', {
      roomId: state.roomId!,
      limit: 100,
    });
    if (gen !== generation) return;
    const opens = state.startsAt ? Date.parse(state.startsAt) - 60 * 60_000 : 0;
    for (const m of messages) {
      if (m.bookingId === state.bookingId || Date.parse(m.createdAt) >= opens) addMessage(m);
    }
  } catch {
    // History is a courtesy; new messages still arrive.
  }
  if (live()) ui.chatInput.focus();
}

function addMessage(m: ChatMessage): void {
  if (shownMessages.has(m.id)) return;
  shownMessages.add(m.id);
  const li = document.createElement('li');
  const mine = m.senderId === state.me?.userId;
  li.className = mine ? 'mine' : m.kind === 'system' ? 'system' : 'theirs';
  li.dataset.seq = String(m.seq);
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = mine ? 'You' : m.kind === 'system' ? 'Notice' : roleName(m.senderRole);
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text ?? `(${m.kind} message)`;
  li.append(who, text);
  // Keep the list in room order even if a late history answer lands after new messages.
  const after = [...ui.messages.children].find((c) => Number((c as HTMLElement).dataset.seq) > m.seq);
  ui.messages.insertBefore(li, after ?? null);
  li.scrollIntoView({ block: 'nearest' });
  state.messages = shownMessages.size;
  render();
}

function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // randomUUID needs a secure context; getRandomValues does not.
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function sendChat(): Promise<void> {
  const text = ui.chatInput.value.trim();
  if (!text) return;
  if (pendingSend?.text !== text) pendingSend = { text, clientMsgId: newId() };
  const { clientMsgId } = pendingSend;
  try {
    const { message } = await request('message:send', {
      roomId: state.roomId!,
      clientMsgId,
      kind: 'text',
      text,
      bookingId: state.bookingId!,
    });
    if (pendingSend?.clientMsgId === clientMsgId) pendingSend = null;
    if (ui.chatInput.value.trim() === text) ui.chatInput.value = '';
    addMessage(message);
    notify(null);
  } catch (e) {
    const err = toPublicError(e);
    notify(`Your message was not sent: ${explain(err)} (${err.code})`);
  }
}

// ---------------------------------------------------------------- controls

ui.tokenForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const value = ui.tokenInput.value.trim();
  if (!value) return;
  token = value;
  saveToken(value);
  ui.tokenInput.value = '';
  void start();
});

ui.chatForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void sendChat();
});

ui.mute.addEventListener('click', () => setPaused('audio', !state.audioPaused));
ui.camera.addEventListener('click', () => setPaused('video', !state.videoPaused));

ui.enableSound.addEventListener('click', () => {
  for (const a of ui.remote.querySelectorAll('audio')) a.play().catch(() => {});
  ui.enableSound.hidden = true;
});

ui.leave.addEventListener('click', async () => {
  const bookingId = state.bookingId;
  teardown(true);
  setPhase('left');
  await request('live:leave', { bookingId: bookingId! }, 3000).catch(() => {});
  client?.close();
  ui.rejoin.focus();
});

ui.rejoin.addEventListener('click', () => location.reload());

// Ending is for everyone, so it asks twice (an in-page confirmation; no blocking dialog).
let endArmed: ReturnType<typeof setTimeout> | null = null;
ui.end.addEventListener('click', async () => {
  if (!endArmed) {
    ui.end.textContent = 'Press again to end for everyone';
    endArmed = setTimeout(() => {
      endArmed = null;
      ui.end.textContent = 'End session';
    }, 5000);
    return;
  }
  clearTimeout(endArmed);
  endArmed = null;
  ui.end.textContent = 'End session';
  try {
    await request('live:end', { bookingId: state.bookingId! });
    // live:ended follows and closes the page's session.
  } catch (e) {
    state.error = toPublicError(e);
    notify(`The session could not be ended: ${explain(state.error)} (${state.error.code})`);
  }
});

window.addEventListener('pagehide', () => {
  // Best effort: the server also treats a dropped socket as leaving.
  if (live() && state.bookingId) client?.socket.emit('live:leave', { bookingId: state.bookingId }, () => {});
});

// ---------------------------------------------------------------- go

state.joinToken = joinTokenFromPath();
token = platformToken();
if (!state.joinToken) {
  fail(new ClientError('invalid_input', 'no join token in the address'));
} else if (!token) {
  askForToken();
} else {
  void start();
}

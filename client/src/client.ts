import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { Message } from '../../protocol/answers.ts';
import { type Ack, ERROR_CODES, type ErrorBody, type ErrorCode } from '../../protocol/errors.ts';
import type {
  BroadcastEvent,
  BroadcastPayload,
  ClientToServerEvents,
  RequestAnswer,
  RequestEvent,
  RequestInput,
  ServerToClientEvents,
} from '../../protocol/events.ts';
import { Emitter } from './emitter.ts';
import { RETRYABLE, TalkroomError } from './errors.ts';
import { tokenExpiry } from './token.ts';

export type TypedSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
/** What `send` takes: a `message:send` payload; the SDK picks the `clientMsgId` unless the application does. */
export type SendInput = Omit<RequestInput<'message:send'>, 'clientMsgId'> & { clientMsgId?: string };

export interface TalkroomClientOptions {
  /** The server's origin, e.g. `https://talk.example.com`. */
  url: string;
  /** The platform's JWT for this user (or leave it to `getToken`). */
  token?: string;
  /**
   * Supplies a fresh platform token: called before the current one expires
   * (then sent as `auth:refresh`), and on a reconnect when the token is about
   * to expire or the server refused it.
   */
  getToken?: () => string | Promise<string>;
  /** A join link's token, sent in the handshake as `auth.joinToken` (PROTOCOL.md, second round). */
  joinToken?: string;
  /** How long a request waits for its acknowledgement (default 15 s). */
  requestTimeoutMs?: number;
  /** How long before expiry the token is refreshed (default 60 s; at most a third of what is left). */
  refreshMarginMs?: number;
  /**
   * Rooms to keep caught up: `{ roomId: lastSeenSeq }` (messages after that seq
   * are delivered), or `'all'` to follow every room the user sees from its
   * newest message on (read earlier ones with `history`).
   */
  rooms?: Record<string, number> | 'all';
  /** Socket.IO options; the defaults (long-polling first, then WebSocket) suit every network. */
  socket?: Partial<ManagerOptions & SocketOptions>;
}

export interface ClientEvents {
  /** A room's messages, each exactly once and in `seq` order per room (live, caught up or sent by this client). */
  message: (message: Message) => void;
  connected: () => void;
  /** The connection dropped (the SDK reconnects on its own unless `reason` is `io client disconnect`). */
  disconnected: (reason: string) => void;
  /** Every followed room has been caught up after a (re)connect. */
  caughtUp: () => void;
  /** A new token was accepted by `auth:refresh`. */
  tokenRefreshed: (expiresAt: string) => void;
  /** A failure in the background (refresh, catch-up, a refused connection); the SDK goes on where it can. */
  error: (error: TalkroomError) => void;
}

interface OutboxEntry {
  input: RequestInput<'message:send'>;
  inflight: boolean;
  resolve: (m: Message) => void;
  reject: (e: TalkroomError) => void;
}

interface RoomCursor {
  /** The highest seq delivered to the application, with nothing missing below it. */
  seq: number;
  /** Messages that came ahead of a gap, held back until it fills. */
  held: Map<number, Message>;
}

const SYNC_ROOMS_PER_CALL = 1000;

/**
 * A talkroom connection: typed requests and server events, an outbox that
 * delivers every send exactly once across reconnects and restarts, and a
 * message stream that catches up every followed room after any reconnect.
 */
export class TalkroomClient extends Emitter<ClientEvents> {
  readonly socket: TypedSocket;
  readonly #o: TalkroomClientOptions;
  readonly #timeoutMs: number;
  #token: string | undefined;
  /** The next handshake asks getToken for a new token (the server refused or expired the last). */
  #needFresh = false;
  #expired = false;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectFailures = 0;
  #closed = false;
  readonly #outbox = new Map<string, OutboxEntry>();
  readonly #rooms = new Map<string, RoomCursor>();
  #followAll: boolean;
  /** Signed in with a join link only: one session's live events and chat, no room to follow. */
  readonly #linkOnly: boolean;
  #syncing = false;
  #syncAgain = false;

  constructor(o: TalkroomClientOptions) {
    super();
    this.#o = o;
    this.#timeoutMs = o.requestTimeoutMs ?? 15_000;
    this.#token = o.token;
    this.#followAll = o.rooms === 'all';
    this.#linkOnly = Boolean(o.joinToken) && !o.token && !o.getToken;
    if (o.rooms && o.rooms !== 'all') for (const [id, seq] of Object.entries(o.rooms)) this.follow(id, seq);
    this.socket = io(o.url, {
      ...o.socket,
      // Called on every (re)connect: a token about to expire is replaced first.
      auth: (cb) => {
        this.#handshakeToken().then(
          (token) => cb({ ...(token ? { token } : {}), ...(o.joinToken ? { joinToken: o.joinToken } : {}) }),
          () => cb({ ...(this.#token ? { token: this.#token } : {}) }),
        );
      },
    });
    this.#wire();
  }

  // ---- requests and events -----------------------------------------------------------------

  /**
   * Sends a request event and resolves with its answer's `data`; rejects with a
   * TalkroomError carrying the server's code, or `unavailable` (timedOut) when
   * no answer came in time.
   */
  request<E extends RequestEvent>(
    event: E,
    payload: RequestInput<E>,
    opts: { timeoutMs?: number } = {},
  ): Promise<RequestAnswer<E>> {
    const timeoutMs = opts.timeoutMs ?? this.#timeoutMs;
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new TalkroomError('unavailable', 'the client is closed'));
      this.#raw()
        .timeout(timeoutMs)
        .emit(event, payload, (err: Error | null, ack: Ack<RequestAnswer<E>> | undefined) => {
          if (err) {
            reject(
              new TalkroomError('unavailable', `no answer to ${event} within ${timeoutMs} ms`, {
                timedOut: true,
              }),
            );
          } else if (ack?.ok) resolve(ack.data);
          else reject(toError(ack?.ok === false ? ack.error : undefined, event));
        });
    });
  }

  /** Listens to a server event, typed from the contract; returns the function that stops listening. */
  onServer<E extends BroadcastEvent>(event: E, fn: (payload: BroadcastPayload<E>) => void): () => void {
    const raw = this.#raw();
    const listener = fn as (...args: unknown[]) => void;
    raw.on(event as string, listener);
    return () => raw.off(event as string, listener);
  }

  /** A page of a room's history (oldest first), straight from the server; not part of the `message` stream. */
  history(roomId: string, opts: { beforeSeq?: number; limit?: number } = {}) {
    return this.request('message:history', { roomId, ...opts });
  }

  // ---- the outbox -------------------------------------------------------------------------

  /**
   * Sends a message and resolves with it once the server has stored it. Until
   * then it stays in the outbox under its `clientMsgId` and is sent again after
   * every reconnect (the server answers the stored message for a repeated
   * `clientMsgId`, so it is stored once). Rejects only when the server refuses
   * it (a code other than unavailable, rate_limited, token_expired, internal)
   * or the client is closed.
   */
  send(input: SendInput): Promise<Message> {
    const clientMsgId = input.clientMsgId ?? newId();
    const full = { ...input, clientMsgId } as RequestInput<'message:send'>;
    return new Promise((resolve, reject) => {
      if (this.#closed) return reject(new TalkroomError('unavailable', 'the client is closed'));
      const existing = this.#outbox.get(clientMsgId);
      if (existing) {
        // The same message again: one entry, both callers answered.
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (m) => {
          r0(m);
          resolve(m);
        };
        existing.reject = (e) => {
          j0(e);
          reject(e);
        };
        return;
      }
      this.#outbox.set(clientMsgId, { input: full, inflight: false, resolve, reject });
      this.#flush(clientMsgId);
    });
  }

  /** The sends not yet acknowledged, oldest first (to show as "sending…", or to keep across a page reload). */
  pending(): RequestInput<'message:send'>[] {
    return [...this.#outbox.values()].map((e) => e.input);
  }

  #flush(clientMsgId: string): void {
    const e = this.#outbox.get(clientMsgId);
    if (!e || e.inflight || !this.socket.connected || this.#closed) return;
    e.inflight = true;
    this.request('message:send', e.input).then(
      ({ message }) => {
        this.#outbox.delete(clientMsgId);
        this.#ingest(message, false);
        e.resolve(message);
      },
      (err: TalkroomError) => {
        e.inflight = false;
        if (!RETRYABLE.has(err.code)) {
          this.#outbox.delete(clientMsgId);
          e.reject(err);
          return;
        }
        // Still connected (slow or busy server): try again shortly; otherwise the next connect does.
        if (this.socket.connected) {
          setTimeout(() => this.#flush(clientMsgId), err.code === 'rate_limited' ? 1000 : 200);
        }
      },
    );
  }

  // ---- the message stream ------------------------------------------------------------------

  /**
   * Follows a room: its messages after `lastSeenSeq` reach `message` listeners,
   * caught up now (when connected) and after every reconnect.
   */
  follow(roomId: string, lastSeenSeq = 0): void {
    const r = this.#rooms.get(roomId);
    if (r) return;
    this.#rooms.set(roomId, { seq: lastSeenSeq, held: new Map() });
    if (this.socket?.connected) this.#sync();
  }

  unfollow(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  /** The highest seq of a followed room delivered to the application. */
  lastSeq(roomId: string): number | undefined {
    return this.#rooms.get(roomId)?.seq;
  }

  /**
   * One message into a room's stream. From live events (and acks) a message
   * past a gap is held and a catch-up fills the gap; a `rooms:sync` answer is
   * complete, so a gap in it is a message this reader does not see.
   */
  #ingest(m: Message, complete: boolean): void {
    let r = this.#rooms.get(m.roomId);
    if (!r) {
      // A room not followed yet: followed from this message on.
      r = { seq: m.seq - 1, held: new Map() };
      this.#rooms.set(m.roomId, r);
    }
    if (m.seq <= r.seq || (r.held.has(m.seq) && !complete)) return;
    // A link's socket hears only its session's chat: the seqs between are other messages, not gaps.
    if (this.#linkOnly) {
      r.seq = m.seq;
      this.emit('message', m);
      return;
    }
    if (m.seq === r.seq + 1 || complete) {
      r.held.delete(m.seq);
      r.seq = m.seq;
      this.emit('message', m);
      for (let next = r.held.get(r.seq + 1); next; next = r.held.get(r.seq + 1)) {
        r.held.delete(next.seq);
        r.seq = next.seq;
        this.emit('message', next);
      }
      for (const seq of r.held.keys()) if (seq <= r.seq) r.held.delete(seq);
      return;
    }
    r.held.set(m.seq, m);
    this.#sync();
  }

  /** Catches up every followed room with rooms:sync, page by page; runs once at a time, again if asked meanwhile. */
  #sync(): void {
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    void (async () => {
      try {
        do {
          this.#syncAgain = false;
          await this.#syncOnce();
          // Messages still held came after the server read: their gap fills on another pass.
        } while (this.#syncAgain || [...this.#rooms.values()].some((r) => r.held.size > 0));
        this.emit('caughtUp');
      } catch (e) {
        const err = e instanceof TalkroomError ? e : new TalkroomError('internal', String(e));
        // Not connected: the next connect catches up.
        if (this.socket.connected) this.emit('error', err);
      } finally {
        this.#syncing = false;
      }
    })();
  }

  async #syncOnce(): Promise<void> {
    let todo = [...this.#rooms.keys()];
    while (todo.length && this.socket.connected) {
      const batch = todo.slice(0, SYNC_ROOMS_PER_CALL);
      const cursors = Object.fromEntries(batch.map((id) => [id, this.#rooms.get(id)?.seq ?? 0]));
      let answer: RequestAnswer<'rooms:sync'>;
      try {
        answer = await this.request('rooms:sync', { cursors });
      } catch (e) {
        if (e instanceof TalkroomError && (e.code === 'forbidden' || e.code === 'not_found')) {
          // A room this user no longer sees stops the whole call: keep only the readable ones.
          await this.#dropUnreadable();
          todo = todo.filter((id) => this.#rooms.has(id));
          continue;
        }
        throw e;
      }
      const more: string[] = [];
      for (const id of batch) {
        for (const m of answer.messages[id] ?? []) this.#ingest(m, true);
        if (answer.hasMore[id]) more.push(id);
      }
      todo = [...more, ...todo.slice(SYNC_ROOMS_PER_CALL)];
    }
  }

  async #dropUnreadable(): Promise<void> {
    const { rooms } = await this.request('rooms:list', {});
    const visible = new Set(rooms.map((r) => r.id));
    for (const id of [...this.#rooms.keys()]) if (!visible.has(id)) this.#rooms.delete(id);
  }

  async #followAllRooms(): Promise<void> {
    const { rooms } = await this.request('rooms:list', {});
    for (const room of rooms) if (!this.#rooms.has(room.id)) this.follow(room.id, room.lastSeq);
  }

  // ---- connection and token ------------------------------------------------------------------

  #wire(): void {
    const s = this.socket;
    s.on('connect', () => {
      this.#connectFailures = 0;
      this.#expired = false;
      this.#armRefresh();
      this.emit('connected');
      for (const id of this.#outbox.keys()) this.#flush(id);
      // A join link opens one session, not the room: there is nothing to catch up.
      if (this.#linkOnly) return;
      if (this.#followAll) {
        this.#followAllRooms().then(
          () => this.#sync(),
          (e: TalkroomError) => {
            this.emit('error', e);
            this.#sync();
          },
        );
      } else this.#sync();
    });
    s.on('disconnect', (reason) => {
      clearTimeout(this.#refreshTimer);
      this.emit('disconnected', reason);
      // The server closed the socket because its token ran out: come back with a fresh one.
      if (reason === 'io server disconnect' && this.#expired && this.#o.getToken && !this.#closed) {
        this.#needFresh = true;
        this.#reconnectLater();
      }
    });
    s.on('connect_error', (err: Error & { data?: ErrorBody }) => {
      const code = err.data?.code;
      if (!code) return; // a transport failure: Socket.IO retries on its own
      // The server refused the handshake: Socket.IO does not retry that by itself.
      this.emit('error', toError(err.data, 'connect'));
      if ((code === 'unauthenticated' || code === 'token_expired') && this.#o.getToken) {
        this.#needFresh = true;
        this.#reconnectLater();
      } else if (code === 'rate_limited' || code === 'unavailable' || code === 'internal') {
        this.#reconnectLater();
      }
    });
    s.on('auth:expired', () => {
      this.#expired = true;
    });
    s.on('message:new', (m) => this.#ingest(m, false));
    s.on('room:opened', ({ roomId }) => this.follow(roomId, 0));
  }

  #reconnectLater(): void {
    clearTimeout(this.#retryTimer);
    const delay = Math.min(30_000, 250 * 2 ** this.#connectFailures++);
    this.#retryTimer = setTimeout(() => {
      if (!this.#closed && !this.socket.connected) this.socket.connect();
    }, delay);
  }

  /** The token for a handshake: a fresh one when the last was refused or is about to expire. */
  async #handshakeToken(): Promise<string | undefined> {
    const get = this.#o.getToken;
    if (!get) return this.#token;
    const exp = this.#token ? tokenExpiry(this.#token) : null;
    const soon = exp !== null && exp - Date.now() < this.#margin(exp);
    if (!this.#token || this.#needFresh || soon) {
      this.#token = await get();
      this.#needFresh = false;
    }
    return this.#token;
  }

  #margin(exp: number): number {
    const left = exp - Date.now();
    return Math.min(this.#o.refreshMarginMs ?? 60_000, Math.max(0, left / 3));
  }

  /** Refreshes the token on the open socket (`auth:refresh`) a margin before it expires. */
  #armRefresh(): void {
    clearTimeout(this.#refreshTimer);
    const get = this.#o.getToken;
    const exp = this.#token ? tokenExpiry(this.#token) : null;
    if (!get || exp === null || this.#closed) return;
    const wait = Math.max(0, exp - Date.now() - this.#margin(exp));
    // Timers fire at once past 2^31-1 ms; a long-lived token re-arms instead.
    this.#refreshTimer = setTimeout(() => void this.#refresh(), Math.min(wait, 2_147_483_647));
  }

  async #refresh(): Promise<void> {
    const exp = this.#token ? tokenExpiry(this.#token) : null;
    if (exp !== null && exp - Date.now() > this.#margin(exp) + 1000) return this.#armRefresh();
    try {
      const token = await this.#o.getToken!();
      const { expiresAt } = await this.request('auth:refresh', { token });
      this.#token = token;
      this.emit('tokenRefreshed', expiresAt);
      this.#armRefresh();
    } catch (e) {
      this.emit('error', e instanceof TalkroomError ? e : new TalkroomError('unavailable', String(e)));
      // Try again soon while the old token lasts; past it, the server closes and the reconnect takes a new one.
      if (this.socket.connected) this.#refreshTimer = setTimeout(() => void this.#refresh(), 1000);
    }
  }

  /**
   * A new platform token from the application (a platform that pushes tokens instead of being asked
   * through `getToken`): used for the next handshake, and sent now as `auth:refresh` when connected.
   */
  async setToken(token: string): Promise<void> {
    if (!this.socket.connected) {
      this.#token = token;
      return;
    }
    const { expiresAt } = await this.request('auth:refresh', { token });
    // Kept only once the server took it: a refused token is not the next handshake's.
    this.#token = token;
    this.emit('tokenRefreshed', expiresAt);
    this.#armRefresh();
  }

  /** Closes the connection for good; unsent messages are rejected (`pending()` still lists them). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#retryTimer);
    this.socket.disconnect();
    for (const e of this.#outbox.values()) e.reject(new TalkroomError('unavailable', 'the client is closed'));
  }

  /** The socket without its event maps, for the SDK's own generic plumbing (the public methods are typed). */
  #raw(): Socket {
    return this.socket as unknown as Socket;
  }
}

function toError(body: ErrorBody | undefined, event: string): TalkroomError {
  const code = body && Object.hasOwn(ERROR_CODES, body.code) ? body.code : ('internal' as ErrorCode);
  return new TalkroomError(code, body?.message ?? `malformed answer to ${event}`);
}

/** A clientMsgId: random, so two devices of one user never collide. */
function newId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

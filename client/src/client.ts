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
import { TalkroomError } from './errors.ts';
import { Outbox, type SendInput } from './outbox.ts';
import { MessageStream } from './stream.ts';
import { tokenExpiry } from './token.ts';

export type { SendInput } from './outbox.ts';

export type TypedSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

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
  readonly #outbox: Outbox;
  readonly #stream: MessageStream;

  constructor(o: TalkroomClientOptions) {
    super();
    this.#o = o;
    this.#timeoutMs = o.requestTimeoutMs ?? 15_000;
    this.#token = o.token;
    this.#outbox = new Outbox({
      send: (input) => this.request('message:send', input).then((a) => a.message),
      open: () => this.socket.connected && !this.#closed,
      closed: () => this.#closed,
      stored: (m) => this.#stream.ingest(m, false),
    });
    this.#stream = new MessageStream(
      {
        request: (event, payload) => this.request(event, payload),
        // follow() runs in here before the socket exists.
        connected: () => this.socket?.connected ?? false,
        message: (m) => this.emit('message', m),
        caughtUp: () => this.emit('caughtUp'),
        failed: (e) => this.emit('error', e),
      },
      // Signed in with a join link only: one session's live events and chat, no room to follow.
      { followAll: o.rooms === 'all', linkOnly: Boolean(o.joinToken) && !o.token && !o.getToken },
    );
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
    return this.#outbox.add(input);
  }

  /** The sends not yet acknowledged, oldest first (to show as "sending…", or to keep across a page reload). */
  pending(): RequestInput<'message:send'>[] {
    return this.#outbox.pending();
  }

  // ---- the message stream ------------------------------------------------------------------

  /**
   * Follows a room: its messages after `lastSeenSeq` reach `message` listeners,
   * caught up now (when connected) and after every reconnect.
   */
  follow(roomId: string, lastSeenSeq = 0): void {
    this.#stream.follow(roomId, lastSeenSeq);
  }

  unfollow(roomId: string): void {
    this.#stream.unfollow(roomId);
  }

  /** The highest seq of a followed room delivered to the application. */
  lastSeq(roomId: string): number | undefined {
    return this.#stream.lastSeq(roomId);
  }

  // ---- connection and token ------------------------------------------------------------------

  #wire(): void {
    const s = this.socket;
    s.on('connect', () => {
      this.#connectFailures = 0;
      this.#expired = false;
      this.#armRefresh();
      this.emit('connected');
      this.#outbox.flushAll();
      this.#stream.reconnected();
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
    s.on('message:new', (m) => this.#stream.ingest(m, false));
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
    this.#outbox.rejectAll();
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

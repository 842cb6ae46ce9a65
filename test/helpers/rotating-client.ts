import {
  isTalkroomError,
  type Message,
  type RequestAnswer,
  type RequestEvent,
  type RequestInput,
  TalkroomClient,
} from '@talkroom/client';
import type { Ack } from '../../protocol/index.ts';

/**
 * A messaging client as an app behind a load balancer is: the SDK
 * (@talkroom/client) with its default transports (long-polling first, then
 * WebSocket), reconnecting by itself when its node goes away. Its outbox
 * resends what was not acknowledged with the same clientMsgId, its catch-up
 * (rooms:sync) fills what it missed, and getToken supplies its tokens.
 * socket.io-client only reconnects to the URL it started with, so this client
 * does what a load balancer would: before each reconnection attempt it moves
 * to the next node of the current list.
 */
export class RotatingClient {
  readonly name: string;
  readonly sdk: TalkroomClient;
  /** Every message of its rooms the SDK handed it, by room and seq. */
  readonly seen = new Map<string, Map<number, Message>>();
  /** clientMsgId → the stored message's place, once acknowledged. */
  readonly acked = new Map<string, { roomId: string; seq: number }>();
  /** The URL of every connection it made, the first included. */
  readonly connections: string[] = [];
  /** Every live:join answer, in order (failures included). */
  readonly joins: Ack<RequestAnswer<'live:join'>>[] = [];
  /** The session's state as this client last heard it: its join answer, then live:started / live:ended. */
  liveStatus: 'waiting' | 'in_progress' | 'ended' | undefined;
  readonly #urls: () => string[];
  #at: number;
  readonly #waiters = new Set<() => void>();
  /** The live session it takes part in, rejoined on every connection and on live:rejoin. */
  #live: RequestInput<'live:join'> | undefined;

  constructor(o: {
    name: string;
    getToken: () => string;
    rooms: string[];
    urls: () => string[];
    start: number;
  }) {
    this.name = o.name;
    this.#urls = o.urls;
    this.#at = o.start;
    for (const roomId of o.rooms) this.seen.set(roomId, new Map());
    this.sdk = new TalkroomClient({
      url: this.#url(),
      getToken: o.getToken,
      rooms: Object.fromEntries(o.rooms.map((id) => [id, 0])),
      requestTimeoutMs: 20_000,
      // forceNew: several clients in one test process must not share a connection.
      socket: { forceNew: true },
    });
    const manager = this.sdk.socket.io;
    manager.on('reconnect_attempt', () => {
      this.#at++;
      // The Manager opens its next engine on this URI.
      (manager as unknown as { uri: string }).uri = this.#url();
    });
    this.sdk.on('connected', () => {
      this.connections.push(this.#url());
      this.#notify();
      this.#join();
    });
    this.sdk.on('message', (m) => this.#see(m));
    this.sdk.onServer('live:rejoin', () => this.#join());
    this.sdk.onServer('live:started', () => {
      this.liveStatus = 'in_progress';
      this.#notify();
    });
    this.sdk.onServer('live:ended', () => {
      this.liveStatus = 'ended';
      this.#notify();
    });
  }

  get socket() {
    return this.sdk.socket;
  }

  /** Sends a request and answers its acknowledgement (an error answer as one, not thrown). */
  async ack<E extends RequestEvent>(
    event: E,
    payload: RequestInput<E>,
    timeoutMs?: number,
  ): Promise<Ack<RequestAnswer<E>>> {
    try {
      return { ok: true, data: await this.sdk.request(event, payload, timeoutMs ? { timeoutMs } : {}) };
    } catch (e) {
      if (!isTalkroomError(e)) throw e;
      return { ok: false, error: { code: e.code, message: e.message } };
    }
  }

  /** Takes part in a live session: joins now, and again after every reconnection or live:rejoin. */
  live(bookingId: string, transports: Array<'send' | 'recv'> = []): void {
    this.#live = { bookingId, transports };
    this.#join();
  }

  #join(): void {
    const live = this.#live;
    if (!live || !this.sdk.socket.connected) return;
    void this.ack('live:join', live).then((ack) => {
      this.joins.push(ack);
      if (ack.ok) this.liveStatus = ack.data.status;
      this.#notify();
      // The session's media was still being moved off a node that stopped: ask again.
      if (!ack.ok && ack.error.code === 'media_unavailable') setTimeout(() => this.#join(), 200);
    });
  }

  #url(): string {
    const urls = this.#urls();
    return urls[this.#at % urls.length]!;
  }

  #see(m: Message): void {
    let room = this.seen.get(m.roomId);
    if (!room) {
      room = new Map();
      this.seen.set(m.roomId, room);
    }
    room.set(m.seq, m);
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Sends a text and resolves once it is acknowledged, however many nodes that takes (the SDK's outbox). */
  async send(roomId: string, clientMsgId: string, text: string): Promise<void> {
    const m = await this.sdk.send({ roomId, clientMsgId, kind: 'text', text });
    this.acked.set(clientMsgId, { roomId: m.roomId, seq: m.seq });
    this.#notify();
  }

  /** Sends not yet acknowledged. */
  get pending(): number {
    return this.sdk.pending().length;
  }

  /** Resolves when `check` holds (re-checked on every event this client sees); rejects after a bound. */
  until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = () => {
        if (!check()) return;
        this.#waiters.delete(test);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(test);
        reject(new Error(`${this.name}: not ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(test);
      test();
    });
  }

  close(): void {
    this.sdk.close();
  }
}

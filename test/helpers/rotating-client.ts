import { io, type Socket } from 'socket.io-client';
import type { Ack, RequestAnswer } from '../../protocol/index.ts';

/**
 * A messaging client as an app behind a load balancer is: socket.io-client
 * with its default options (long-polling first, then WebSocket; reconnection
 * on), reconnecting by itself when its node goes away. socket.io-client only
 * reconnects to the URL it started with, so this client does what a load
 * balancer would: before each reconnection attempt it moves to the next node
 * of the current list. On every (re)connection it resends what was not
 * acknowledged, with the same clientMsgId, and catches up with rooms:sync.
 */
export class RotatingClient {
  readonly name: string;
  readonly socket: Socket;
  /** Every message of its rooms it has seen, by room and seq (message:new and rooms:sync). */
  readonly seen = new Map<string, Map<number, { clientMsgId?: string; senderId: string }>>();
  /** clientMsgId → the stored message's seq, once acknowledged. */
  readonly acked = new Map<string, { roomId: string; seq: number }>();
  /** Sends not yet acknowledged: resent on every connection until they are. */
  readonly #pending = new Map<string, { payload: Record<string, unknown>; resolve: () => void }>();
  readonly #urls: () => string[];
  #at: number;
  /** How many times it connected (the first included), and to which URLs. */
  readonly connections: string[] = [];
  #waiters = new Set<() => void>();
  /** The live session it takes part in, rejoined on every connection and on live:rejoin. */
  #live: { bookingId: string; transports: string[] } | undefined;
  /** Every live:join answer, in order (failures included). */
  readonly joins: Ack<RequestAnswer<'live:join'>>[] = [];
  /** The session's state as this client last heard it: its join answer, then live:started / live:ended. */
  liveStatus: 'waiting' | 'in_progress' | 'ended' | undefined;

  constructor(o: { name: string; token: string; rooms: string[]; urls: () => string[]; start: number }) {
    this.name = o.name;
    for (const roomId of o.rooms) this.seen.set(roomId, new Map());
    this.#urls = o.urls;
    this.#at = o.start;
    // forceNew: several clients in one test process must not share a connection.
    this.socket = io(this.#url(), { auth: { token: o.token }, forceNew: true });
    this.socket.io.on('reconnect_attempt', () => {
      this.#at++;
      // The Manager opens its next engine on this URI.
      (this.socket.io as unknown as { uri: string }).uri = this.#url();
    });
    this.socket.on('connect', () => {
      this.connections.push(this.#url());
      this.#notify();
      void this.#recover();
    });
    this.socket.on('message:new', (m: any) => this.#see(m));
    this.socket.on('live:rejoin', () => this.#join());
    this.socket.on('live:started', () => {
      this.liveStatus = 'in_progress';
      this.#notify();
    });
    this.socket.on('live:ended', () => {
      this.liveStatus = 'ended';
      this.#notify();
    });
  }

  /** Takes part in a live session: joins now, and again after every reconnection or live:rejoin. */
  live(bookingId: string, transports: string[] = []): void {
    this.#live = { bookingId, transports };
    this.#join();
  }

  #join(): void {
    const live = this.#live;
    if (!live || !this.socket.connected) return;
    this.socket.emit('live:join', live, (ack: Ack<RequestAnswer<'live:join'>>) => {
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

  #see(m: { roomId: string; seq: number; clientMsgId?: string; senderId: string }): void {
    let room = this.seen.get(m.roomId);
    if (!room) {
      room = new Map();
      this.seen.set(m.roomId, room);
    }
    room.set(m.seq, { clientMsgId: m.clientMsgId, senderId: m.senderId });
    this.#notify();
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resends every unacknowledged message, then asks for what it missed. */
  async #recover(): Promise<void> {
    this.#join();
    for (const [clientMsgId, p] of this.#pending) this.#emit(clientMsgId, p.payload);
    const cursors = Object.fromEntries(
      [...this.seen].map(([roomId, msgs]) => [roomId, contiguousTop(msgs)] as const),
    );
    this.socket.emit('rooms:sync', { cursors }, (ack: Ack<RequestAnswer<'rooms:sync'>>) => {
      if (!ack.ok) return; // a draining node: the next connection asks again
      for (const msgs of Object.values(ack.data.messages)) for (const m of msgs) this.#see(m);
    });
  }

  #emit(clientMsgId: string, payload: Record<string, unknown>): void {
    if (!this.socket.connected) return; // sent on the next connection
    this.socket.emit('message:send', payload, (ack: Ack<RequestAnswer<'message:send'>>) => {
      const p = this.#pending.get(clientMsgId);
      if (!p) return; // acknowledged already (an earlier copy)
      // `unavailable` (a draining node) and the like: resent on the next connection.
      if (!ack.ok) return;
      this.#pending.delete(clientMsgId);
      this.acked.set(clientMsgId, { roomId: ack.data.message.roomId, seq: ack.data.message.seq });
      this.#see(ack.data.message);
      p.resolve();
    });
  }

  /** Sends a text and resolves once it is acknowledged, however many nodes that takes. */
  send(roomId: string, clientMsgId: string, text: string): Promise<void> {
    return new Promise((resolve) => {
      const payload = { roomId, clientMsgId, kind: 'text', text };
      this.#pending.set(clientMsgId, { payload, resolve });
      this.#emit(clientMsgId, payload);
    });
  }

  get pending(): number {
    return this.#pending.size;
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
    this.socket.disconnect();
  }
}

/** The highest seq up to which a room's messages have all been seen (0: none). */
function contiguousTop(msgs: Map<number, unknown>): number {
  let top = 0;
  while (msgs.has(top + 1)) top++;
  return top;
}

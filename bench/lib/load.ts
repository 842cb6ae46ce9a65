/**
 * The messaging load generator: rooms of two sockets, `message:send` from one member until the OTHER
 * member's socket has the `message:new`, open loop (a fixed rate) or closed loop (N in flight per room).
 *
 * Its sockets speak the contract's events, typed from protocol/, but not through @talkroom/client: the
 * figures are the server's own, without the SDK's outbox, ordering and catch-up bookkeeping on the client
 * side (a real client pays that on its own device), and one process must drive thousands of sockets.
 */
import { randomBytes } from 'node:crypto';
import { io as connectSocket, type Socket as IoSocket } from 'socket.io-client';
import type { Ack } from '../../protocol/errors.ts';
import type { ClientToServerEvents, RequestAnswer, ServerToClientEvents } from '../../protocol/events.ts';
import type { RoomSpec } from './rooms.ts';
import { mapLimit, now, sleep } from './util.ts';

export type Socket = IoSocket<ServerToClientEvents, ClientToServerEvents>;

export const TEXT =
  'Thanks for checking in. This week was a bit better; the breathing exercise helped before work.';
/** A message with no ack after this long counts as timed out (and frees its closed-loop slot). */
const ACK_TIMEOUT_MS = 15_000;
/** Open loop: a backlog this large means the server cannot keep up with the offered rate; stop offering. */
const BACKLOG_LIMIT = 5000;

interface Pair {
  roomId: string;
  sockets: [Socket, Socket];
  /** Which member sends next: the two alternate. */
  next: 0 | 1;
}

interface Pending {
  t0: number;
  from: Socket;
  phase: Phase;
  acked: boolean;
  delivered: boolean;
  onAcked: (() => void) | undefined;
}

export class Phase {
  sent = 0;
  ackedOk = 0;
  ackErrors: Record<string, number> = {};
  timeouts = 0;
  delivered = 0;
  outstanding = 0;
  /** Open loop only: the backlog passed BACKLOG_LIMIT, so offering stopped early. */
  saturated = false;
  /** How long messages were offered, in seconds. */
  offeredSeconds = 0;
  /** Samples are kept only while recording (the measured window). */
  recording = true;
  rtt: number[] = [];
  ack: number[] = [];
  get errors(): number {
    return Object.values(this.ackErrors).reduce((a, b) => a + b, 0);
  }
}

/** Connects one socket as a member of a room; rejects with the server's reason. */
export function connectMember(url: string, token: string, room: string, timeout = 20_000): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const s: Socket = connectSocket(url, {
      auth: { token, room },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout,
    });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (e) => {
      s.close();
      reject(new Error(`socket connect failed: ${e.message}`));
    });
  });
}

export class LoadGenerator {
  readonly pairs: Pair[] = [];
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  readonly #prefix = randomBytes(4).toString('hex');
  #sweeper: NodeJS.Timeout | undefined;
  closing = false;
  unexpectedDisconnects: Record<string, number> = {};

  /** Member 0 of room i on node i mod N, member 1 on node (i+1) mod N: different nodes when N > 1. */
  async connect(urls: string[], rooms: RoomSpec[], concurrency = 50): Promise<void> {
    const n = urls.length;
    const pairs: Pair[] = new Array(rooms.length);
    await mapLimit(rooms, concurrency, async (r, i) => {
      const a = await connectMember(urls[i % n]!, r.tokens[0], r.roomId);
      const b = await connectMember(urls[(i + 1) % n]!, r.tokens[1], r.roomId);
      pairs[i] = { roomId: r.roomId, sockets: [a, b], next: (i % 2) as 0 | 1 };
      for (const s of [a, b]) this.#wire(s);
    });
    this.pairs.push(...pairs);
    this.#sweeper = setInterval(() => this.#sweep(), 1000);
  }

  get disconnects(): number {
    return Object.values(this.unexpectedDisconnects).reduce((a, b) => a + b, 0);
  }

  #wire(s: Socket): void {
    s.on('message:new', (m) => {
      const id = m?.clientMsgId;
      const p = id ? this.#pending.get(id) : undefined;
      // talkroom also tells the sender's own socket; only the other member's copy counts.
      if (!id || !p || p.from === s || p.delivered) return;
      p.delivered = true;
      p.phase.delivered++;
      if (p.phase.recording) p.phase.rtt.push(now() - p.t0);
      if (p.acked) this.#settle(id, p);
    });
    s.on('disconnect', (reason) => {
      if (!this.closing) this.unexpectedDisconnects[reason] = (this.unexpectedDisconnects[reason] ?? 0) + 1;
    });
  }

  #settle(id: string, p: Pending): void {
    this.#pending.delete(id);
    p.phase.outstanding--;
  }

  send(pair: Pair, phase: Phase, onAcked?: () => void): void {
    const from = pair.sockets[pair.next];
    pair.next = pair.next === 0 ? 1 : 0;
    const id = `${this.#prefix}-${++this.#seq}`;
    const p: Pending = { t0: now(), from, phase, acked: false, delivered: false, onAcked };
    this.#pending.set(id, p);
    phase.sent++;
    phase.outstanding++;
    from.emit(
      'message:send',
      { roomId: pair.roomId, clientMsgId: id, kind: 'text', text: TEXT },
      (res: Ack<RequestAnswer<'message:send'>>) => {
        if (p.acked || this.#pending.get(id) !== p) return; // already timed out
        p.acked = true;
        if (res?.ok) {
          phase.ackedOk++;
          if (phase.recording) phase.ack.push(now() - p.t0);
          if (p.delivered) this.#settle(id, p);
        } else {
          const code = res?.error?.code ?? 'malformed_ack';
          phase.ackErrors[code] = (phase.ackErrors[code] ?? 0) + 1;
          this.#settle(id, p); // nothing will be delivered
        }
        p.onAcked?.();
      },
    );
  }

  /** Gives up on messages without an ack after ACK_TIMEOUT_MS, so closed-loop slots never stall for good. */
  #sweep(): void {
    const limit = now() - ACK_TIMEOUT_MS;
    for (const [id, p] of this.#pending) {
      if (p.acked || p.t0 > limit) continue;
      p.acked = true;
      p.phase.timeouts++;
      this.#settle(id, p);
      p.onAcked?.();
    }
  }

  /** Waits until every message of the phase is acked and delivered, or `limitMs` passed; returns those lost. */
  async drain(phase: Phase, limitMs: number): Promise<number> {
    const until = now() + limitMs;
    while (phase.outstanding > 0 && now() < until) await sleep(20);
    let lost = 0;
    for (const [id, p] of this.#pending) {
      if (p.phase !== phase) continue;
      lost++;
      this.#pending.delete(id);
    }
    phase.outstanding = 0;
    return lost;
  }

  /** Open loop: `rate` messages/s round-robin over the rooms for `seconds`; returns before draining. */
  async openLoop(phase: Phase, rate: number, seconds: number): Promise<void> {
    const total = Math.round(rate * seconds);
    const start = now();
    let i = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((now() - start) / 1000) * rate));
        while (i < due && phase.outstanding < BACKLOG_LIMIT)
          this.send(this.pairs[i++ % this.pairs.length]!, phase);
        if (phase.outstanding >= BACKLOG_LIMIT) phase.saturated = true;
        if (i >= total || phase.saturated) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    phase.offeredSeconds = (now() - start) / 1000;
    // More than half a second of offered messages still unanswered: the server fell behind.
    if (phase.outstanding > Math.max(50, rate / 2)) phase.saturated = true;
  }

  /** Closed loop: every room keeps `inflight` messages outstanding (a slot sends again on its ack) until stopped. */
  closedLoop(phase: Phase, inflight: number): () => void {
    let stopping = false;
    const slot = (pair: Pair) => {
      const again = () => {
        if (!stopping) this.send(pair, phase, again);
      };
      return again;
    };
    for (const pair of this.pairs) for (let k = 0; k < inflight; k++) slot(pair)();
    return () => {
      stopping = true;
    };
  }

  close(): void {
    this.closing = true;
    clearInterval(this.#sweeper);
    for (const p of this.pairs) for (const s of p.sockets) s.disconnect();
    this.pairs.length = 0;
    this.#pending.clear();
  }
}

/** How a run drove the load generator, as its results file records it. */
export const loadConfig = (
  rooms: number,
  rate: number,
  seconds: number,
  warmup: number,
  ramp: number,
  inflight: number,
) => ({
  rooms,
  sockets: rooms * 2,
  latencyRatePerSecond: rate,
  windowSeconds: seconds,
  warmupSeconds: warmup,
  rampSeconds: ramp,
  inflightPerRoom: inflight,
});

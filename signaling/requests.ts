import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { z } from 'zod';
import { requests } from '../protocol/events.ts';
import { sendMessageSchema } from '../protocol/inputs.ts';
import type { Clock } from '../src/clock.ts';
import { AppError, toPublicError } from '../src/errors.ts';
import { handshakeRequestId } from '../src/http/access-log.ts';
import type { InFlight } from '../src/inflight.ts';
import type { Logger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import { parse } from '../src/parse.ts';
import { withRequestId } from '../src/request-context.ts';
import type { LiveService } from '../src/services/live.ts';
import type { Ack, Handle, IoSocket, RequestEvent } from './events.ts';
import { checkJoinScope } from './join-scope.ts';
import { attachLiveHandlers } from './live.ts';

/**
 * The largest request a socket may send, in characters of its encoded packet.
 * Text is capped at 10,000 characters and every field has a bound, so nothing
 * legitimate comes near it; a request over it is answered `payload_too_large`.
 */
export const MAX_REQUEST_CHARS = 256 * 1024;

export interface RequestTableDeps {
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  inflight: InFlight;
  live: LiveService;
  messageMaxChars: number;
  /** Request events per second per user, over all their sockets. */
  rateLimit: number;
  /** Closes a socket whose token ran out (a request is checked itself, whatever the timer did). */
  expire: (socket: IoSocket) => void;
}

/** One request handler: who is asking is read from the socket it is given. */
type Handler = (input: unknown, socket: IoSocket) => Promise<unknown>;
interface Entry {
  schema: z.ZodType;
  fn: Handler;
}

/**
 * The socket requests: one table of handlers for every socket, reached from one
 * listener function that takes its socket as `this` (Socket.IO's onAny), so an
 * idle socket holds no closure per event (issue 14, P3: heap per idle socket).
 * Each request is rate-limited per user, validated with the contract's input
 * schema for its event, checked against a join link's scope, answered with the
 * one ack shape and counted in flight.
 */
export class RequestTable {
  readonly #d: RequestTableDeps;
  readonly #entries = new Map<string, Entry>();
  readonly #limiter: RateLimiterMemory;
  readonly #sendSchema: z.ZodType;
  /** The contract's request events live.ts serves. */
  readonly #liveEvents = new Set(Object.keys(requests).filter((e) => e.startsWith('live:')));
  /** live.ts's handlers close over their socket: made on its first live request, so only sockets in a session hold them. */
  readonly #liveEntries = new WeakMap<IoSocket, Map<string, Entry>>();
  /**
   * The size of the packet being read. Socket.IO decodes it and hands its event to
   * the listener on the next tick, before any other connection's input is read, so
   * this is that connection's latest packet (in a batch — a long-polling payload,
   * frames read at once — the last one's).
   */
  #packetChars = 0;

  /**
   * Every event of every socket (Socket.IO calls it with the socket as `this`).
   * Nothing is registered per event, so Socket.IO's own emit of the event, which
   * follows, reaches no listener.
   */
  readonly #onRequest: (this: IoSocket, event: unknown, ...args: unknown[]) => void;

  constructor(d: RequestTableDeps) {
    this.#d = d;
    this.#limiter = new RateLimiterMemory({ points: d.rateLimit, duration: 1 });
    this.#sendSchema = sendMessageSchema(d.messageMaxChars);
    const table = this;
    this.#onRequest = function (event, ...args) {
      table.#arrived(this, event, args);
    };
  }

  /** Registers a request event's handler for every socket. */
  readonly handle: Handle = (event, fn) => {
    this.#entries.set(event, this.#entry(event, fn as Handler));
  };

  /** Serves a signed-in socket's requests. */
  listen(socket: IoSocket): void {
    socket.conn.on('packet', this.#notePacket);
    socket.onAny(this.#onRequest);
  }

  // The contract's schema per event; the message text limit is a setting.
  #entry(event: RequestEvent, fn: Handler): Entry {
    return { schema: event === 'message:send' ? this.#sendSchema : requests[event].input, fn };
  }

  #liveEntry(socket: IoSocket, event: string): Entry | undefined {
    let own = this.#liveEntries.get(socket);
    if (!own) {
      const made = new Map<string, Entry>();
      const handle: Handle = (e, fn) => {
        made.set(e, this.#entry(e, fn as Handler));
      };
      attachLiveHandlers(socket, handle, this.#d.live, this.#d.log);
      this.#liveEntries.set(socket, made);
      own = made;
    }
    return own.get(event);
  }

  readonly #notePacket = (p: { type: string; data?: unknown }): void => {
    if (p.type === 'message') this.#packetChars = typeof p.data === 'string' ? p.data.length : 0;
  };

  /** Refused with an answer when too large or unknown, else served. */
  #arrived(socket: IoSocket, event: unknown, args: unknown[]): void {
    const d = this.#d;
    d.inflight.arrived();
    const known = typeof event === 'string' && (this.#entries.has(event) || this.#liveEvents.has(event));
    const ack = args.at(-1);
    const refuse = (code: 'payload_too_large' | 'not_found', message: string) => {
      d.metrics.socketRequests.inc({ event: known ? event : '(unknown)', outcome: code });
      if (typeof ack === 'function') ack({ ok: false, error: { code, message } } satisfies Ack<never>);
    };
    const chars = this.#packetChars;
    if (chars > MAX_REQUEST_CHARS) {
      refuse('payload_too_large', `payload: ${chars} characters; at most ${MAX_REQUEST_CHARS}`);
      return;
    }
    const found = known ? (this.#entries.get(event) ?? this.#liveEntry(socket, event)) : undefined;
    if (!found) {
      refuse('not_found', `no such event: ${printable(event)}`);
      return;
    }
    this.#serve(socket, event as RequestEvent, found, args).catch((e: unknown) =>
      d.log.error({ err: e, event, userId: socket.data.identity.id }, 'socket request failed'),
    );
  }

  async #serve(socket: IoSocket, event: RequestEvent, found: Entry, args: unknown[]): Promise<void> {
    const d = this.#d;
    // The ack is always the last argument; a request without a payload sends only the ack.
    const ack = args.length > 1 ? args.at(-1) : typeof args[0] === 'function' ? args[0] : undefined;
    const payload = typeof args[0] === 'function' ? undefined : args[0];
    const reply = typeof ack === 'function' ? (ack as (r: Ack<unknown>) => void) : () => {};
    const me = socket.data.identity;
    // The expiry timer may not have fired yet (or the clock jumped): a request is checked itself.
    if (me.expiresAt <= d.clock.now().getTime()) {
      reply({
        ok: false,
        error: { code: 'token_expired', message: 'the token expired; reconnect with a new one' },
      });
      d.expire(socket);
      return;
    }
    if (d.inflight.draining) {
      reply({
        ok: false,
        error: { code: 'unavailable', message: 'the server is shutting down; reconnect' },
      });
      return;
    }
    // The acknowledgement is part of the in-flight work, so a shutdown waits until it is sent.
    await withRequestId(handshakeRequestId(socket.request), () =>
      d.inflight.run(async () => {
        let outcome = 'ok';
        try {
          await consume(this.#limiter, me.id);
          // Parsed by the contract's schema for this very event, so it is the handler's input.
          const input = parse(found.schema, payload, 'payload');
          if (socket.data.joinScope) checkJoinScope(event, input, socket.data.joinScope);
          reply({ ok: true, data: await found.fn(input, socket) });
        } catch (e) {
          const error = toPublicError(e);
          outcome = error.code;
          if (error.code === 'internal')
            d.log.error({ err: e, event, userId: me.id }, 'socket handler failed');
          reply({ ok: false, error });
        } finally {
          d.metrics.socketRequests.inc({ event, outcome });
        }
      }),
    );
  }
}

async function consume(limiter: RateLimiterMemory, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch {
    throw new AppError('rate_limited', 'too many requests from this user; slow down');
  }
}

/** An event name as it may appear in an answer: short, printable, never the client's whole payload. */
const printable = (event: unknown): string =>
  typeof event === 'string' ? JSON.stringify(event.slice(0, 64).replace(/[^\x20-\x7e]/g, '?')) : typeof event;

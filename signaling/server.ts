import type { Server as HttpServer } from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { Server, type Socket } from 'socket.io';
import type { z } from 'zod';
import { requests } from '../protocol/events.ts';
import { sendMessageSchema } from '../protocol/inputs.ts';
import type { AddressLimiter } from '../src/auth/address-limiter.ts';
import { bearerToken, type Identity, type TokenVerifier } from '../src/auth/tokens.ts';
import type { Clock } from '../src/clock.ts';
import { AppError, toPublicError } from '../src/errors.ts';
import { handshakeRequestId } from '../src/http/access-log.ts';
import type { InFlight } from '../src/inflight.ts';
import type { Logger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import { parse } from '../src/parse.ts';
import { withRequestId } from '../src/request-context.ts';
import type { JoinAccess } from '../src/services/join-access.ts';
import type { LiveService } from '../src/services/live.ts';
import type { MessageService } from '../src/services/messages.ts';
import type { PresenceStore } from '../src/services/presence.ts';
import type { RoomService } from '../src/services/rooms.ts';
import {
  type Ack,
  channel,
  type Handle,
  type IoSocket,
  type RequestEvent,
  type RequestInput,
} from './events.ts';
import { checkJoinScope } from './join-scope.ts';
import { attachLiveHandlers } from './live.ts';
import type { IoServer } from './room-events.ts';

// Where the socket and handler types live; re-exported for the contract's type tests.
export type { Handle, IoSocket } from './events.ts';

export interface RedisPair {
  pub: unknown;
  sub: unknown;
  prefix: string;
  /** classic: one channel every node hears; sharded: Redis 7 sharded pub/sub, a channel per room. */
  adapter: 'classic' | 'sharded';
}

/**
 * The largest request a socket may send, in characters of its encoded packet.
 * Text is capped at 10,000 characters and every field has a bound, so nothing
 * legitimate comes near it; a request over it is answered `payload_too_large`.
 */
export const MAX_REQUEST_CHARS = 256 * 1024;
/**
 * What the transport itself accepts. Between the two the request is read and
 * answered with a code; past this, engine.io closes the connection (WebSocket
 * close code 1009), as there is no packet to answer.
 */
const MAX_TRANSPORT_BYTES = 1024 * 1024;

/** Creates the Socket.IO server (transport only); handlers are attached once the services exist. */
export function createIo(
  /** Without one, attach it with io.attach(http) once the HTTP app listens on it. */
  http: HttpServer | undefined,
  redis: RedisPair | undefined,
  addresses?: AddressLimiter,
  corsOrigins: string[] = [],
): IoServer {
  const io: IoServer = new Server(http, {
    maxHttpBufferSize: MAX_TRANSPORT_BYTES,
    // Browsers on CORS_ORIGINS may long-poll from their page (WebSocket has no CORS).
    ...(corsOrigins.length ? { cors: { origin: corsOrigins, methods: ['GET', 'POST'] } } : {}),
    pingInterval: 20_000,
    pingTimeout: 20_000,
    // New engine.io sessions are throttled per address, before any token is read.
    allowRequest: (req, done) => {
      if (!addresses) return done(null, true);
      void addresses.connect(req.socket.remoteAddress ?? 'unknown').then((ok) => {
        done(ok ? null : 'rate_limited', ok);
      });
    },
  });
  if (redis?.adapter === 'sharded') {
    // 'dynamic': a room's channel is subscribed only while the room has members on this node.
    io.adapter(
      createShardedAdapter(redis.pub, redis.sub, {
        channelPrefix: `${redis.prefix}#sio`,
        subscriptionMode: 'dynamic',
      }),
    );
  } else if (redis) io.adapter(createAdapter(redis.pub, redis.sub, { key: `${redis.prefix}#io` }));
  return io;
}

export interface SignalingDeps {
  io: IoServer;
  verifier: TokenVerifier;
  joinAccess: JoinAccess;
  rooms: RoomService;
  messages: MessageService;
  live: LiveService;
  presence: PresenceStore;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  inflight: InFlight;
  messageMaxChars: number;
  /** Request events per second per user, over all their sockets. */
  rateLimit: number;
  /** Open sockets per user on this node. */
  maxSocketsPerUser: number;
  /** Throttles failed sign-ins by network address. */
  addressLimiter: AddressLimiter;
}

// setTimeout fires at once for delays above 2^31-1 ms; long-lived tokens re-arm.
const MAX_TIMER_MS = 2_147_483_647;

/**
 * Wires the socket events to the services. Holds no state of its own beyond
 * each socket's identity and expiry timer.
 */
export function attachSignaling(d: SignalingDeps): void {
  const { io } = d;
  const sendSchema = sendMessageSchema(d.messageMaxChars);
  // The contract's schema per event; the message text limit is a setting.
  const inputSchema = (event: RequestEvent): z.ZodType =>
    event === 'message:send' ? sendSchema : requests[event].input;
  const limiter = new RateLimiterMemory({ points: d.rateLimit, duration: 1 });

  io.use(async (socket, next) => {
    const ip = socket.conn.remoteAddress;
    try {
      // An address that keeps failing is refused before its token is even read.
      if (await d.addressLimiter.blocked(ip)) {
        throw new AppError('rate_limited', 'too many failed sign-ins from this address; wait a moment');
      }
      const token = socket.handshake.auth?.token ?? bearerToken(socket.handshake.headers.authorization);
      const joinToken = socket.handshake.auth?.joinToken;
      let me: Identity;
      try {
        if (token === undefined && typeof joinToken === 'string' && joinToken.length <= 4096) {
          // The link alone signs the socket in, as that participant, for that session only.
          const signIn = await d.joinAccess.signIn(joinToken);
          me = signIn.identity;
          socket.data.joinScope = { bookingId: signIn.bookingId, joinToken };
        } else {
          me = await d.verifier.verify(
            typeof token === 'string' ? token : undefined,
            d.clock.now().getTime(),
          );
        }
      } catch (e) {
        // An unreachable key set (AUTH_JWKS_URL) is not the caller's failed sign-in.
        if (!(e instanceof AppError && e.code === 'unavailable')) await d.addressLimiter.failed(ip);
        throw e;
      }
      const open = io.of('/').adapter.rooms.get(channel.user(me.id))?.size ?? 0;
      if (open >= d.maxSocketsPerUser) {
        throw new AppError(
          'rate_limited',
          `this user already has ${open} connections open; close one first (at most ${d.maxSocketsPerUser})`,
        );
      }
      socket.data.identity = me;
      // Joined before the connection is acknowledged, so nothing sent to the
      // user's rooms between "connected" and the first request is missed.
      // A join link's socket hears only its session (the live channel it joins with live:join).
      const roomIds = socket.data.joinScope ? [] : await d.rooms.visibleRoomIds(me);
      socket.join([
        channel.user(me.id),
        ...(socket.data.joinScope ? [channel.joinLinks] : [channel.role(me.role)]),
        ...roomIds.map(channel.room),
      ]);
      next();
    } catch (e) {
      const pub = toPublicError(e);
      if (pub.code === 'internal') d.log.error({ err: e }, 'socket admission failed');
      const err = new Error(pub.code) as Error & { data?: unknown };
      err.data = pub;
      next(err);
    }
  });

  io.on('connection', (socket: IoSocket) => {
    const me = socket.data.identity;
    d.metrics.socketsConnected.inc();
    const expiry = armExpiry(socket, d);
    void announceOnline(socket, d);
    // The socket's rooms as they are when it leaves (it may have joined more since it connected).
    let roomsAtExit: string[] = [];
    socket.on('disconnecting', () => {
      roomsAtExit = roomChannels(socket);
    });
    socket.on('disconnect', () => {
      d.metrics.socketsConnected.dec();
      clearTimeout(expiry.timer);
      void announceOffline(me.id, roomsAtExit, d);
    });
    d.log.debug({ userId: me.id, socketId: socket.id }, 'socket connected');

    // engine.io hands each packet to Socket.IO synchronously, so its size is
    // known to the middleware below, which runs for the event it carried.
    const handled = new Set<string>();
    let packetChars = 0;
    socket.conn.on('packet', (p: { type: string; data?: unknown }) => {
      if (p.type === 'message') packetChars = typeof p.data === 'string' ? p.data.length : 0;
    });
    socket.use(([event, ...args], next) => {
      d.inflight.arrived();
      const ack = args.at(-1);
      const refuse = (code: 'payload_too_large' | 'not_found', message: string) => {
        d.metrics.socketRequests.inc({ event: known ? event : '(unknown)', outcome: code });
        if (typeof ack === 'function') ack({ ok: false, error: { code, message } } satisfies Ack<never>);
      };
      const known = typeof event === 'string' && handled.has(event);
      if (packetChars > MAX_REQUEST_CHARS) {
        return refuse(
          'payload_too_large',
          `payload: ${packetChars} characters; at most ${MAX_REQUEST_CHARS}`,
        );
      }
      if (!known) return refuse('not_found', `no such event: ${printable(event)}`);
      next();
    });

    const handle: Handle = (event, fn) => {
      handled.add(event);
      const schema = inputSchema(event);
      // Registered untyped: the payload is untrusted until the schema has parsed it.
      (socket as unknown as Socket).on(event as string, async (...args: unknown[]) => {
        // The ack is always the last argument; a request without a payload sends only the ack.
        const ack = args.length > 1 ? args.at(-1) : typeof args[0] === 'function' ? args[0] : undefined;
        const payload = typeof args[0] === 'function' ? undefined : args[0];
        const reply = typeof ack === 'function' ? (ack as (r: Ack<unknown>) => void) : () => {};
        // The timer may not have fired yet (or the clock jumped): a request is checked itself.
        if (socket.data.identity.expiresAt <= d.clock.now().getTime()) {
          reply({
            ok: false,
            error: { code: 'token_expired', message: 'the token expired; reconnect with a new one' },
          });
          expire(socket);
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
              await consume(limiter, me.id);
              // Parsed by the contract's schema for this very event, so it is that event's input.
              const input = parse(schema, payload, 'payload') as RequestInput<typeof event>;
              if (socket.data.joinScope) checkJoinScope(event, input, socket.data.joinScope);
              reply({ ok: true, data: await fn(input) });
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
      });
    };

    attachLiveHandlers(socket, handle, d.live, d.log);
    handle('message:send', async (input) => ({ message: await d.messages.send(me, input) }));
    handle('message:history', (input) => d.messages.history(me, input));
    handle('rooms:sync', (input) => d.messages.sync(me, input.cursors));
    handle('rooms:list', async () => ({ rooms: await d.rooms.list(me) }));
    handle('message:read', (input) => d.messages.markRead(me, input.roomId, input.seq));
    handle('typing', async (input) => {
      await d.messages.typing(me, input.roomId, input.typing, socket.id);
      return {};
    });
    handle('auth:refresh', async ({ token }) => {
      const next = await d.verifier.verify(token, d.clock.now().getTime());
      if (next.id !== me.id || next.role !== me.role) {
        throw new AppError('forbidden', 'a refreshed token must be for the same user and role');
      }
      socket.data.identity = next;
      Object.assign(me, next);
      clearTimeout(expiry.timer);
      expiry.timer = armExpiry(socket, d).timer;
      return { expiresAt: new Date(next.expiresAt).toISOString() };
    });
  });
}

/** The talkroom rooms a socket receives (not its own, user or role channels). Presence goes to the other members there, not to the user's own sockets. */
function roomChannels(socket: IoSocket): string[] {
  return [...socket.rooms].filter((r) => r.startsWith(channel.room('')));
}

/**
 * The user's first socket on this node says so to their rooms. Whether they
 * already had one on another node is not checked: `online: true` is a state,
 * and repeating it is harmless, while checking would race with that node.
 */
async function announceOnline(socket: IoSocket, d: SignalingDeps): Promise<void> {
  const userId = socket.data.identity.id;
  try {
    if (!(await d.presence.connected(userId))) return;
    const rooms = roomChannels(socket);
    if (rooms.length && socket.connected)
      d.io.to(rooms).except(channel.user(userId)).emit('presence', { userId, online: true });
  } catch (e) {
    d.log.warn({ err: (e as Error).message, userId }, 'presence not recorded');
  }
}

/** The user's last socket on this node closed: offline, unless they still have one on another node. */
async function announceOffline(userId: string, rooms: string[], d: SignalingDeps): Promise<void> {
  try {
    if (!(await d.presence.disconnected(userId))) return;
    if (!rooms.length || (await d.presence.online([userId])).has(userId)) return;
    d.io.to(rooms).except(channel.user(userId)).emit('presence', { userId, online: false });
  } catch (e) {
    d.log.warn({ err: (e as Error).message, userId }, 'presence not recorded');
  }
}

/** Tells the socket its token ran out, then closes it (not to be reconnected with the same token). */
function expire(socket: IoSocket): void {
  socket.emit('auth:expired', {
    code: 'token_expired',
    message: 'the token expired; reconnect with a new one',
  });
  // Not disconnect(true): that drops the transport before the event above is flushed.
  socket.disconnect();
}

function armExpiry(socket: IoSocket, d: SignalingDeps): { timer: NodeJS.Timeout } {
  const wait = socket.data.identity.expiresAt - d.clock.now().getTime();
  const holder = {
    timer: setTimeout(
      () => {
        if (socket.data.identity.expiresAt > d.clock.now().getTime()) {
          holder.timer = armExpiry(socket, d).timer;
          return;
        }
        expire(socket);
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    ),
  };
  holder.timer.unref();
  return holder;
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

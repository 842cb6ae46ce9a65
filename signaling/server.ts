import type { Server as HttpServer } from 'node:http';
import { Server } from 'socket.io';
import type { AddressLimiter } from '../src/auth/address-limiter.ts';
import { bearerToken, type Identity, type TokenVerifier } from '../src/auth/tokens.ts';
import type { Clock } from '../src/clock.ts';
import { AppError, toPublicError } from '../src/errors.ts';
import type { InFlight } from '../src/inflight.ts';
import type { Logger } from '../src/log.ts';
import type { Metrics } from '../src/metrics.ts';
import type { JoinAccess } from '../src/services/join-access.ts';
import type { LiveService } from '../src/services/live.ts';
import type { MessageService } from '../src/services/messages.ts';
import type { PresenceStore } from '../src/services/presence.ts';
import type { RoomService } from '../src/services/rooms.ts';
import { channel, type IoSocket } from './events.ts';
import { Expiries } from './expiries.ts';
import { RequestTable } from './requests.ts';
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
 * What the transport itself accepts. Between MAX_REQUEST_CHARS (requests.ts)
 * and this the request is read and answered with a code; past this, engine.io
 * closes the connection (WebSocket close code 1009), as there is no packet to
 * answer.
 */
const MAX_TRANSPORT_BYTES = 1024 * 1024;

/** Creates the Socket.IO server (transport only); handlers are attached once the services exist. */
/**
 * The Socket.IO server. The Redis adapter's module is loaded only with REDIS_URL:
 * a single node (the embedded default among them) never holds it in memory.
 */
export async function createIo(
  /** Without one, attach it with io.attach(http) once the HTTP app listens on it. */
  http: HttpServer | undefined,
  redis: RedisPair | undefined,
  addresses?: AddressLimiter,
  corsOrigins: string[] = [],
): Promise<IoServer> {
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
  if (!redis) return io;
  const { createAdapter, createShardedAdapter } = await import('@socket.io/redis-adapter');
  if (redis.adapter === 'sharded') {
    // 'dynamic': a room's channel is subscribed only while the room has members on this node.
    io.adapter(
      createShardedAdapter(redis.pub, redis.sub, {
        channelPrefix: `${redis.prefix}#sio`,
        subscriptionMode: 'dynamic',
      }),
    );
  } else io.adapter(createAdapter(redis.pub, redis.sub, { key: `${redis.prefix}#io` }));
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

/**
 * Wires the socket events to the services. Holds no state of its own beyond
 * each socket's identity and the token expiries.
 *
 * Every socket shares the request table, the expiry timer and the listener
 * functions (Socket.IO calls them with the socket as `this`): a socket holds
 * no closure, timer or bookkeeping of its own beyond its identity, so an idle
 * socket costs little more than Socket.IO's own (issue 14, P3).
 */
export function attachSignaling(d: SignalingDeps): void {
  const { io } = d;
  const now = () => d.clock.now().getTime();
  const expiries = new Expiries<IoSocket>(now, expire);

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
          me = await d.verifier.verify(typeof token === 'string' ? token : undefined, now());
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
      // The token has been read: the socket is its identity from here on. Not kept, it is
      // neither memory per idle socket nor a credential in the sockets fetchSockets hands
      // to other nodes. (A join link's token stays in the join scope, which compares it.)
      socket.handshake.auth = SIGNED_IN;
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

  const table = new RequestTable({ ...d, expire });
  const { handle } = table;
  handle('message:send', async (input, socket) => ({
    message: await d.messages.send(socket.data.identity, input),
  }));
  handle('message:history', (input, socket) => d.messages.history(socket.data.identity, input));
  handle('rooms:sync', (input, socket) => d.messages.sync(socket.data.identity, input.cursors));
  handle('rooms:list', async (_input, socket) => ({ rooms: await d.rooms.list(socket.data.identity) }));
  handle('message:read', (input, socket) =>
    d.messages.markRead(socket.data.identity, input.roomId, input.seq),
  );
  handle('typing', async (input, socket) => {
    await d.messages.typing(socket.data.identity, input.roomId, input.typing, socket.id);
    return {};
  });
  handle('auth:refresh', async ({ token }, socket) => {
    const me = socket.data.identity;
    const next = await d.verifier.verify(token, now());
    if (next.id !== me.id || next.role !== me.role) {
      throw new AppError('forbidden', 'a refreshed token must be for the same user and role');
    }
    // The one identity object is updated, so whatever holds it (live.ts's handlers) sees the new expiry.
    expiries.delete(socket, me.expiresAt);
    Object.assign(me, next);
    expiries.add(socket, me.expiresAt);
    return { expiresAt: new Date(next.expiresAt).toISOString() };
  });

  /** A socket leaving: one function for every socket, called with it as `this`. */
  function onDisconnecting(this: IoSocket): void {
    d.metrics.socketsConnected.dec();
    expiries.delete(this, this.data.identity.expiresAt);
    // The socket's rooms as they are when it leaves (it may have joined more since it connected).
    void announceOffline(this.data.identity.id, roomChannels(this), d);
  }

  io.on('connection', (socket: IoSocket) => {
    d.metrics.socketsConnected.inc();
    expiries.add(socket, socket.data.identity.expiresAt);
    void announceOnline(socket, d);
    socket.on('disconnecting', onDisconnecting);
    table.listen(socket);
    d.log.debug({ userId: socket.data.identity.id, socketId: socket.id }, 'socket connected');
  });
}

/** What a signed-in socket's handshake keeps of its `auth`: nothing (see the admission above). */
const SIGNED_IN: Readonly<Record<string, never>> = Object.freeze({});

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

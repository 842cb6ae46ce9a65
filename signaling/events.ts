import type { Identity } from '../src/auth/tokens.ts';
import type { Message } from '../src/domain/types.ts';
import type { ErrorCode } from '../src/errors.ts';
import type { JoinAnswer } from '../src/services/live.ts';
import type { RoomView } from '../src/services/rooms.ts';
import type { Booking } from '../src/store/bookings.ts';

/** Every socket request answers with this one shape. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: ErrorCode; message: string } };
type Req<P, R> = (payload: P, ack: (res: Ack<R>) => void) => void;

/** Events a client sends (PROTOCOL.md, Messages). Payloads are validated at runtime too: clients are untrusted. */
export interface ClientToServerEvents {
  'message:send': Req<unknown, { message: Message }>;
  'message:history': Req<unknown, { messages: Message[]; hasMore: boolean }>;
  'rooms:sync': Req<unknown, { messages: Record<string, Message[]>; hasMore: Record<string, boolean> }>;
  'rooms:list': Req<unknown, { rooms: RoomView[] }>;
  'message:read': Req<unknown, { roomId: string; userId: string; seq: number }>;
  typing: Req<unknown, Record<string, never>>;
  'auth:refresh': Req<unknown, { expiresAt: string }>;
  'live:join': Req<unknown, JoinAnswer>;
  'live:transport': Req<
    unknown,
    { id: string; iceParameters: unknown; iceCandidates: unknown; dtlsParameters: unknown }
  >;
  'live:connect': Req<unknown, Record<string, never>>;
  'live:restartIce': Req<unknown, { iceParameters: unknown }>;
  'live:produce': Req<unknown, { producerId: string }>;
  'live:consume': Req<
    unknown,
    { consumerId: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: unknown }
  >;
  'live:resume': Req<unknown, Record<string, never>>;
  'live:mute': Req<unknown, Record<string, never>>;
  'live:leave': Req<unknown, Record<string, never>>;
  'live:end': Req<unknown, Record<string, never>>;
}

export interface ServerToClientEvents {
  'message:new': (message: Message) => void;
  'message:read': (ev: { roomId: string; userId: string; seq: number }) => void;
  typing: (ev: { roomId: string; userId: string; typing: boolean }) => void;
  /** Sent just before the server disconnects a socket whose token expired. */
  'auth:expired': (error: { code: 'token_expired'; message: string }) => void;
  /** The socket now also receives this room (it was just created or escalated to the user's team). */
  'room:opened': (ev: { roomId: string }) => void;
  'live:participant': (ev: {
    bookingId: string;
    userId: string;
    role: string;
    state: 'joined' | 'left';
  }) => void;
  'live:started': (ev: { bookingId: string; startedAt: string }) => void;
  'live:ended': (ev: { bookingId: string; status: string }) => void;
  'live:producer': (ev: {
    bookingId: string;
    producerId: string;
    userId: string;
    kind: 'audio' | 'video';
  }) => void;
  /**
   * Sent to the other members of the user's rooms (not to the user's own
   * sockets) when they come online (a socket opens on a node where they had
   * none: it may repeat while they are online elsewhere) and when they go
   * offline (their last socket in the cluster closed). A node that dies sends
   * nothing: its users read as offline in GET /v1/rooms once its heartbeat lapses.
   */
  presence: (ev: { userId: string; online: boolean }) => void;
  /** The media server under the session restarted: live:join again to resume (the session itself goes on). */
  'live:rejoin': (ev: { bookingId: string; reason: string }) => void;
}

export type InterServerEvents = Record<string, never>;

export interface SocketData {
  identity: Identity;
  /** The live sessions this socket has joined, as they were when it joined. */
  live: Map<string, Booking>;
}

/** Socket.IO rooms used for fan-out: one per talkroom room, user and role. */
export const channel = {
  room: (roomId: string) => `room:${roomId}`,
  live: (bookingId: string) => `live:${bookingId}`,
  user: (userId: string) => `user:${userId}`,
  role: (role: string) => `role:${role}`,
};

import type { Identity } from '../src/auth/tokens.ts';
import type { Message } from '../src/domain/types.ts';
import type { ErrorCode } from '../src/errors.ts';
import type { RoomView } from '../src/services/rooms.ts';

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
}

export interface ServerToClientEvents {
  'message:new': (message: Message) => void;
  'message:read': (ev: { roomId: string; userId: string; seq: number }) => void;
  typing: (ev: { roomId: string; userId: string; typing: boolean }) => void;
  /** Sent just before the server disconnects a socket whose token expired. */
  'auth:expired': (error: { code: 'token_expired'; message: string }) => void;
  /** The socket now also receives this room (it was just created or escalated to the user's team). */
  'room:opened': (ev: { roomId: string }) => void;
}

export type InterServerEvents = Record<string, never>;

export interface SocketData {
  identity: Identity;
}

/** Socket.IO rooms used for fan-out: one per talkroom room, user and role. */
export const channel = {
  room: (roomId: string) => `room:${roomId}`,
  user: (userId: string) => `user:${userId}`,
  role: (role: string) => `role:${role}`,
};

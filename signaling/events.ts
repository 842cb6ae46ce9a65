import type { Socket } from 'socket.io';
import type * as Contract from '../protocol/events.ts';
import type { Identity } from '../src/auth/tokens.ts';

// The event maps are the contract's, derived from its schemas (protocol/events.ts).
export type { Ack } from '../protocol/errors.ts';
export type {
  ClientToServerEvents,
  RequestAnswer,
  RequestEvent,
  RequestInput,
  ServerToClientEvents,
} from '../protocol/events.ts';

export type InterServerEvents = Record<string, never>;

/** A socket signed in with a join link acts only in that link's session. */
export interface JoinScope {
  bookingId: string;
  joinToken: string;
}

export interface SocketData {
  identity: Identity;
  /**
   * The ids of the live sessions this socket has joined (their state is the store's, not the socket's).
   * Made with the socket's live handlers, on its first live request (requests.ts); only they read it.
   */
  live: Set<string>;
  /** Set when the socket signed in with a join link: the one session it may act in. */
  joinScope?: JoinScope;
}

export type IoSocket = Socket<
  Contract.ClientToServerEvents,
  Contract.ServerToClientEvents,
  InterServerEvents,
  SocketData
>;

/**
 * Registers a request event: rate-limited, validated with the contract's input
 * schema for that event, answered with the one ack shape, counted in flight.
 * The handler's input and answer types are the contract's for that event; it
 * is given the socket that asked (one handler serves every socket).
 */
export type Handle = <E extends Contract.RequestEvent>(
  event: E,
  fn: (input: Contract.RequestInput<E>, socket: IoSocket) => Promise<Contract.RequestAnswer<E>>,
) => void;

/** Socket.IO rooms used for fan-out: one per talkroom room, user and role. */
export const channel = {
  room: (roomId: string) => `room:${roomId}`,
  live: (bookingId: string) => `live:${bookingId}`,
  user: (userId: string) => `user:${userId}`,
  role: (role: string) => `role:${role}`,
  /** Every socket signed in with a join link: kept out of whatever opens rooms to a user. */
  joinLinks: 'join-links',
};

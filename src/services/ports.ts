import type { Message, Role } from '../domain/types.ts';

/**
 * How the services tell connected users about changes, without knowing the
 * transport: signaling/ implements this over Socket.IO (and so, with Redis,
 * across every node).
 */
export interface RoomEvents {
  /** `except`: a member who must not receive it (a support room's requester, for an internal note). */
  messageNew(message: Message, audience?: Audience): void;
  messageRead(ev: { roomId: string; userId: string; seq: number }, audience?: Audience): void;
  typing(ev: { roomId: string; userId: string; typing: boolean }, exceptSocketId?: string): void;
  /** Someone gained access to a room: their connected sockets should start receiving it. */
  roomOpened(roomId: string, audience: { userIds?: string[]; roles?: Role[] }): void;
}

/** Narrows a room broadcast: to one member only, or to everyone but one. */
export type Audience = { only: string } | { except: string };

/**
 * Whether a booked messaging session is in progress for a room (eap and
 * bh_insurance clients may message only then). The bookings work implements it.
 */
export interface MessagingSessionGate {
  isOpen(roomId: string, clientId: string, at: Date): Promise<boolean>;
  /**
   * What a message's bookingId names: a live session of this room open for chat
   * now (`open`), a booking of this room that is not (`closed`), or nothing in
   * this room (`none`).
   */
  sessionChat(roomId: string, bookingId: string, at: Date): Promise<SessionChat>;
}

export type SessionChat = 'open' | 'closed' | 'none';

/** A gate with no sessions at all (tests replace parts of it). */
export const noMessagingSessions: MessagingSessionGate = {
  isOpen: async () => false,
  sessionChat: async () => 'none',
};

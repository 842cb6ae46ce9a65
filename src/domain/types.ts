/** The vocabulary of talkroom (DOMAIN.md). Pure types, no behaviour. */

import type {
  BookingRequest,
  MessageKind,
  PlanKind,
  Role,
  TicketStatus,
  WorkingHours,
} from '../../protocol/vocabulary.ts';

// The closed lists are the contract's; the domain speaks them.
export {
  MESSAGE_KINDS,
  type MessageKind,
  PLAN_KINDS,
  type PlanKind,
  ROLES,
  type Role,
  WEEKDAYS,
  type Weekday,
  type WorkingHours,
} from '../../protocol/vocabulary.ts';

/** Who is acting: taken from a verified token. */
export interface Actor {
  id: string;
  role: Role;
  /** Bots only: the room ids the token may post into, or ['*']. */
  rooms?: string[];
}

export interface Plan {
  kind: PlanKind;
  includesMessaging: boolean;
  liveSessionsPerPeriod: number;
  messagingSessionsPerPeriod: number;
  periodStart: string; // YYYY-MM-DD
}

export interface User {
  id: string;
  role: Role;
  displayName: string;
  timezone: string;
  specialty: 'therapy' | 'psychiatry' | null;
  workingHours: WorkingHours | null;
  supervisor: boolean;
}

export type RoomKind = 'therapy' | 'support';
export type Service = 'therapy' | 'psychiatry';
export type EscalationTarget = 'supervisor' | 'clinical';
export type { BookingRequest, TicketStatus };

/** What a support room carries as a ticket (DOMAIN.md, "Rooms and messages"). */
export interface TicketState {
  status: TicketStatus;
  assigneeId: string | null;
}

export interface Room {
  id: string;
  kind: RoomKind;
  service: Service | null;
  clientId: string | null;
  providerId: string | null;
  requesterId: string | null;
  escalations: EscalationTarget[];
  lastSeq: number;
  awaitingReplySince: Date | null;
  createdAt: Date;
  /** Support rooms, as read from the store. */
  ticket?: TicketState;
}

export interface AttachmentRef {
  id: string;
  mimeType: string;
  sizeBytes: number;
  url: string;
}

export interface TimeRange {
  startsAt: string;
  endsAt: string;
}

export interface Message {
  id: string;
  roomId: string;
  seq: number;
  senderId: string;
  senderRole: Role;
  kind: MessageKind;
  text?: string;
  attachment?: AttachmentRef;
  availability?: TimeRange[];
  bookingId?: string;
  request?: BookingRequest;
  /** A support room's internal note: staff only. */
  internal?: true;
  meta?: Record<string, unknown>;
  clientMsgId?: string;
  createdAt: string;
  /** A tombstone: the content was erased (by request or retention); only the fields above seq's gaplessness needs remain. */
  erased?: true;
}

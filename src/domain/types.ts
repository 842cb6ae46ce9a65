/** The vocabulary of talkroom (DOMAIN.md). Pure types, no behaviour. */

export const ROLES = ['client', 'provider', 'support', 'clinical', 'bot', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is acting: taken from a verified token. */
export interface Actor {
  id: string;
  role: Role;
  /** Bots only: the room ids the token may post into, or ['*']. */
  rooms?: string[];
}

export const PLAN_KINDS = ['out_of_pocket', 'organization', 'eap', 'bh_insurance'] as const;
export type PlanKind = (typeof PLAN_KINDS)[number];

export interface Plan {
  kind: PlanKind;
  includesMessaging: boolean;
  liveSessionsPerPeriod: number;
  messagingSessionsPerPeriod: number;
  periodStart: string; // YYYY-MM-DD
}

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
/** Per weekday, a list of [start, end] wall-clock times ("09:00") in the user's time zone. */
export type WorkingHours = Partial<Record<Weekday, Array<[string, string]>>>;

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
}

export const MESSAGE_KINDS = ['text', 'voice', 'video', 'availability', 'system'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

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
  meta?: Record<string, unknown>;
  clientMsgId?: string;
  createdAt: string;
  /** A tombstone: the content was erased (by request or retention); only the fields above seq's gaplessness needs remain. */
  erased?: true;
}

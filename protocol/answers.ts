import { z } from 'zod';
import {
  BOOKING_REQUESTS,
  BOOKING_STATUSES,
  ESCALATION_TARGETS,
  MESSAGE_KINDS,
  MODALITIES,
  PLAN_KINDS,
  ROLES,
  ROOM_KINDS,
  SERVICES,
  TICKET_STATUSES,
  WEEKDAYS,
} from './vocabulary.ts';

/**
 * What the server answers and broadcasts: one schema per shape, written from
 * what the services return (the server's handlers are checked against these
 * types by `tsc`). The server does not parse its own answers at run time; the
 * schemas give the types, the SDK's types and the API documents.
 *
 * Instants are ISO-8601 UTC strings.
 */

const Instant = z.string().describe('ISO-8601 UTC instant');
/** A mediasoup object (RTP capabilities or parameters, ICE and DTLS parameters) as mediasoup writes it. */
const MediaJson = z.unknown().describe('mediasoup JSON object');

export const TimeRange = z.object({ startsAt: Instant, endsAt: Instant });

export const AttachmentRef = z.object({
  id: z.string(),
  mimeType: z.string(),
  sizeBytes: z.number().int(),
  url: z.string(),
});

export const Message = z.object({
  id: z.string(),
  roomId: z.string(),
  /** Rises by one per room, from 1. */
  seq: z.number().int(),
  senderId: z.string(),
  senderRole: z.enum(ROLES),
  kind: z.enum(MESSAGE_KINDS),
  text: z.string().optional(),
  attachment: AttachmentRef.optional(),
  availability: z.array(TimeRange).optional(),
  bookingId: z.string().optional(),
  /** Kind `request`: what the client asks of the booking `bookingId`. */
  request: z.enum(BOOKING_REQUESTS).optional(),
  /** A support room's internal note: only the support and clinical teams ever see it. */
  internal: z.literal(true).optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  clientMsgId: z.string().optional(),
  createdAt: Instant,
  /** A tombstone: the sender's data was erased (text, attachment and meta are gone; seq stays). */
  erased: z.literal(true).optional(),
});
export type Message = z.infer<typeof Message>;

export const AuditEntry = z.object({
  id: z.string(),
  at: Instant,
  actorId: z.string(),
  actorRole: z.string(),
  action: z.string(),
  roomId: z.string().optional(),
  subjectId: z.string().optional(),
  requestId: z.string().optional(),
  hash: z.string().describe('hex SHA-256 of prevHash and the entry as canonical JSON'),
  prevHash: z.string(),
});

export const RoomMember = z.object({
  userId: z.string(),
  role: z.string(),
  displayName: z.string().nullable(),
  /** Has a socket open on some node now (a hint: it may be a few seconds stale). */
  online: z.boolean(),
});

/** A support room as a ticket. */
export const Ticket = z.object({
  status: z.enum(TICKET_STATUSES),
  /** The support rep who has it; none while unassigned (and right after a supervisor escalation). */
  assigneeId: z.string().optional(),
  /** `supervisor` once handed over to the supervisors, else `clinical` once the clinical team was consulted. */
  escalatedTo: z.enum(ESCALATION_TARGETS).optional(),
});
export type Ticket = z.infer<typeof Ticket>;

/** A room as its reader sees it (GET /v1/rooms, rooms:list). */
export const RoomView = z.object({
  id: z.string(),
  kind: z.enum(ROOM_KINDS),
  service: z.enum(SERVICES).nullable(),
  members: z.array(RoomMember),
  /** Support rooms: the teams that share the room with its requester. */
  teams: z.array(z.string()),
  escalations: z.array(z.enum(ESCALATION_TARGETS)),
  lastSeq: z.number().int(),
  lastReadSeq: z.number().int(),
  unread: z.number().int(),
  replyDueAt: Instant.nullable(),
  replyOverdue: z.boolean(),
  createdAt: Instant,
  /** Support rooms only. */
  ticket: Ticket.optional(),
});
export type RoomView = z.infer<typeof RoomView>;

/** A room as provisioned (POST /v1/rooms). */
export const Room = z.object({
  id: z.string(),
  kind: z.enum(ROOM_KINDS),
  service: z.enum(SERVICES).nullable(),
  clientId: z.string().nullable(),
  providerId: z.string().nullable(),
  requesterId: z.string().nullable(),
  escalations: z.array(z.enum(ESCALATION_TARGETS)),
  createdAt: Instant,
});

export const User = z.object({
  id: z.string(),
  role: z.enum(ROLES),
  displayName: z.string(),
  timezone: z.string(),
  specialty: z.enum(SERVICES).nullable(),
  workingHours: z.partialRecord(z.enum(WEEKDAYS), z.array(z.tuple([z.string(), z.string()]))).nullable(),
  supervisor: z.boolean(),
});

export const Plan = z.object({
  kind: z.enum(PLAN_KINDS),
  includesMessaging: z.boolean(),
  liveSessionsPerPeriod: z.number().int(),
  messagingSessionsPerPeriod: z.number().int(),
  periodStart: z.string().describe('YYYY-MM-DD'),
});

export const Booking = z.object({
  id: z.string(),
  roomId: z.string(),
  clientId: z.string(),
  providerId: z.string(),
  modality: z.enum(MODALITIES),
  startsAt: Instant,
  endsAt: Instant,
  status: z.enum(BOOKING_STATUSES),
  creditId: z.string().nullable(),
  confirmBy: Instant.optional(),
  rescheduledFrom: z.string().optional(),
  rescheduledTo: z.string().optional(),
  startedAt: Instant.optional(),
  endedAt: Instant.optional(),
  outcome: z.string().optional(),
  cancelReason: z.string().optional(),
  createdBy: z.string(),
  createdAt: Instant,
});
export type Booking = z.infer<typeof Booking>;

export const LedgerEntry = z.object({
  seq: z.number().int(),
  creditId: z.string(),
  creditType: z.enum(['live', 'messaging']),
  kind: z.enum(['grant', 'purchase', 'reserve', 'consume', 'restore', 'forfeit', 'expire']),
  bookingId: z.string().nullable(),
  expiresAt: Instant.nullable(),
  paymentRef: z.string().nullable(),
  reason: z.string().nullable(),
  createdAt: Instant,
});

/** A lost credit that costs the client the session; `waived` once the provider waived it. */
export const Charge = z.object({
  bookingId: z.string(),
  at: Instant,
  reason: z.enum(['late_cancellation', 'late_reschedule', 'client_no_show']),
  waived: z.boolean(),
});

export const Credits = z.object({
  available: z.number().int(),
  availableByType: z.object({ live: z.number().int(), messaging: z.number().int() }),
  periodEndsAt: Instant.nullable(),
  /** Oldest first; `hasMore` says older entries were left out (ask with `beforeSeq`). */
  ledger: z.array(LedgerEntry),
  hasMore: z.boolean(),
  /** Every charge, newest first (at most 500). */
  charges: z.array(Charge),
});

const PerType = z.object({ live: z.number().int(), messaging: z.number().int() });
/** A client's own plan: what it allows each period, the current period, and how much of it is spoken for. */
export const PlanView = z.object({
  plan: Plan,
  period: z.object({ startsAt: Instant, endsAt: Instant }),
  allowance: PerType,
  used: PerType,
});

/** A list answer cut at its limit: `hasMore`, and `next` to pass as `cursor` for the rest. */
const paged = <S extends z.ZodRawShape>(shape: S) =>
  z.object({ ...shape, hasMore: z.boolean(), next: z.string().optional() });

export const RoomsPage = paged({ rooms: z.array(RoomView) });
export const BookingsPage = paged({ bookings: z.array(Booking) });
export const SlotsPage = paged({ slots: z.array(TimeRange) });

// ---- socket answers ------------------------------------------------------------

export const Empty = z.object({});

export const MessageAnswer = z.object({ message: Message });
export const HistoryAnswer = z.object({
  /** Oldest first (newest last). */
  messages: z.array(Message),
  hasMore: z.boolean(),
});
export const SyncAnswer = z.object({
  /** Per room named in the cursors: what came after the cursor, oldest first. */
  messages: z.record(z.string(), z.array(Message)),
  /** Per room: more remain after these; sync again from the last seq. */
  hasMore: z.record(z.string(), z.boolean()),
});
export const RoomsAnswer = z.object({ rooms: z.array(RoomView) });
export const ReadReceipt = z.object({ roomId: z.string(), userId: z.string(), seq: z.number().int() });
export const RefreshAnswer = z.object({ expiresAt: Instant });

export const TransportAnswer = z.object({
  id: z.string(),
  iceParameters: MediaJson,
  iceCandidates: MediaJson,
  dtlsParameters: MediaJson,
});
/**
 * A consumer the server made for the participant (server-initiated): receive
 * it with the SDK's recvTransport.consume(); `paused` ones (video) start once
 * live:resume says the participant has set it up.
 */
export const LiveConsumer = z.object({
  /** Whose producer it carries. */
  userId: z.string(),
  /** The participant's receive transport it is on. */
  transportId: z.string(),
  consumerId: z.string(),
  producerId: z.string(),
  kind: z.enum(['audio', 'video']),
  rtpParameters: MediaJson,
  paused: z.boolean(),
  producerPaused: z.boolean(),
});
export type LiveConsumer = z.infer<typeof LiveConsumer>;
export const JoinAnswer = z.object({
  bookingId: z.string(),
  modality: z.enum(MODALITIES),
  status: z.enum(['waiting', 'in_progress']),
  participants: z.array(z.object({ userId: z.string(), role: z.string() })),
  routerRtpCapabilities: MediaJson.optional(),
  /** RTCIceServer entries (TURN relays with credentials) for this participant. */
  iceServers: z.array(z.unknown()).optional(),
  /** When asked for in the join: the participant's transports, as live:transport answers them. */
  transports: z.object({ send: TransportAnswer.optional(), recv: TransportAnswer.optional() }).optional(),
  /** When the join carried rtpCapabilities: consumers of what the other side already sends. */
  consumers: z.array(LiveConsumer).optional(),
});
export type JoinAnswer = z.infer<typeof JoinAnswer>;
export const RestartIceAnswer = z.object({ iceParameters: MediaJson });
export const ProduceAnswer = z.object({ producerId: z.string() });
export const ReceiveAnswer = z.object({ consumers: z.array(LiveConsumer) });
export const ConsumeAnswer = z.object({
  consumerId: z.string(),
  producerId: z.string(),
  kind: z.enum(['audio', 'video']),
  rtpParameters: MediaJson,
});

// ---- server broadcasts ---------------------------------------------------------

export const TypingEvent = z.object({ roomId: z.string(), userId: z.string(), typing: z.boolean() });
export const AuthExpiredEvent = z.object({ code: z.literal('token_expired'), message: z.string() });
export const RoomOpenedEvent = z.object({ roomId: z.string() });
export const PresenceEvent = z.object({ userId: z.string(), online: z.boolean() });
export const LiveParticipantEvent = z.object({
  bookingId: z.string(),
  userId: z.string(),
  role: z.string(),
  state: z.enum(['joined', 'left']),
});
export const LiveStartedEvent = z.object({ bookingId: z.string(), startedAt: Instant });
export const LiveEndedEvent = z.object({ bookingId: z.string(), status: z.enum(BOOKING_STATUSES) });
export const LiveProducerEvent = z.object({
  bookingId: z.string(),
  producerId: z.string(),
  userId: z.string(),
  kind: z.enum(['audio', 'video']),
});
export const LiveRejoinEvent = z.object({ bookingId: z.string(), reason: z.string() });
export const LiveConsumerEvent = LiveConsumer.extend({ bookingId: z.string() });

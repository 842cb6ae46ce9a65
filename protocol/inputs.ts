import { z } from 'zod';
import {
  BOOKING_REQUESTS,
  BOOKING_STATUSES,
  ESCALATION_TARGETS,
  isValidTimezone,
  MESSAGE_KINDS,
  MODALITIES,
  PLAN_KINDS,
  ROLES,
  SERVICES,
  TICKET_STATUSES,
  WEEKDAYS,
  workingHoursProblem,
} from './vocabulary.ts';

/**
 * The contract's inputs: every input from outside passes one of these schemas
 * at the edge (REST body, query, socket payload). Objects are strict: an unknown field is an error that names
 * it, not something silently dropped. The service types come from here.
 *
 * Error messages name the field and never quote the value: it may be therapy text.
 */

// ---- text the store can hold ------------------------------------------------

/**
 * Why a string from outside cannot be stored, if it cannot: PostgreSQL keeps
 * neither NUL (in text or jsonb) nor an unpaired surrogate half (that is not
 * UTF-8). Such a string is the client's mistake, refused at the edge rather
 * than failing in the database as a server error.
 */
function unstorable(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  if (!s.isWellFormed()) return 'must be valid Unicode (no unpaired surrogates)';
  return null;
}

/** Every string from outside, free text and ids alike, starts here. */
export const Text = z.string().superRefine((s, ctx) => {
  const bad = unstorable(s);
  // No further checks on a string like this: one message per field.
  if (bad) ctx.addIssue({ code: 'custom', message: bad, continue: false });
});

export const Id = Text.min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'may contain letters, digits and _ . : @ - only');

/** Message seq and read cursors are stored as 32-bit integers. */
export const MAX_SEQ = 2_147_483_647;

/** How deep client-supplied JSON (meta, media parameters) may nest; real ones need 5 levels. */
export const MAX_JSON_DEPTH = 10;

/**
 * Client-supplied JSON kept as it is (message meta, media parameters): walked
 * before anything else touches it, with a bounded depth (so neither the walk
 * nor JSON.stringify can run out of stack); every string and key storable,
 * only JSON values (no binary), at most `maxBytes` once serialised. One issue,
 * at the first bad place.
 */
function jsonRecord(maxBytes: number) {
  return z
    .unknown()
    .superRefine((value, ctx) => {
      const problem = jsonProblem(value, []);
      if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
      else if (value !== undefined && JSON.stringify(value).length > maxBytes) {
        ctx.addIssue({ code: 'custom', message: `must serialise to at most ${maxBytes} bytes` });
      }
    })
    .pipe(z.record(Text.max(64), z.unknown()));
}

function jsonProblem(v: unknown, path: (string | number)[]): { path: typeof path; message: string } | null {
  if (v === null || v === undefined || typeof v === 'boolean' || typeof v === 'string') {
    const bad = typeof v === 'string' ? unstorable(v) : null;
    return bad ? { path, message: bad } : null;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? null : { path, message: 'must be a finite number' };
  if (path.length >= MAX_JSON_DEPTH) {
    return { path, message: `nested more than ${MAX_JSON_DEPTH} levels deep` };
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = jsonProblem(v[i], [...path, i]);
      if (p) return p;
    }
    return null;
  }
  const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto !== Object.prototype && proto !== null) return { path, message: 'must be plain JSON' };
  for (const [key, child] of Object.entries(v as object)) {
    const bad = key === '__proto__' ? 'may not be __proto__' : unstorable(key);
    if (bad) return { path, message: `a key: ${bad}` };
    const p = jsonProblem(child, [...path, key]);
    if (p) return p;
  }
  return null;
}

// An instant from outside, and what the server computes from it (a session's end, its reminders), must
// stay within four-digit years: past 9999 an ISO string grows a sign and six digits that the embedded
// store cannot read back.
const FIRST_INSTANT = Date.UTC(1970, 0, 1);
const LAST_INSTANT = Date.UTC(9999, 0, 1);
const isoInstant = z.iso.datetime({ offset: true }).refine((s) => {
  const t = Date.parse(s);
  return t >= FIRST_INSTANT && t < LAST_INSTANT;
}, 'must be from 1970 to 9998');
// A calendar date a plan can start on: PostgreSQL's date has no year 0, and no plan predates 1970.
const isoDate = z.iso.date().refine((d) => d >= '1970-01-01', 'must be 1970-01-01 or later');
const hhmm = Text.regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM');

export const WorkingHoursSchema = z
  .partialRecord(z.enum(WEEKDAYS), z.array(z.tuple([hhmm, hhmm])).max(12))
  .superRefine((v, ctx) => {
    const problem = workingHoursProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const PutUserBody = z.strictObject({
  role: z.enum(ROLES),
  displayName: Text.trim().min(1).max(200),
  timezone: Text.max(100).refine(isValidTimezone, 'must be an IANA time zone such as Europe/Berlin'),
  specialty: z.enum(SERVICES).optional(),
  workingHours: WorkingHoursSchema.optional(),
  supervisor: z.boolean().optional(),
});
export type PutUserInput = z.infer<typeof PutUserBody>;

export const PutPlanBody = z.strictObject({
  kind: z.enum(PLAN_KINDS),
  includesMessaging: z.boolean(),
  liveSessionsPerPeriod: z.number().int().min(0).max(1000),
  messagingSessionsPerPeriod: z.number().int().min(0).max(1000).optional(),
  periodStart: isoDate,
});
export type PutPlanInput = z.infer<typeof PutPlanBody>;

export const CreateRoomBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('therapy'),
    clientId: Id,
    providerId: Id,
    service: z.enum(SERVICES),
  }),
  z.strictObject({ kind: z.literal('support'), requesterId: Id }),
]);
export type CreateRoomInput = z.infer<typeof CreateRoomBody>;

export const EscalationBody = z.strictObject({ to: z.enum(ESCALATION_TARGETS) });

/** `PUT /v1/rooms/:id/ticket`: what changes (`assigneeId: null` unassigns). */
export const TicketBody = z
  .strictObject({ status: z.enum(TICKET_STATUSES).optional(), assigneeId: Id.nullable().optional() })
  .refine((b) => b.status !== undefined || b.assigneeId !== undefined, 'give status, assigneeId or both');
export type TicketInput = z.infer<typeof TicketBody>;

/** A booking request's note is short: the conversation itself happens on the booking. */
export const REQUEST_TEXT_MAX = 500;

const TimeRangeSchema = z
  .strictObject({ startsAt: isoInstant, endsAt: isoInstant })
  .refine((r) => Date.parse(r.startsAt) < Date.parse(r.endsAt), 'startsAt must be before endsAt');

/** The message body; its text limit is a setting, so the schema is built from it. */
export function sendMessageSchema(maxChars: number) {
  return z
    .strictObject({
      roomId: Id,
      clientMsgId: Text.min(1).max(128),
      kind: z.enum(MESSAGE_KINDS),
      text: Text.min(1).max(maxChars).optional(),
      attachmentId: Id.optional(),
      availability: z.array(TimeRangeSchema).min(1).max(50).optional(),
      bookingId: Id.optional(),
      /** Kind `request`: what the client asks of the booking. */
      request: z.enum(BOOKING_REQUESTS).optional(),
      /** Support rooms: a note for the staff only, never shown to the requester. */
      internal: z.boolean().optional(),
      meta: jsonRecord(4096).optional(),
    })
    .superRefine((m, ctx) => {
      const need = (field: 'text' | 'attachmentId' | 'availability' | 'bookingId' | 'request') => {
        if (m[field] === undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `required for kind ${m.kind}` });
      };
      const forbid = (field: 'attachmentId' | 'availability' | 'request') => {
        if (m[field] !== undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `not allowed for kind ${m.kind}` });
      };
      if (m.kind !== 'request') forbid('request');
      if (m.internal && !['text', 'voice', 'video'].includes(m.kind)) {
        ctx.addIssue({ code: 'custom', path: ['internal'], message: `not allowed for kind ${m.kind}` });
      }
      switch (m.kind) {
        case 'text':
          need('text');
          forbid('attachmentId');
          forbid('availability');
          break;
        case 'voice':
        case 'video':
          need('attachmentId');
          forbid('availability');
          break;
        case 'availability':
          need('availability');
          forbid('attachmentId');
          break;
        case 'request':
          need('bookingId');
          need('request');
          forbid('attachmentId');
          forbid('availability');
          if (m.text !== undefined && m.text.length > REQUEST_TEXT_MAX) {
            ctx.addIssue({
              code: 'custom',
              path: ['text'],
              message: `at most ${REQUEST_TEXT_MAX} characters in a booking request`,
            });
          }
          break;
        case 'system':
          if (m.text === undefined && m.meta === undefined) {
            ctx.addIssue({ code: 'custom', path: ['text'], message: 'a system message needs text or meta' });
          }
          forbid('attachmentId');
          forbid('availability');
          break;
      }
    });
}
export type SendMessageInput = z.infer<ReturnType<typeof sendMessageSchema>>;

export const HistoryQuery = z.strictObject({
  roomId: Id,
  beforeSeq: z.coerce.number().int().min(1).max(MAX_SEQ).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
export type HistoryInput = z.infer<typeof HistoryQuery>;

export const SyncBody = z.strictObject({
  cursors: z
    .record(Id, z.number().int().min(0).max(MAX_SEQ))
    .refine((c) => Object.keys(c).length <= 1000, 'at most 1000 rooms per sync'),
});

export const ReadBody = z.strictObject({ roomId: Id, seq: z.number().int().min(0).max(MAX_SEQ) });
export const TypingBody = z.strictObject({ roomId: Id, typing: z.boolean() });
export const RefreshBody = z.strictObject({ token: Text.min(1).max(8192) });

export function describeIssues(err: z.ZodError, where = 'body'): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length ? i.path.map(fieldName).join('.') : where;
      if (i.code === 'unrecognized_keys') {
        const prefix = i.path.length ? `${path}.` : '';
        const names = i.keys.slice(0, 5).map((k) => prefix + fieldName(k));
        const more = i.keys.length > 5 ? ` and ${i.keys.length - 5} more` : '';
        return `${names.join(', ')}${more}: unknown field`;
      }
      if (i.code === 'invalid_key') {
        // The path ends in the key itself, which is the value at fault.
        const at = i.path.length > 1 ? i.path.slice(0, -1).map(fieldName).join('.') : where;
        return `${at}: a key: ${i.issues[0]?.message ?? 'not valid'}`;
      }
      // zod 4 keeps no input in its issues (good: no client values in errors); its message says what arrived.
      if (i.code === 'invalid_type' && i.message.endsWith('received undefined')) return `${path}: required`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

/** A field name as it may appear in a message: keys come from the client, so an odd one is not repeated. */
function fieldName(key: PropertyKey): string {
  if (typeof key === 'number') return String(key);
  return typeof key === 'string' && /^[A-Za-z0-9_.:@$-]{1,64}$/.test(key) ? key : '(a key)';
}

// ---- bookings and credits ----------------------------------------------------

export const CreateBookingBody = z.strictObject({
  roomId: Id,
  modality: z.enum(MODALITIES),
  startsAt: isoInstant,
  durationMin: z.number().int().min(15).max(240).optional(),
  purchase: z.boolean().optional(),
});

export const CancelBody = z.strictObject({ reason: Text.trim().min(1).max(500).optional() });
export const RescheduleBody = z.strictObject({ startsAt: isoInstant, purchase: z.boolean().optional() });
export const EmptyBody = z.strictObject({});

/** Most rows one list answer holds; `hasMore` says when there are more. */
const MAX_PAGE = 500;
const pageLimit = z.coerce.number().int().min(1).max(MAX_PAGE);

export const BookingsQuery = z.strictObject({
  roomId: Id.optional(),
  status: z.enum(BOOKING_STATUSES).optional(),
  /** The `next` of the answer before. */
  cursor: z.string().min(1).max(200).optional(),
  limit: pageLimit.optional(),
});

export const SlotsQuery = z.strictObject({
  from: isoInstant.optional(),
  to: isoInstant.optional(),
  durationMin: z.coerce.number().int().min(15).max(240).optional(),
});

export const RoomsQuery = z.strictObject({
  /** The `next` of the answer before. */
  cursor: z.string().min(1).max(200).optional(),
  limit: pageLimit.optional(),
});

export const CreditsQuery = z.strictObject({
  /** Ledger entries before this seq (the oldest `seq` of the answer before). */
  beforeSeq: z.coerce.number().int().min(1).optional(),
  limit: pageLimit.optional(),
});

export const PurchaseBody = z.strictObject({
  count: z.number().int().min(1).max(20),
  paymentRef: Text.trim().min(1).max(128),
});

// ---- live sessions -----------------------------------------------------------

// Real RTP parameters and capabilities are a few kilobytes.
const MediaObject = jsonRecord(64 * 1024);
const LiveRef = { bookingId: Id };

// `transports` asks for the WebRTC transports in the join answer itself: two
// round trips fewer before media flows.
const JoinTransports = z
  .array(z.enum(['send', 'recv']))
  .max(2)
  .optional();
// `rtpCapabilities` (the device's receive capabilities) has the server make
// the participant's consumers itself: in the join answer, then pushed as
// `live:consumer` (no live:consume per track).
const JoinReceive = { transports: JoinTransports, rtpCapabilities: MediaObject.optional() };
export const LiveJoinBody = z.union([
  z.strictObject({ bookingId: Id, ...JoinReceive }),
  z.strictObject({ joinToken: Text.min(1).max(4096), ...JoinReceive }),
]);
export const LiveSessionBody = z.strictObject(LiveRef);
export const LiveTransportBody = z.strictObject({ ...LiveRef, direction: z.enum(['send', 'recv']) });
export const LiveConnectBody = z.strictObject({ ...LiveRef, transportId: Id, dtlsParameters: MediaObject });
export const LiveRestartIceBody = z.strictObject({ ...LiveRef, transportId: Id });
export const LiveProduceBody = z.strictObject({
  ...LiveRef,
  transportId: Id,
  kind: z.enum(['audio', 'video']),
  rtpParameters: MediaObject,
  appData: MediaObject.optional(),
});
export const LiveConsumeBody = z.strictObject({
  ...LiveRef,
  transportId: Id,
  producerId: Id,
  rtpCapabilities: MediaObject,
});
export const LiveReceiveBody = z.strictObject({ ...LiveRef, rtpCapabilities: MediaObject });
export const LiveResumeBody = z.strictObject({ ...LiveRef, consumerId: Id });
export const LiveMuteBody = z.strictObject({ ...LiveRef, producerId: Id, paused: z.boolean() });

export const FailedJobsQuery = z.strictObject({
  /** The `next` of the answer before. */
  cursor: z.string().min(1).max(200).optional(),
  limit: pageLimit.optional(),
});

// ---- privacy -------------------------------------------------------------------

const auditInstant = z.iso
  .datetime({ offset: true })
  .refine((s) => s >= '1970' && s < '9999', 'must be from 1970 to 9998')
  .transform((v) => new Date(v));

/** `GET /v1/audit` query. */
export const AuditQuery = z.strictObject({
  actorId: Id.optional(),
  roomId: Id.optional(),
  subjectId: Id.optional(),
  from: auditInstant.optional(),
  to: auditInstant.optional(),
  cursor: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

/** `PUT /v1/users/:id/hold` body. */
export const HoldBody = z.strictObject({ hold: z.boolean() });

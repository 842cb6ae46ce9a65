import { z } from 'zod';
import { BOOKING_STATUSES, MODALITIES } from '../domain/bookings.ts';
import { MESSAGE_KINDS, PLAN_KINDS, ROLES, WEEKDAYS } from '../domain/types.ts';
import { isValidTimezone, workingHoursProblem } from '../domain/working-hours.ts';
import { AppError } from '../errors.ts';

/**
 * Every input from outside passes one of these schemas at the edge (REST body,
 * socket payload). Objects are strict: an unknown field is an error that names
 * it, not something silently dropped. The service types come from here.
 */

export const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'may contain letters, digits and _ . : @ - only');

const isoInstant = z.iso.datetime({ offset: true });
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM');

export const WorkingHoursSchema = z
  .partialRecord(z.enum(WEEKDAYS), z.array(z.tuple([hhmm, hhmm])).max(12))
  .superRefine((v, ctx) => {
    const problem = workingHoursProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const PutUserBody = z.strictObject({
  role: z.enum(ROLES),
  displayName: z.string().trim().min(1).max(200),
  timezone: z.string().refine(isValidTimezone, 'must be an IANA time zone such as Europe/Berlin'),
  specialty: z.enum(['therapy', 'psychiatry']).optional(),
  workingHours: WorkingHoursSchema.optional(),
  supervisor: z.boolean().optional(),
});
export type PutUserInput = z.infer<typeof PutUserBody>;

export const PutPlanBody = z.strictObject({
  kind: z.enum(PLAN_KINDS),
  includesMessaging: z.boolean(),
  liveSessionsPerPeriod: z.number().int().min(0).max(1000),
  messagingSessionsPerPeriod: z.number().int().min(0).max(1000).optional(),
  periodStart: z.iso.date(),
});
export type PutPlanInput = z.infer<typeof PutPlanBody>;

export const CreateRoomBody = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('therapy'),
    clientId: Id,
    providerId: Id,
    service: z.enum(['therapy', 'psychiatry']),
  }),
  z.strictObject({ kind: z.literal('support'), requesterId: Id }),
]);
export type CreateRoomInput = z.infer<typeof CreateRoomBody>;

export const EscalationBody = z.strictObject({ to: z.enum(['supervisor', 'clinical']) });

const TimeRangeSchema = z
  .strictObject({ startsAt: isoInstant, endsAt: isoInstant })
  .refine((r) => Date.parse(r.startsAt) < Date.parse(r.endsAt), 'startsAt must be before endsAt');

/** The message body; its text limit is a setting, so the schema is built from it. */
export function sendMessageSchema(maxChars: number) {
  return z
    .strictObject({
      roomId: Id,
      clientMsgId: z.string().min(1).max(128),
      kind: z.enum(MESSAGE_KINDS),
      text: z.string().min(1).max(maxChars).optional(),
      attachmentId: Id.optional(),
      availability: z.array(TimeRangeSchema).min(1).max(50).optional(),
      bookingId: Id.optional(),
      meta: z
        .record(z.string().max(64), z.unknown())
        .refine((m) => JSON.stringify(m).length <= 4096, 'must serialise to at most 4096 bytes')
        .optional(),
    })
    .superRefine((m, ctx) => {
      const need = (field: 'text' | 'attachmentId' | 'availability') => {
        if (m[field] === undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `required for kind ${m.kind}` });
      };
      const forbid = (field: 'attachmentId' | 'availability') => {
        if (m[field] !== undefined)
          ctx.addIssue({ code: 'custom', path: [field], message: `not allowed for kind ${m.kind}` });
      };
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
  beforeSeq: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
export type HistoryInput = z.infer<typeof HistoryQuery>;

export const SyncBody = z.strictObject({
  cursors: z
    .record(Id, z.number().int().min(0))
    .refine((c) => Object.keys(c).length <= 1000, 'at most 1000 rooms per sync'),
});

export const ReadBody = z.strictObject({ roomId: Id, seq: z.number().int().min(0) });
export const TypingBody = z.strictObject({ roomId: Id, typing: z.boolean() });
export const RefreshBody = z.strictObject({ token: z.string().min(1).max(8192) });

/** Parses input or throws invalid_input with a message that names each bad field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new AppError('invalid_input', describeIssues(r.error, where));
}

export function describeIssues(err: z.ZodError, where = 'body'): string {
  return err.issues
    .slice(0, 5)
    .map((i) => {
      const path = i.path.length ? i.path.join('.') : where;
      if (i.code === 'unrecognized_keys') {
        const prefix = i.path.length ? `${path}.` : '';
        return `${i.keys.map((k) => prefix + k).join(', ')}: unknown field`;
      }
      if (i.code === 'invalid_type' && i.input === undefined) return `${path}: required`;
      return `${path}: ${i.message}`;
    })
    .join('; ');
}

// ---- bookings and credits ----------------------------------------------------

export const CreateBookingBody = z.strictObject({
  roomId: Id,
  modality: z.enum(MODALITIES),
  startsAt: isoInstant,
  durationMin: z.number().int().min(15).max(240).optional(),
  purchase: z.boolean().optional(),
});

export const CancelBody = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() });
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
  paymentRef: z.string().trim().min(1).max(128),
});

// ---- live sessions -----------------------------------------------------------

const MediaObject = z.record(z.string(), z.unknown());
const LiveRef = { bookingId: Id };

// `transports` asks for the WebRTC transports in the join answer itself: two
// round trips fewer before media flows.
const JoinTransports = z
  .array(z.enum(['send', 'recv']))
  .max(2)
  .optional();
export const LiveJoinBody = z.union([
  z.strictObject({ bookingId: Id, transports: JoinTransports }),
  z.strictObject({ joinToken: z.string().min(1).max(4096), transports: JoinTransports }),
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
export const LiveResumeBody = z.strictObject({ ...LiveRef, consumerId: Id });
export const LiveMuteBody = z.strictObject({ ...LiveRef, producerId: Id, paused: z.boolean() });

export const FailedJobsQuery = z.strictObject({
  /** The `next` of the answer before. */
  cursor: z.string().min(1).max(200).optional(),
  limit: pageLimit.optional(),
});

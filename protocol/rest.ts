import { z } from 'zod';
import * as A from './answers.ts';
import { ERROR_CODES } from './errors.ts';
import { SendMessageBody } from './events.ts';
import * as I from './inputs.ts';
import type { ROLES } from './vocabulary.ts';

/**
 * Every route the server serves: its input schemas (path, query, body) and its
 * answers by status. The OpenAPI document is generated from this table, and a
 * test holds it against the routes Express actually has.
 */
export interface Route {
  method: 'get' | 'put' | 'post' | 'delete';
  /** OpenAPI style: `/v1/rooms/{id}`. */
  path: string;
  summary: string;
  /** Who may call it: a platform JWT (any role, or the roles listed), or nobody in particular. */
  auth: 'none' | 'token' | 'metrics' | readonly (typeof ROLES)[number][];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** A body that is not JSON: its media types. */
  rawBody?: string;
  /** Answers by HTTP status: a JSON schema, or a media type for what is not JSON. */
  answers: Record<number, z.ZodType | { type: string; description: string }>;
}

const IdParam = z.strictObject({ id: I.Id });
export const ErrorAnswer = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]),
    message: z.string(),
  }),
});

const UserAnswer = z.object({ user: A.User });
const BookingAnswer = z.object({ booking: A.Booking });
const RoomViewAnswer = z.object({ room: A.RoomView });
const Instant = z.string().describe('ISO-8601 UTC instant');
const Health = z.object({ status: z.literal('ok') });
const Readiness = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  checks: z.record(z.string(), z.enum(['ok', 'degraded', 'down'])),
});
const JoinParty = z.object({
  userId: z.string(),
  role: z.enum(['client', 'provider']),
  displayName: z.string(),
});
/** What a join link grants (PROTOCOL.md); `open` (an addition) says whether its window has opened yet. */
export const JoinInfo = z.object({
  booking: A.Booking,
  opensAt: Instant,
  closesAt: Instant,
  open: z.boolean(),
  participant: JoinParty,
  other: JoinParty,
});
const JoinLinks = z.object({
  joinUrls: z.record(z.string(), z.string()),
  opensAt: Instant,
  closesAt: Instant,
});
const FailedJob = z.object({
  id: z.string(),
  kind: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  failedAt: Instant,
  createdAt: Instant,
});
const html = { type: 'text/html', description: 'the session page' };

export const routes: readonly Route[] = [
  { method: 'get', path: '/healthz', summary: 'The process is up', auth: 'none', answers: { 200: Health } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Store, Redis and media workers are ready (503 when not, or while shutting down)',
    auth: 'none',
    answers: { 200: Readiness, 503: Readiness },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (METRICS_TOKEN as a bearer token when set)',
    auth: 'metrics',
    answers: { 200: { type: 'text/plain', description: 'Prometheus text format' } },
  },
  {
    method: 'get',
    path: '/join/{token}',
    summary: 'A join link: the reference web client’s session page',
    auth: 'none',
    params: z.object({ token: z.string() }),
    answers: { 200: html },
  },
  {
    method: 'get',
    path: '/app',
    summary: 'The reference web app (signs in with `#token=<JWT>` in the fragment)',
    auth: 'none',
    answers: { 200: { type: 'text/html', description: 'the web app' } },
  },
  {
    method: 'get',
    path: '/assets/{file}',
    summary: 'A built script or stylesheet of the web pages (content-hashed name, cacheable for good)',
    auth: 'none',
    params: z.object({ file: z.string() }),
    answers: { 200: { type: 'text/javascript', description: 'a script, stylesheet or source map' } },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document',
    auth: 'none',
    answers: { 200: { type: 'application/json', description: 'OpenAPI 3.1' } },
  },
  {
    method: 'get',
    path: '/v1/asyncapi.json',
    summary: 'The Socket.IO events, as AsyncAPI 3',
    auth: 'none',
    answers: { 200: { type: 'application/json', description: 'AsyncAPI 3.0' } },
  },
  {
    method: 'put',
    path: '/v1/users/{id}',
    summary: 'Create or replace a user (201 when created)',
    auth: ['admin'],
    params: IdParam,
    body: I.PutUserBody,
    answers: { 200: UserAnswer, 201: UserAnswer },
  },
  {
    method: 'put',
    path: '/v1/users/{id}/plan',
    summary: 'Set a client’s plan',
    auth: ['admin'],
    params: IdParam,
    body: I.PutPlanBody,
    answers: { 200: z.object({ plan: A.Plan }) },
  },
  {
    method: 'post',
    path: '/v1/rooms',
    summary: 'Create a therapy or support room (200 with the existing one)',
    auth: ['admin'],
    body: I.CreateRoomBody,
    answers: { 200: z.object({ room: A.Room }), 201: z.object({ room: A.Room }) },
  },
  {
    method: 'get',
    path: '/v1/rooms',
    summary: 'The rooms the user sees, a page at a time',
    auth: 'token',
    query: I.RoomsQuery,
    answers: { 200: A.RoomsPage },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}',
    summary: 'One room',
    auth: 'token',
    params: IdParam,
    answers: { 200: RoomViewAnswer },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}/messages',
    summary: 'A page of a room’s messages, newest last',
    auth: 'token',
    params: IdParam,
    query: I.HistoryQuery.omit({ roomId: true }),
    answers: { 200: A.HistoryAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/messages',
    summary: 'Post a message (same body and rules as message:send)',
    auth: 'token',
    params: IdParam,
    body: SendMessageBody,
    answers: { 201: A.MessageAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/escalations',
    summary: 'Escalate a support room',
    auth: 'token',
    params: IdParam,
    body: I.EscalationBody,
    answers: { 201: RoomViewAnswer },
  },
  {
    method: 'put',
    path: '/v1/rooms/{id}/ticket',
    summary: 'Set a support ticket’s status or assignee (support team)',
    auth: ['support'],
    params: IdParam,
    body: I.TicketBody,
    answers: { 200: RoomViewAnswer },
  },
  {
    method: 'post',
    path: '/v1/rooms/{id}/attachments',
    summary: 'Upload a voice or video recording (the raw file as the body)',
    auth: 'token',
    params: IdParam,
    rawBody: 'audio/*, video/* (ATTACHMENT_TYPES)',
    answers: {
      201: z.object({ attachmentId: z.string(), mimeType: z.string(), sizeBytes: z.number().int() }),
    },
  },
  {
    method: 'get',
    path: '/v1/rooms/{id}/attachments/{attachmentId}',
    summary: 'Download a recording (Range requests answered 206)',
    auth: 'token',
    params: z.strictObject({ id: I.Id, attachmentId: I.Id }),
    answers: {
      200: { type: 'application/octet-stream', description: 'the recording, with its own Content-Type' },
      206: { type: 'application/octet-stream', description: 'a range of the recording' },
    },
  },
  {
    method: 'get',
    path: '/v1/providers/{id}/slots',
    summary: 'A provider’s open slots',
    auth: 'token',
    params: IdParam,
    query: I.SlotsQuery,
    answers: { 200: A.SlotsPage },
  },
  {
    method: 'post',
    path: '/v1/bookings',
    summary: 'Book a session',
    auth: 'token',
    body: I.CreateBookingBody,
    answers: { 201: BookingAnswer },
  },
  {
    method: 'get',
    path: '/v1/bookings',
    summary: 'Bookings in the user’s rooms, a page at a time',
    auth: 'token',
    query: I.BookingsQuery,
    answers: { 200: A.BookingsPage },
  },
  {
    method: 'get',
    path: '/v1/bookings/{id}',
    summary: 'One booking',
    auth: 'token',
    params: IdParam,
    answers: { 200: BookingAnswer },
  },
  {
    method: 'post',
    path: '/v1/bookings/{id}/confirm',
    summary: 'Confirm a booking (provider)',
    auth: 'token',
    params: IdParam,
    body: I.EmptyBody,
    answers: { 200: BookingAnswer },
  },
  {
    method: 'post',
    path: '/v1/bookings/{id}/decline',
    summary: 'Decline a booking (provider)',
    auth: 'token',
    params: IdParam,
    body: I.EmptyBody,
    answers: { 200: BookingAnswer },
  },
  {
    method: 'post',
    path: '/v1/bookings/{id}/waive',
    summary:
      'Waive the charge of a late cancel or client no-show (the booking’s provider): the credit comes back',
    auth: ['provider'],
    params: IdParam,
    body: I.EmptyBody,
    answers: { 200: BookingAnswer },
  },
  {
    method: 'post',
    path: '/v1/bookings/{id}/cancel',
    summary: 'Cancel a booking',
    auth: 'token',
    params: IdParam,
    body: I.CancelBody,
    answers: { 200: BookingAnswer },
  },
  {
    method: 'post',
    path: '/v1/bookings/{id}/reschedule',
    summary: 'Reschedule a booking: answers the new booking',
    auth: 'token',
    params: IdParam,
    body: I.RescheduleBody,
    answers: { 201: BookingAnswer },
  },
  {
    method: 'get',
    path: '/v1/bookings/{id}/join-links',
    summary: 'Join links of a booking, for a bot of the platform (or admin)',
    auth: ['bot', 'admin'],
    params: IdParam,
    answers: { 200: JoinLinks },
  },
  {
    method: 'get',
    path: '/v1/plan',
    summary: 'A client’s own plan, period, allowance and what of it is used',
    auth: ['client'],
    answers: { 200: A.PlanView },
  },
  {
    method: 'get',
    path: '/v1/credits',
    summary: 'A client’s credits and ledger',
    auth: ['client'],
    query: I.CreditsQuery,
    answers: { 200: A.Credits },
  },
  {
    method: 'post',
    path: '/v1/credits/purchase',
    summary: 'Buy live-session credits (out_of_pocket clients)',
    auth: ['client'],
    body: I.PurchaseBody,
    answers: { 201: A.Credits.extend({ creditIds: z.array(z.string()) }) },
  },
  {
    method: 'get',
    path: '/v1/join/{token}',
    summary:
      'What a join link grants its participant (the link is the credential; a platform token sent beside it must be the same participant’s)',
    auth: 'none',
    params: z.object({ token: z.string().max(4096) }),
    answers: { 200: JoinInfo },
  },
  {
    method: 'get',
    path: '/v1/admin/jobs/failed',
    summary: 'Jobs that used up their attempts',
    auth: ['admin'],
    query: I.FailedJobsQuery,
    answers: {
      200: z.object({ jobs: z.array(FailedJob), hasMore: z.boolean(), next: z.string().optional() }),
    },
  },
  {
    method: 'post',
    path: '/v1/admin/jobs/{id}/retry',
    summary: 'Run a failed job again',
    auth: ['admin'],
    params: IdParam,
    body: I.EmptyBody,
    answers: { 200: z.object({ job: z.object({ id: z.string(), kind: z.string(), runAt: Instant }) }) },
  },
  {
    method: 'post',
    path: '/v1/admin/rekey',
    summary: 'Re-encrypt everything stored to the first of ENCRYPTION_KEYS, in the background',
    auth: ['admin'],
    body: I.EmptyBody,
    answers: {
      202: z.object({
        key: z.string(),
        remaining: z.object({ messages: z.number().int(), chunks: z.number().int() }),
      }),
    },
  },
  {
    method: 'get',
    path: '/v1/users/{id}/export',
    summary: 'A user’s data as a zip: export.json and recordings/ (the user themself, or admin)',
    auth: 'token',
    params: IdParam,
    answers: { 200: { type: 'application/zip', description: 'export.json and recordings/, streamed' } },
  },
  {
    method: 'post',
    path: '/v1/users/{id}/erase',
    summary: 'Erase a user’s message texts, meta and recordings; messages stay as tombstones',
    auth: ['admin'],
    params: IdParam,
    body: I.EmptyBody,
    answers: {
      200: z.object({ erased: z.object({ messages: z.number().int(), recordings: z.number().int() }) }),
    },
  },
  {
    method: 'put',
    path: '/v1/users/{id}/hold',
    summary: 'Set or lift a legal hold (erasure answers legal_hold while it is set)',
    auth: ['admin'],
    params: IdParam,
    body: I.HoldBody,
    answers: { 200: z.object({ userId: z.string(), hold: z.boolean() }) },
  },
  {
    method: 'get',
    path: '/v1/audit',
    summary: 'The audit log, oldest first, filtered and paged',
    auth: ['admin'],
    query: I.AuditQuery,
    answers: { 200: z.object({ entries: z.array(A.AuditEntry), next: z.string().optional() }) },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    summary: 'Recompute the audit hash chain: brokenAt names the first entry that does not match',
    auth: ['admin'],
    answers: { 200: z.object({ ok: z.boolean(), brokenAt: z.string().optional() }) },
  },
];

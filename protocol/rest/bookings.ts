import { z } from 'zod';
import * as A from '../answers.ts';
import * as I from '../inputs.ts';
import { IdParam, Instant, type Route } from './route.ts';

const BookingAnswer = z.object({ booking: A.Booking });
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

/** Slots, bookings and their changes, join links, a client's plan and credits. */
export const bookingRoutes: readonly Route[] = [
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
];

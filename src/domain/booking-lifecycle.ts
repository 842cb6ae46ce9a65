/**
 * The booking lifecycle of DOMAIN.md as one table: for each event, the
 * statuses it may happen in, the status it leads to, and what goes with it
 * (the credit's move, a charge, the room's notice, the webhook, the timed
 * jobs). The services decide which event a request or a timer is and execute
 * its row; nothing else moves a booking. A test enumerates every status ×
 * event pair.
 */

import type { BookingStatus } from './bookings.ts';

export const BOOKING_EVENTS = [
  // A new booking (no status yet): a client's live booking waits for the provider.
  'book',
  // A provider's booking for their client, or a messaging session: confirmed at once.
  'book_confirmed',
  // The new booking a reschedule makes, waiting for the provider or confirmed.
  'rebook',
  'rebook_confirmed',
  'confirm',
  'decline',
  'expire',
  'cancel',
  'provider_cancel',
  'late_cancel',
  'reschedule',
  'late_reschedule',
  'reschedule_after_no_show',
  'waive',
  'start',
  'end',
  'messaging_start',
  'messaging_end',
  'client_no_show',
  'client_no_show_excused',
  'provider_no_show',
] as const;
export type BookingEvent = (typeof BOOKING_EVENTS)[number];

/** The timed steps of a booking; each is one job (id `booking:<id>:<name>`, reminders `reminder:<offset>`). */
export type BookingTimer =
  | 'confirm-deadline'
  | 'reminder'
  | 'no-show-check'
  | 'session-end'
  | 'messaging-start'
  | 'messaging-end';

/** The system messages the room is told with (the `event` of a notice's meta). */
export type NoticeEvent =
  | 'booked'
  | 'confirmed'
  | 'declined'
  | 'expired'
  | 'cancelled'
  | 'late_cancelled'
  | 'rescheduled'
  | 'session_started'
  | 'session_ended'
  | 'client_no_show'
  | 'provider_no_show'
  | 'charge_waived'
  | 'messaging_started'
  | 'messaging_ended';

export type CreditMove =
  /** The new booking holds its credit. */
  | { kind: 'reserve' }
  /** The credit goes with the booking to its new time (the new booking reserves it). */
  | { kind: 'move' }
  /**
   * Back to the client, from this booking's reserve (or, `of: 'forfeit'`, from
   * its forfeit); `givenBack`: the provider caused it, so it outlives its
   * period (POLICY_RESTORE_VALIDITY).
   */
  | { kind: 'restore'; reason: string; givenBack: boolean; of?: 'forfeit' }
  | { kind: 'forfeit'; reason: string }
  | { kind: 'consume'; reason: string };

export type ChargeStep =
  | { kind: 'charge'; reason: 'late_cancellation' | 'late_reschedule' | 'client_no_show' }
  | { kind: 'waive' };

export interface Transition {
  /** The statuses the event may happen in; 'new' for a booking being made. */
  from: readonly BookingStatus[] | 'new';
  /** The status it leads to; null: the booking's row is not changed. */
  to: BookingStatus | null;
  credit: CreditMove | null;
  charge: ChargeStep | null;
  /** What the room is told, in order. */
  notices: readonly NoticeEvent[];
  /** The webhook it sends, and what its data is: the booking, or the client and booking ids. */
  webhook: { type: string; data: 'booking' | 'ids' } | null;
  jobs: {
    /** 'all': every pending job of the booking. */
    cancel: 'all' | readonly BookingTimer[];
    /** Schedule the timed steps of the status it enters. */
    schedule: boolean;
  };
  /** A live session is over: its media is freed and its participants told. */
  endsSession: boolean;
}

const CHANGEABLE: readonly BookingStatus[] = ['pending_confirmation', 'confirmed'];
const NO_JOBS = { cancel: [], schedule: false } as const;
const ALL_JOBS = { cancel: 'all', schedule: false } as const;
const SCHEDULE = { cancel: [], schedule: true } as const;

const booking = (type: string) => ({ type, data: 'booking' as const });

function row(t: Partial<Transition> & Pick<Transition, 'from' | 'to'>): Transition {
  return { credit: null, charge: null, notices: [], webhook: null, jobs: NO_JOBS, endsSession: false, ...t };
}

export const LIFECYCLE: Readonly<Record<BookingEvent, Transition>> = {
  book: row({
    from: 'new',
    to: 'pending_confirmation',
    credit: { kind: 'reserve' },
    notices: ['booked'],
    webhook: booking('booking.created'),
    jobs: SCHEDULE,
  }),
  book_confirmed: row({
    from: 'new',
    to: 'confirmed',
    credit: { kind: 'reserve' },
    notices: ['booked', 'confirmed'],
    webhook: booking('booking.created'),
    jobs: SCHEDULE,
  }),
  rebook: row({
    from: 'new',
    to: 'pending_confirmation',
    credit: { kind: 'reserve' },
    notices: ['rescheduled'],
    webhook: booking('booking.rescheduled'),
    jobs: SCHEDULE,
  }),
  rebook_confirmed: row({
    from: 'new',
    to: 'confirmed',
    credit: { kind: 'reserve' },
    notices: ['rescheduled'],
    webhook: booking('booking.rescheduled'),
    jobs: SCHEDULE,
  }),
  confirm: row({
    from: ['pending_confirmation'],
    to: 'confirmed',
    notices: ['confirmed'],
    webhook: booking('booking.confirmed'),
    jobs: { cancel: ['confirm-deadline'], schedule: true },
  }),
  decline: row({
    from: ['pending_confirmation'],
    to: 'declined',
    credit: { kind: 'restore', reason: 'declined by provider', givenBack: true },
    notices: ['declined'],
    webhook: booking('booking.declined'),
    jobs: ALL_JOBS,
  }),
  expire: row({
    from: ['pending_confirmation'],
    to: 'expired',
    credit: { kind: 'restore', reason: 'not confirmed in time', givenBack: true },
    notices: ['expired'],
    webhook: booking('booking.expired'),
    jobs: ALL_JOBS,
  }),
  cancel: row({
    from: CHANGEABLE,
    to: 'cancelled',
    credit: { kind: 'restore', reason: 'cancelled in time', givenBack: false },
    notices: ['cancelled'],
    webhook: booking('booking.cancelled'),
    jobs: ALL_JOBS,
  }),
  provider_cancel: row({
    from: CHANGEABLE,
    to: 'cancelled',
    credit: { kind: 'restore', reason: 'cancelled by provider', givenBack: true },
    notices: ['cancelled'],
    webhook: booking('booking.cancelled'),
    jobs: ALL_JOBS,
  }),
  late_cancel: row({
    from: CHANGEABLE,
    to: 'late_cancelled',
    credit: { kind: 'forfeit', reason: 'late cancellation' },
    charge: { kind: 'charge', reason: 'late_cancellation' },
    notices: ['late_cancelled'],
    webhook: booking('booking.late_cancelled'),
    jobs: ALL_JOBS,
  }),
  // The new booking (rebook) tells the room and sends the webhook.
  reschedule: row({ from: CHANGEABLE, to: 'rescheduled', credit: { kind: 'move' }, jobs: ALL_JOBS }),
  late_reschedule: row({
    from: CHANGEABLE,
    to: 'rescheduled',
    credit: { kind: 'forfeit', reason: 'late reschedule' },
    charge: { kind: 'charge', reason: 'late_reschedule' },
    jobs: ALL_JOBS,
  }),
  // The client rebooks with the credit the provider's no-show gave back; the status stays, linked to the new booking.
  reschedule_after_no_show: row({
    from: ['provider_no_show'],
    to: 'provider_no_show',
    credit: { kind: 'move' },
    jobs: ALL_JOBS,
  }),
  waive: row({
    from: ['late_cancelled', 'client_no_show'],
    to: null,
    charge: { kind: 'waive' },
    credit: { kind: 'restore', reason: 'charge waived', givenBack: true, of: 'forfeit' },
    notices: ['charge_waived'],
    webhook: { type: 'credit.charge_waived', data: 'ids' },
  }),
  start: row({
    from: ['confirmed'],
    to: 'in_progress',
    credit: { kind: 'consume', reason: 'session started' },
    notices: ['session_started'],
    webhook: booking('session.started'),
    jobs: { cancel: ['no-show-check'], schedule: false },
  }),
  end: row({
    from: ['in_progress'],
    to: 'completed',
    notices: ['session_ended'],
    webhook: booking('session.ended'),
    jobs: ALL_JOBS,
    endsSession: true,
  }),
  messaging_start: row({
    from: ['confirmed'],
    to: 'in_progress',
    credit: { kind: 'consume', reason: 'messaging session started' },
    notices: ['messaging_started'],
    webhook: booking('session.started'),
  }),
  messaging_end: row({
    from: ['in_progress'],
    to: 'completed',
    notices: ['messaging_ended'],
    webhook: booking('session.ended'),
  }),
  client_no_show: row({
    from: ['confirmed'],
    to: 'client_no_show',
    credit: { kind: 'forfeit', reason: 'client no-show' },
    charge: { kind: 'charge', reason: 'client_no_show' },
    notices: ['client_no_show'],
    webhook: booking('session.no_show'),
    jobs: ALL_JOBS,
    endsSession: true,
  }),
  // The provider booked it for them too close to its start to count it against them.
  client_no_show_excused: row({
    from: ['confirmed'],
    to: 'client_no_show',
    credit: { kind: 'restore', reason: 'client no-show without notice', givenBack: true },
    notices: ['client_no_show'],
    webhook: booking('session.no_show'),
    jobs: ALL_JOBS,
    endsSession: true,
  }),
  provider_no_show: row({
    from: ['confirmed'],
    to: 'provider_no_show',
    credit: { kind: 'restore', reason: 'provider no-show', givenBack: true },
    notices: ['provider_no_show'],
    webhook: booking('session.no_show'),
    jobs: ALL_JOBS,
    endsSession: true,
  }),
};

/** The credit webhook each ledger move sends (a reserve or a move sends none). */
export const CREDIT_WEBHOOK = {
  reserve: null,
  move: null,
  restore: 'credit.restored',
  forfeit: 'credit.forfeited',
  consume: 'credit.consumed',
} as const satisfies Record<CreditMove['kind'], string | null>;

/** The events a client or provider asks for that change a booking's time or existence. */
const CHANGES: readonly BookingEvent[] = [
  'cancel',
  'provider_cancel',
  'late_cancel',
  'reschedule',
  'late_reschedule',
];

export type Decision =
  | { ok: true; row: Transition }
  | { ok: false; code: 'conflict' | 'session_already_started'; message: string };

/** Whether `event` may happen to a booking in `status` (null: a booking not yet made), and its row if so. */
export function decide(status: BookingStatus | null, event: BookingEvent): Decision {
  const r = LIFECYCLE[event];
  if (status === null) {
    return r.from === 'new'
      ? { ok: true, row: r }
      : { ok: false, code: 'conflict', message: `${event} needs an existing booking` };
  }
  if (r.from !== 'new' && r.from.includes(status)) return { ok: true, row: r };
  if (status === 'in_progress' && CHANGES.includes(event)) {
    return {
      ok: false,
      code: 'session_already_started',
      message: 'the session has started; it can no longer be changed',
    };
  }
  const wanted = r.from === 'new' ? 'a new booking' : r.from.join(' or ');
  return { ok: false, code: 'conflict', message: `booking is ${status}, not ${wanted}` };
}

/**
 * Every webhook a row can send, in the order the services send them: the
 * credit's, the charge's, the row's own. (A credit move sends its webhook only
 * when the ledger moves: a restore after a waive only if the credit was forfeited.)
 */
export function webhooksOf(r: Transition): string[] {
  const all = [
    r.credit && CREDIT_WEBHOOK[r.credit.kind],
    r.charge?.kind === 'charge' ? 'credit.charged' : null,
    r.webhook?.type,
  ];
  return all.filter((x): x is string => !!x);
}

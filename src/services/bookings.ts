import type { Actor } from '../domain/types.ts';
import type { Booking } from '../store/bookings.ts';
import { cancelBooking, confirmBooking, declineBooking, waiveCharge } from './bookings/changes.ts';
import { type CreateBookingInput, createBooking } from './bookings/create.ts';
import { type BookingDeps, Lifecycle } from './bookings/lifecycle.ts';
import { listBookings, messagingGate, openSlots } from './bookings/reads.ts';
import { rescheduleBooking } from './bookings/reschedule.ts';
import { bookingTimers } from './bookings/timers.ts';
import type { MessagingSessionGate } from './ports.ts';

export { type CreateBookingInput, DEFAULT_SESSION_MIN } from './bookings/create.ts';
export type { BookingDeps } from './bookings/lifecycle.ts';

/**
 * The booking requests of DOMAIN.md, one operation a file under bookings/:
 * booking against open slots and credits, provider confirmation,
 * cancellation and rescheduling with the late-window rules, waivers, and the
 * reads. Every change executes a row of the lifecycle table; the timers are
 * the scheduler's job handlers; attendance is the live side's (live-attendance.ts).
 */
export class BookingService {
  readonly lifecycle: Lifecycle;
  /** eap and bh_insurance clients message while a messaging session is in progress. */
  readonly gate: MessagingSessionGate;
  /** The scheduler's handlers of the booking jobs. */
  readonly timers: ReturnType<typeof bookingTimers>;

  constructor(d: BookingDeps) {
    this.lifecycle = new Lifecycle(d);
    this.gate = messagingGate(this.lifecycle);
    this.timers = bookingTimers(this.lifecycle);
  }

  create(actor: Actor, input: CreateBookingInput): Promise<Booking> {
    return createBooking(this.lifecycle, actor, input);
  }

  confirm(actor: Actor, id: string): Promise<Booking> {
    return confirmBooking(this.lifecycle, actor, id);
  }

  decline(actor: Actor, id: string): Promise<Booking> {
    return declineBooking(this.lifecycle, actor, id);
  }

  cancel(actor: Actor, id: string, reason: string | undefined): Promise<Booking> {
    return cancelBooking(this.lifecycle, actor, id, reason);
  }

  reschedule(actor: Actor, id: string, input: { startsAt: string; purchase?: boolean | undefined }) {
    return rescheduleBooking(this.lifecycle, actor, id, input);
  }

  waive(actor: Actor, id: string): Promise<Booking> {
    return waiveCharge(this.lifecycle, actor, id);
  }

  get(actor: Actor, id: string): Promise<Booking> {
    return this.lifecycle.read(actor, id);
  }

  list(actor: Actor, filter: Parameters<typeof listBookings>[2]) {
    return listBookings(this.lifecycle, actor, filter);
  }

  slots(providerId: string, q: Parameters<typeof openSlots>[2]) {
    return openSlots(this.lifecycle, providerId, q);
  }

  joinUrl(b: Pick<Booking, 'id' | 'startsAt' | 'endsAt'>, userId: string): string {
    return this.lifecycle.joinUrl(b, userId);
  }
}

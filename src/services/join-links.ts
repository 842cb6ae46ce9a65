import { botMayPost } from '../domain/access.ts';
import type { Policy } from '../domain/bookings.ts';
import { joinWindow } from '../domain/bookings.ts';
import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import { BookingStore } from '../store/bookings.ts';
import type { Db } from '../store/db.ts';
import type { BookingService } from './bookings.ts';

/** Statuses whose links open (or will open, once confirmed) the session. */
const LINKABLE = new Set(['pending_confirmation', 'confirmed', 'in_progress']);

/**
 * The join links of a booking for whoever posts reminders: a bot whose token
 * names the booking's room, or the platform's backend (admin). The links are
 * the same signed, per-participant tokens the server's own reminders carry.
 */
export class JoinLinks {
  readonly #d: { db: Db; bookings: BookingService; policy: Policy };
  constructor(d: { db: Db; bookings: BookingService; policy: Policy }) {
    this.#d = d;
  }

  async forBooking(actor: Actor, bookingId: string) {
    if (actor.role !== 'bot' && actor.role !== 'admin')
      throw new AppError('forbidden', 'join links are for bots and the platform (admin)');
    const b = await new BookingStore(this.#d.db).get(bookingId);
    if (!b) throw new AppError('not_found', `booking ${bookingId} not found`);
    if (actor.role === 'bot' && !botMayPost(actor, b.roomId))
      throw new AppError('forbidden', "the bot's token does not name this booking's room");
    if (b.modality === 'messaging')
      throw new AppError('invalid_input', 'a messaging session has no live session to join');
    if (!LINKABLE.has(b.status))
      throw new AppError('conflict', `the booking is ${b.status}: its session can no longer be joined`);
    const w = joinWindow({ startsAt: new Date(b.startsAt), endsAt: new Date(b.endsAt) }, this.#d.policy);
    return {
      joinUrls: {
        [b.clientId]: this.#d.bookings.joinUrl(b, b.clientId),
        [b.providerId]: this.#d.bookings.joinUrl(b, b.providerId),
      },
      opensAt: w.opensAt.toISOString(),
      closesAt: w.closesAt.toISOString(),
    };
  }
}

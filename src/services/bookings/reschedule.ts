import { randomUUID } from 'node:crypto';
import type { BookingEvent } from '../../domain/booking-lifecycle.ts';
import { isLate, meetsNotice } from '../../domain/bookings.ts';
import type { Actor } from '../../domain/types.ts';
import { AppError } from '../../errors.ts';
import type { Booking } from '../../store/bookings.ts';
import { assertMayManage, assertNoMessagingOverlap, assertNotStarted, assertSlotFree } from './checks.ts';
import { type Lifecycle, told } from './lifecycle.ts';

/**
 * Moves a booking to a new time: a new booking linked to the old one. The
 * same credit moves with it, unless the client moves it inside the late
 * window (that credit is forfeited and the new booking takes another). After
 * a provider no-show the client reschedules with the credit it gave back.
 */
export async function rescheduleBooking(
  lc: Lifecycle,
  actor: Actor,
  id: string,
  input: { startsAt: string; purchase?: boolean | undefined },
): Promise<Booking> {
  const { policy, credits } = lc.d;
  assertMayManage(actor);
  const now = lc.d.clock.now();
  const startsAt = new Date(input.startsAt);
  if (!meetsNotice(startsAt, now, policy))
    throw new AppError('invalid_input', 'startsAt: is in the past or too soon');
  return lc.d.uow.run(async (t) => {
    const old = await lc.loadForChange(t, actor, id);
    const afterNoShow = old.status === 'provider_no_show' && !old.rescheduledTo;
    const late = !afterNoShow && actor.role === 'client' && isLate(told(old), now, policy);
    // A late move costs the credit it holds; a booking holding none has nothing to lose.
    const event: BookingEvent = afterNoShow
      ? 'reschedule_after_no_show'
      : late && old.creditId
        ? 'late_reschedule'
        : 'reschedule';
    if (!afterNoShow) assertNotStarted(old, now);
    lc.assertAllowed(old, event);

    const durationMs = Date.parse(old.endsAt) - Date.parse(old.startsAt);
    const endsAt = new Date(startsAt.getTime() + durationMs);
    const messaging = old.modality === 'messaging';
    await t.bookings.lockUsers([old.clientId, old.providerId]);
    if (!messaging) {
      const slot = { providerId: old.providerId, startsAt, durationMs, now, exceptId: old.id };
      await assertSlotFree(t, policy, slot);
    } else await assertNoMessagingOverlap(t, old.clientId, startsAt, endsAt, old.id);

    const newId = randomUUID();
    let creditId = old.creditId;
    if (late || !creditId) {
      const period = await credits.ensurePeriod(t, old.clientId, now);
      creditId = await credits.take(t, old.clientId, messaging ? 'messaging' : 'live', newId, {
        purchase: !!input.purchase,
        outOfPocket: period?.plan.kind === 'out_of_pocket',
        now,
      });
    } else if (afterNoShow && !(await credits.stillRestored(t, creditId))) {
      throw new AppError('conflict', 'the credit this booking gave back has been used');
    }
    const fresh = await lc.enter(
      t,
      actor,
      actor.role === 'provider' || messaging ? 'rebook_confirmed' : 'rebook',
      {
        id: newId,
        roomId: old.roomId,
        clientId: old.clientId,
        providerId: old.providerId,
        modality: old.modality,
        startsAt,
        endsAt,
        creditId,
        rescheduledFrom: old.id,
      },
      afterNoShow ? 'rescheduled after provider no-show' : 'rescheduled',
      now,
      { notice: { from: old.id, late }, hook: { rescheduledFrom: old.id, late } },
    );
    // After the new booking exists: the old one links to it.
    await lc.apply(t, old, event, now, { set: { rescheduledTo: newId } });
    await lc.audited(t, actor, 'booking.reschedule', fresh, now);
    return fresh;
  });
}

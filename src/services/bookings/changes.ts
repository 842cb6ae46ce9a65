import { isLate } from '../../domain/bookings.ts';
import type { Actor } from '../../domain/types.ts';
import { AppError } from '../../errors.ts';
import type { Booking } from '../../store/bookings.ts';
import type { AuditAction } from '../audit.ts';
import type { Tx } from '../unit-of-work.ts';
import { assertMayManage, assertNotStarted } from './checks.ts';
import { type Lifecycle, told } from './lifecycle.ts';

/** A change only the booking's provider makes (`verb` names it in the refusal), audited. */
function byProvider(
  lc: Lifecycle,
  actor: Actor,
  id: string,
  o: { verb: string; action: AuditAction },
  fn: (t: Tx, b: Booking, now: Date) => Promise<Booking>,
): Promise<Booking> {
  assertMayManage(actor);
  const now = lc.d.clock.now();
  return lc.d.uow.run(async (t) => {
    const b = await lc.loadForChange(t, actor, id);
    if (actor.id !== b.providerId) throw new AppError('forbidden', `only the booking’s provider ${o.verb}`);
    const changed = await fn(t, b, now);
    await lc.audited(t, actor, o.action, changed, now);
    return changed;
  });
}

/** The provider confirms a booking waiting for them, until its confirmation deadline. */
export function confirmBooking(lc: Lifecycle, actor: Actor, id: string): Promise<Booking> {
  return byProvider(lc, actor, id, { verb: 'confirms it', action: 'booking.confirm' }, async (t, b, now) => {
    lc.assertAllowed(b, 'confirm');
    if (b.confirmBy && Date.parse(b.confirmBy) <= now.getTime()) {
      await lc.apply(t, b, 'expire', now);
      throw new AppError('conflict', 'the confirmation deadline has passed; the booking expired');
    }
    return lc.apply(t, b, 'confirm', now);
  });
}

/** The provider declines a booking waiting for them: the client's credit comes back. */
export function declineBooking(lc: Lifecycle, actor: Actor, id: string): Promise<Booking> {
  const o = { verb: 'declines it', action: 'booking.decline' } as const;
  return byProvider(lc, actor, id, o, (t, b, now) => lc.apply(t, b, 'decline', now));
}

/**
 * Either participant cancels. A client inside the late window loses the
 * credit and is charged; in time, or the provider cancelling, the credit comes back.
 */
export async function cancelBooking(lc: Lifecycle, actor: Actor, id: string, reason: string | undefined) {
  assertMayManage(actor);
  const now = lc.d.clock.now();
  return lc.d.uow.run(async (t) => {
    const b = await lc.loadForChange(t, actor, id);
    assertNotStarted(b, now);
    const byProvider = actor.role === 'provider';
    const late = !byProvider && isLate(told(b), now, lc.d.policy);
    const event = late ? 'late_cancel' : byProvider ? 'provider_cancel' : 'cancel';
    const cancelReason = reason ?? (byProvider ? 'cancelled by provider' : 'cancelled by client');
    const cancelled = await lc.apply(t, b, event, now, { set: { cancelReason } });
    await lc.audited(t, actor, 'booking.cancel', cancelled, now);
    return cancelled;
  });
}

/**
 * The booking's provider waives the charge of a late cancel or a client
 * no-show (say the client asked in the room): the credit comes back and the
 * charge stays on record, marked waived.
 */
export async function waiveCharge(lc: Lifecycle, actor: Actor, id: string): Promise<Booking> {
  assertMayManage(actor);
  const now = lc.d.clock.now();
  return lc.d.uow.run(async (t) => {
    const b = await lc.loadForChange(t, actor, id);
    if (actor.id !== b.providerId)
      throw new AppError('forbidden', 'only the booking’s provider waives its charge');
    const waived = await lc.apply(t, b, 'waive', now, { by: actor.id });
    await lc.audited(t, actor, 'booking.waive', waived, now);
    return waived;
  });
}

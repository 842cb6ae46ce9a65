import { randomUUID } from 'node:crypto';
import { type Modality, meetsNotice } from '../../domain/bookings.ts';
import type { Actor } from '../../domain/types.ts';
import { AppError } from '../../errors.ts';
import type { Booking } from '../../store/bookings.ts';
import { readableRoom } from '../rooms.ts';
import { assertMayManage, assertNoMessagingOverlap, assertSlotFree } from './checks.ts';
import type { Lifecycle } from './lifecycle.ts';

export const DEFAULT_SESSION_MIN = 50;

export interface CreateBookingInput {
  roomId: string;
  modality: Modality;
  startsAt: string;
  durationMin?: number | undefined;
  purchase?: boolean | undefined;
}

/**
 * Books a session in a therapy room against the provider's open slots and the
 * client's credits (out-of-pocket clients may buy one while booking). A
 * provider's booking for their client, or a messaging session, needs no
 * confirmation.
 */
export async function createBooking(
  lc: Lifecycle,
  actor: Actor,
  input: CreateBookingInput,
): Promise<Booking> {
  const { policy, credits } = lc.d;
  assertMayManage(actor);
  const room = await readableRoom(lc.d.store, actor, input.roomId);
  if (room.kind !== 'therapy')
    throw new AppError('invalid_input', 'roomId: sessions are booked in therapy rooms');
  const now = lc.d.clock.now();
  const startsAt = new Date(input.startsAt);

  if (room.service === 'psychiatry' && input.modality !== 'video') {
    throw new AppError('psychiatry_video_only', 'psychiatry sessions are live video only');
  }
  if (!meetsNotice(startsAt, now, policy)) {
    throw new AppError(
      'invalid_input',
      startsAt <= now
        ? 'startsAt: is in the past'
        : `startsAt: must be at least ${policy.minNoticeMs / 60_000} minutes ahead`,
    );
  }
  const messaging = input.modality === 'messaging';
  if (messaging && input.durationMin !== undefined) {
    throw new AppError('invalid_input', 'durationMin: a messaging session lasts the policy length');
  }
  if (messaging && input.purchase)
    throw new AppError('invalid_input', 'purchase: only live credits are bought');
  const durationMs = messaging
    ? policy.messagingSessionMs
    : (input.durationMin ?? DEFAULT_SESSION_MIN) * 60_000;
  const endsAt = new Date(startsAt.getTime() + durationMs);
  const clientId = room.clientId!;
  const providerId = room.providerId!;

  return lc.d.uow.run(async (t) => {
    await t.bookings.lockUsers([clientId, providerId]);
    const period = await credits.ensurePeriod(t, clientId, now);
    const plan = period?.plan;
    if (messaging && plan?.kind !== 'eap' && plan?.kind !== 'bh_insurance') {
      throw new AppError(
        'invalid_input',
        'modality: messaging sessions are booked on eap and bh_insurance plans; others message any time',
      );
    }
    if (!messaging)
      await assertSlotFree(t, policy, { providerId, startsAt, durationMs, now, exceptId: null });
    else await assertNoMessagingOverlap(t, clientId, startsAt, endsAt, null);

    const id = randomUUID();
    const creditId = await credits.take(t, clientId, messaging ? 'messaging' : 'live', id, {
      purchase: !!input.purchase,
      outOfPocket: plan?.kind === 'out_of_pocket',
      now,
    });
    const event = actor.role === 'provider' || messaging ? 'book_confirmed' : 'book';
    const fresh = { id, roomId: room.id, clientId, providerId, modality: input.modality, startsAt, endsAt };
    const booking = await lc.enter(
      t,
      actor,
      event,
      { ...fresh, creditId, rescheduledFrom: null },
      'booked',
      now,
    );
    await lc.audited(t, actor, 'booking.create', booking, now);
    return booking;
  });
}

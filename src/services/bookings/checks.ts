import type { Policy } from '../../domain/bookings.ts';
import { isOpenSlot } from '../../domain/slots.ts';
import type { Actor } from '../../domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../../domain/working-hours.ts';
import { AppError } from '../../errors.ts';
import type { Booking } from '../../store/bookings.ts';
import type { Tx } from '../unit-of-work.ts';

/** Support staff help with requests but never manage sessions for anyone. */
export function assertMayManage(actor: Actor): void {
  if (actor.role === 'support') {
    throw new AppError(
      'support_cannot_manage_sessions',
      'support cannot schedule, reschedule or cancel sessions for anyone',
    );
  }
  if (actor.role !== 'client' && actor.role !== 'provider') {
    throw new AppError('forbidden', 'sessions are managed by their client and provider');
  }
}

/**
 * A messaging session is under way from its start, before its timer has moved
 * it to in_progress: from then on it can no longer be changed (the table
 * refuses an in_progress booking with the same code).
 */
export function assertNotStarted(b: Booking, now: Date): void {
  if (b.modality === 'messaging' && b.status === 'confirmed' && Date.parse(b.startsAt) <= now.getTime())
    throw new AppError('session_already_started', 'the session has started; it can no longer be changed');
}

/** Two messaging sessions of one client never overlap: each would spend a credit on the same days. */
export async function assertNoMessagingOverlap(
  t: Tx,
  clientId: string,
  from: Date,
  to: Date,
  exceptId: string | null,
) {
  if (await t.bookings.messagingOverlaps(clientId, from, to, exceptId)) {
    throw new AppError('conflict', 'startsAt: the client already has a messaging session in that time');
  }
}

/** The time is one of the provider's open slots, and nobody holds it (`exceptId`: the booking being moved). */
export async function assertSlotFree(
  t: Tx,
  policy: Policy,
  s: { providerId: string; startsAt: Date; durationMs: number; now: Date; exceptId: string | null },
) {
  const provider = await t.users.get(s.providerId);
  if (!provider) throw new AppError('not_found', `provider ${s.providerId} not found`);
  const slot = {
    startsAt: s.startsAt,
    durationMin: s.durationMs / 60_000,
    stepMs: policy.slotStepMs,
    timezone: provider.timezone,
    hours: provider.workingHours ?? DEFAULT_WORKING_HOURS,
    notBefore: new Date(s.now.getTime() + policy.minNoticeMs),
  };
  if (!isOpenSlot({ ...slot, busy: [] })) {
    throw new AppError(
      'invalid_input',
      'startsAt: not one of the provider’s slots (see GET /v1/providers/:id/slots)',
    );
  }
  const end = new Date(s.startsAt.getTime() + s.durationMs);
  const busy = await t.bookings.busy(s.providerId, s.startsAt, end, s.exceptId ?? undefined);
  if (busy.length) throw new AppError('conflict', 'startsAt: that slot has just been taken');
}

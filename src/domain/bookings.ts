/**
 * The session rules of DOMAIN.md as pure functions of a booking, the policy
 * and the time. No I/O: the services apply what these decide.
 */

import { type BookingStatus, LIVE_MODALITIES, type Modality } from '../../protocol/vocabulary.ts';

export {
  BOOKING_STATUSES,
  type BookingStatus,
  LIVE_MODALITIES,
  MODALITIES,
  type Modality,
} from '../../protocol/vocabulary.ts';

/** Statuses in which a booking still holds its slot and credit. */
export const ACTIVE_STATUSES: readonly BookingStatus[] = ['pending_confirmation', 'confirmed', 'in_progress'];

export interface Policy {
  lateWindowMs: number;
  confirmDeadlineMs: number;
  noShowGraceMs: number;
  joinOpensMs: number;
  remindersMs: number[];
  messagingSessionMs: number;
  minNoticeMs: number;
  /** Open slots start on this grid within working hours. */
  slotStepMs: number;
  /** A booking younger than this (since the client was told of it) is undone without charge. */
  cancelGraceMs: number;
  /** A credit the provider gave back (decline, cancel, unconfirmed, no-show) stays usable at least this long. */
  restoreValidityMs: number;
}

export interface BookingTimes {
  startsAt: Date;
  endsAt: Date;
}

/**
 * The provider confirms up to POLICY_CONFIRM_DEADLINE before the start. A
 * session booked closer than that to its start can be confirmed until it starts.
 */
export function confirmBy(b: BookingTimes, now: Date, p: Policy): Date {
  const deadline = b.startsAt.getTime() - p.confirmDeadlineMs;
  return new Date(deadline > now.getTime() ? deadline : b.startsAt.getTime());
}

/**
 * When the client learned of a booking: the room is told in the transaction
 * that makes it, so this is its creation, whoever made it.
 */
export interface ToldBooking extends BookingTimes {
  toldAt: Date;
}

/**
 * Inside the late window, a client's cancel or reschedule costs the credit —
 * unless the client was told of the booking less than POLICY_CANCEL_GRACE ago:
 * a booking undone at once, or one the provider just made for them, is not late.
 */
export const isLate = (b: ToldBooking, now: Date, p: Policy): boolean =>
  now.getTime() >= b.startsAt.getTime() - p.lateWindowMs &&
  now.getTime() - b.toldAt.getTime() >= p.cancelGraceMs;

/**
 * Whether missing a session costs the client. Not when the provider booked it
 * and the client was told less than POLICY_CANCEL_GRACE before its start: they
 * could not reasonably have come, nor cancelled in time.
 */
export const noShowCosts = (b: ToldBooking & { providerMade: boolean }, p: Policy): boolean =>
  !b.providerMade || b.startsAt.getTime() - b.toldAt.getTime() >= p.cancelGraceMs;

/** How long a credit the provider gave back stays usable: its own expiry, or POLICY_RESTORE_VALIDITY from now if later. */
export function restoredExpiry(current: Date | null, now: Date, p: Policy): Date | null {
  if (current === null) return null;
  const floor = now.getTime() + p.restoreValidityMs;
  return new Date(Math.max(current.getTime(), floor));
}

/**
 * When the reminders go out: each configured offset before the start that is
 * still ahead. A session confirmed after its last offset gets its reminder at
 * once (there is always a reminder with the join link, if reminders are on).
 */
export function reminderTimes(b: BookingTimes, now: Date, p: Policy): Array<{ offsetMs: number; at: Date }> {
  const ahead = p.remindersMs
    .map((offsetMs) => ({ offsetMs, at: new Date(b.startsAt.getTime() - offsetMs) }))
    .filter((r) => r.at.getTime() > now.getTime());
  if (ahead.length > 0 || p.remindersMs.length === 0 || b.startsAt.getTime() <= now.getTime()) return ahead;
  return [{ offsetMs: b.startsAt.getTime() - now.getTime(), at: now }];
}

/** A join link works from POLICY_JOIN_OPENS before the start until the session's end. */
export const joinWindow = (b: BookingTimes, p: Policy) => ({
  opensAt: new Date(b.startsAt.getTime() - p.joinOpensMs),
  closesAt: b.endsAt,
});

/**
 * Whether the session's participants may chat under its booking id now: a
 * video, audio or chat session, from its join window's opening (chat while
 * waiting) until it ends. One under way counts until it is closed.
 */
export function sessionChatOpen(
  b: BookingTimes & { modality: Modality; status: BookingStatus },
  now: Date,
  p: Policy,
): boolean {
  if (!(LIVE_MODALITIES as readonly Modality[]).includes(b.modality)) return false;
  if (b.status === 'in_progress') return true;
  if (b.status !== 'confirmed') return false;
  const w = joinWindow(b, p);
  return now >= w.opensAt && now < w.closesAt;
}

/** Whether a booking's start is far enough ahead to be booked now. */
export const meetsNotice = (startsAt: Date, now: Date, p: Policy): boolean =>
  startsAt.getTime() >= now.getTime() + p.minNoticeMs && startsAt.getTime() > now.getTime();

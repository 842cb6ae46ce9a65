import type { Booking } from './api.ts';

/**
 * The server's policy defaults (POLICY_LATE_WINDOW, POLICY_CANCEL_GRACE,
 * POLICY_JOIN_OPENS): the app warns by them; the server decides. The API does
 * not say a deployment's own values, so one with others would be warned by these.
 */
export const LATE_WINDOW_MS = 24 * 3_600_000;
export const CANCEL_GRACE_MS = 3_600_000;
export const JOIN_OPENS_MS = 10 * 60_000;

/**
 * Whether a client's cancel or reschedule now would lose the credit and be
 * charged: inside the late window before the start, and past the grace after
 * the booking was made (a provider-made booking counts from its creation, the
 * closest the app knows to when the client was told).
 */
export function isLate(b: Pick<Booking, 'status' | 'startsAt' | 'createdAt'>, now = Date.now()): boolean {
  if (b.status !== 'confirmed' && b.status !== 'pending_confirmation') return false;
  return Date.parse(b.startsAt) - now < LATE_WINDOW_MS && now - Date.parse(b.createdAt) >= CANCEL_GRACE_MS;
}

/** When the join link starts to work. */
export const joinOpensAt = (b: Pick<Booking, 'startsAt'>): Date =>
  new Date(Date.parse(b.startsAt) - JOIN_OPENS_MS);

import { describe, expect, it } from 'vitest';
import {
  BOOKING_EVENTS,
  type BookingEvent,
  decide,
  LIFECYCLE,
  webhooksOf,
} from '../../src/domain/booking-lifecycle.ts';
import { BOOKING_STATUSES, type BookingStatus } from '../../src/domain/bookings.ts';

/**
 * The lifecycle as DOMAIN.md states it, written out again by hand: for each
 * event the statuses it may happen in (null: a booking not yet made) and the
 * status it leads to. The table in src/domain must agree pair by pair.
 */
const EXPECTED: Record<
  BookingEvent,
  { from: ReadonlyArray<BookingStatus | null>; to: BookingStatus | null }
> = {
  book: { from: [null], to: 'pending_confirmation' },
  book_confirmed: { from: [null], to: 'confirmed' },
  rebook: { from: [null], to: 'pending_confirmation' },
  rebook_confirmed: { from: [null], to: 'confirmed' },
  confirm: { from: ['pending_confirmation'], to: 'confirmed' },
  decline: { from: ['pending_confirmation'], to: 'declined' },
  expire: { from: ['pending_confirmation'], to: 'expired' },
  cancel: { from: ['pending_confirmation', 'confirmed'], to: 'cancelled' },
  provider_cancel: { from: ['pending_confirmation', 'confirmed'], to: 'cancelled' },
  late_cancel: { from: ['pending_confirmation', 'confirmed'], to: 'late_cancelled' },
  reschedule: { from: ['pending_confirmation', 'confirmed'], to: 'rescheduled' },
  late_reschedule: { from: ['pending_confirmation', 'confirmed'], to: 'rescheduled' },
  reschedule_after_no_show: { from: ['provider_no_show'], to: 'provider_no_show' },
  waive: { from: ['late_cancelled', 'client_no_show'], to: null },
  start: { from: ['confirmed'], to: 'in_progress' },
  end: { from: ['in_progress'], to: 'completed' },
  messaging_start: { from: ['confirmed'], to: 'in_progress' },
  messaging_end: { from: ['in_progress'], to: 'completed' },
  client_no_show: { from: ['confirmed'], to: 'client_no_show' },
  client_no_show_excused: { from: ['confirmed'], to: 'client_no_show' },
  provider_no_show: { from: ['confirmed'], to: 'provider_no_show' },
};

/** A started session can no longer be cancelled or moved: that refusal has its own code. */
const CHANGES: readonly BookingEvent[] = [
  'cancel',
  'provider_cancel',
  'late_cancel',
  'reschedule',
  'late_reschedule',
];

const STATES: ReadonlyArray<BookingStatus | null> = [null, ...BOOKING_STATUSES];

describe('the booking lifecycle table', () => {
  it('has a row for every event, and only those', () => {
    expect(Object.keys(LIFECYCLE).sort()).toEqual([...BOOKING_EVENTS].sort());
    expect(Object.keys(EXPECTED).sort()).toEqual([...BOOKING_EVENTS].sort());
  });

  describe.each(STATES.map((s) => [s ?? '(new)', s] as const))('a booking %s', (_name, status) => {
    it.each([...BOOKING_EVENTS])('%s: has a row or is refused with a code', (event) => {
      const d = decide(status, event);
      const allowed = EXPECTED[event].from.includes(status);
      if (allowed) {
        expect(d).toEqual({ ok: true, row: LIFECYCLE[event] });
        if (d.ok) expect(d.row.to).toBe(EXPECTED[event].to);
        return;
      }
      const code =
        status === 'in_progress' && CHANGES.includes(event) ? 'session_already_started' : 'conflict';
      expect(d).toMatchObject({ ok: false, code });
      if (!d.ok) expect(d.message).not.toBe('');
    });
  });

  it('nothing leaves a terminal status but a waive, or a rebooking after a provider no-show', () => {
    const terminal = BOOKING_STATUSES.filter(
      (s) => !['pending_confirmation', 'confirmed', 'in_progress'].includes(s),
    );
    for (const s of terminal) {
      const allowed = BOOKING_EVENTS.filter((e) => decide(s, e).ok);
      for (const e of allowed) expect(['waive', 'reschedule_after_no_show']).toContain(e);
    }
  });

  it('every forfeit is charged and sends credit.forfeited, a late reschedule as much as a late cancel', () => {
    for (const event of BOOKING_EVENTS) {
      const r = LIFECYCLE[event];
      if (r.credit?.kind !== 'forfeit') continue;
      expect(r.charge?.kind, event).toBe('charge');
      expect(webhooksOf(r), event).toEqual(expect.arrayContaining(['credit.forfeited', 'credit.charged']));
    }
    expect(webhooksOf(LIFECYCLE.late_reschedule)).toEqual(['credit.forfeited', 'credit.charged']);
    expect(webhooksOf(LIFECYCLE.late_cancel)).toEqual([
      'credit.forfeited',
      'credit.charged',
      'booking.late_cancelled',
    ]);
  });

  it('a credit the provider gave back outlives its period; one the client gave back in time does not', () => {
    const givenBack = BOOKING_EVENTS.filter((e) => {
      const c = LIFECYCLE[e].credit;
      return c?.kind === 'restore' && c.givenBack;
    });
    expect(givenBack.sort()).toEqual(
      ['client_no_show_excused', 'decline', 'expire', 'provider_cancel', 'provider_no_show', 'waive'].sort(),
    );
    expect(LIFECYCLE.cancel.credit).toMatchObject({ kind: 'restore', givenBack: false });
  });

  it('a session that starts uses its credit; one that ends or is missed frees the live media', () => {
    expect(LIFECYCLE.start.credit?.kind).toBe('consume');
    expect(LIFECYCLE.messaging_start.credit?.kind).toBe('consume');
    const ending = BOOKING_EVENTS.filter((e) => LIFECYCLE[e].endsSession).sort();
    expect(ending).toEqual(['client_no_show', 'client_no_show_excused', 'end', 'provider_no_show'].sort());
  });

  it('every change the room can see is told to it, and every booking change reaches the webhook', () => {
    for (const event of BOOKING_EVENTS) {
      const r = LIFECYCLE[event];
      // The old booking of a reschedule is told through its new one.
      if (['reschedule', 'late_reschedule', 'reschedule_after_no_show'].includes(event)) {
        expect(r.notices, event).toEqual([]);
        expect(r.webhook, event).toBeNull();
        continue;
      }
      expect(r.notices.length, event).toBeGreaterThan(0);
      expect(r.webhook, event).not.toBeNull();
    }
  });
});

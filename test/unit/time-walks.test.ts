import { describe, expect, it } from 'vitest';
import { periodAt } from '../../src/domain/periods.ts';
import { replyDueAt } from '../../src/domain/reply-due.ts';
import {
  MAX_SLOT_DAYS,
  MAX_SLOT_MARKS,
  MAX_SLOTS,
  openSlots,
  type SlotQuery,
  slotPage,
} from '../../src/domain/slots.ts';
import type { WorkingHours } from '../../src/domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../../src/domain/working-hours.ts';

/**
 * Every loop that walks time ends after a number of steps fixed in the code,
 * whatever the settings (slot step) and the inputs (range, hours, bookings,
 * plan dates) say.
 */

const at = (iso: string) => new Date(iso);
const DAY = 86_400_000;
const ALL_DAY: WorkingHours = Object.fromEntries(
  ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]),
);
const ONE_MINUTE_A_WEEK: WorkingHours = { mon: [['09:00', '09:01']] };
// Monday 2026-11-16 00:00 in New York.
const MONDAY = at('2026-11-16T05:00:00Z');

const query = (over: Partial<SlotQuery> = {}): SlotQuery => ({
  from: MONDAY,
  to: new Date(MONDAY.getTime() + 365 * DAY),
  durationMin: 1,
  stepMs: 1000,
  timezone: 'America/New_York',
  hours: ALL_DAY,
  busy: [],
  notBefore: MONDAY,
  ...over,
});

/** Follows `next` until an answer is not cut; fails if that takes more than `maxPages`. */
function allPages(q: SlotQuery, limit: number, maxPages: number) {
  const pages = [];
  let from = q.from;
  for (let i = 0; i < maxPages; i++) {
    const page = slotPage({ ...q, from }, limit);
    pages.push(page);
    if (!page.next) return pages;
    expect(page.next.getTime()).toBeGreaterThan(from.getTime());
    from = page.next;
  }
  throw new Error(`still cut after ${maxPages} pages`);
}

describe('open slots are found in a bounded walk', () => {
  it('a zero or NaN slot step is refused instead of walking in place', () => {
    for (const stepMs of [0, Number.NaN]) {
      expect(() => openSlots(query({ stepMs, hours: DEFAULT_WORKING_HOURS, durationMin: 50 }))).toThrow(
        /slot step must be positive/,
      );
    }
  });

  it('a one-minute session on a one-second grid over a year stops at MAX_SLOTS and says where the rest begins', () => {
    expect(openSlots(query())).toHaveLength(MAX_SLOTS);
    const page = slotPage(query());
    expect(page.slots).toHaveLength(MAX_SLOTS);
    expect(page.slots.at(-1)!.startsAt).toBe(
      new Date(MONDAY.getTime() + (MAX_SLOTS - 1) * 1000).toISOString(),
    );
    expect(page.next).toEqual(new Date(MONDAY.getTime() + MAX_SLOTS * 1000));
  });

  it('a minimum notice far ahead is jumped to, not walked to mark by mark', () => {
    const notBefore = new Date(MONDAY.getTime() + 300 * DAY + 1500);
    const page = slotPage(query({ notBefore }));
    expect(page.slots[0]!.startsAt).toBe(new Date(notBefore.getTime() + 500).toISOString()); // the next mark
    expect(page.slots).toHaveLength(MAX_SLOTS);
  });

  it('a range of years is walked at most MAX_SLOT_DAYS days per answer; following next reaches its end', () => {
    const q = query({ hours: ONE_MINUTE_A_WEEK, stepMs: 60_000, to: at('2027-11-16T05:00:00Z') });
    const first = slotPage(q);
    expect(first.slots.length).toBeLessThanOrEqual(5);
    expect(first.next).toEqual(at('2026-12-17T05:00:00Z')); // midnight in New York, 31 days on
    const pages = allPages(q, MAX_SLOTS, Math.ceil(366 / MAX_SLOT_DAYS) + 1);
    const starts = pages.flatMap((p) => p.slots.map((s) => s.startsAt));
    expect(starts).toHaveLength(53); // every Monday at 09:00, 2026-11-16 to 2027-11-15, once
    expect(new Set(starts).size).toBe(53);
    expect(starts[0]).toBe('2026-11-16T14:00:00.000Z');
  });

  it('a provider booked wall to wall is jumped over booking by booking, and the walk stops at MAX_SLOT_MARKS marks', () => {
    // A one-second booking every 30 s for ten days: no one-minute session fits anywhere.
    const busy = Array.from({ length: 30_000 }, (_, i) => {
      const start = MONDAY.getTime() + i * 30_000;
      return { start: new Date(start), end: new Date(start + 1000) };
    });
    const page = slotPage(query({ busy }));
    expect(page.slots).toEqual([]);
    expect(page.next).toBeDefined();
    // Each mark looked at jumps past one booking (a few at midnight are not looked at: no session fits there).
    const bookingAtCut = (page.next!.getTime() - MONDAY.getTime()) / 30_000;
    expect(bookingAtCut).toBeGreaterThan(MAX_SLOT_MARKS - 50);
    expect(bookingAtCut).toBeLessThan(MAX_SLOT_MARKS + 50);
  });

  it('asking again from next gives the rest: nothing lost, nothing twice', () => {
    const q = query({
      hours: DEFAULT_WORKING_HOURS,
      durationMin: 50,
      stepMs: 30 * 60_000,
      to: new Date(MONDAY.getTime() + 14 * DAY),
      busy: [{ start: at('2026-11-17T15:10:00Z'), end: at('2026-11-17T15:40:00Z') }],
    });
    const whole = slotPage(q);
    expect(whole.next).toBeUndefined();
    const pages = allPages(q, 7, 100);
    expect(pages.flatMap((p) => p.slots)).toEqual(whole.slots);
    expect(pages.at(-1)!.slots.length).toBeGreaterThan(0); // no empty last page when the count divides evenly
  });

  it('after a booking the slots come back on the grid, not at the booking’s end', () => {
    const q = query({
      hours: DEFAULT_WORKING_HOURS,
      durationMin: 50,
      stepMs: 30 * 60_000,
      to: new Date(MONDAY.getTime() + DAY),
      busy: [{ start: at('2026-11-16T15:10:00Z'), end: at('2026-11-16T15:40:00Z') }], // 10:10-10:40
    });
    const starts = openSlots(q).map((s) => s.startsAt);
    expect(starts.slice(0, 3)).toEqual([
      '2026-11-16T14:00:00.000Z', // 09:00-09:50
      '2026-11-16T16:00:00.000Z', // 11:00: 09:30, 10:00 and 10:30 overlap the booking
      '2026-11-16T16:30:00.000Z',
    ]);
  });
});

describe('reply deadlines walk a bounded number of days', () => {
  const due = (since: string, hours: WorkingHours) =>
    replyDueAt(at(since), 'America/New_York', hours)?.toISOString() ?? null;

  it('working hours of one minute a week: the reply is due within the next week', () => {
    // Monday 09:00:30: half the minute left today, the other half next Monday.
    expect(due('2026-11-16T14:00:30Z', ONE_MINUTE_A_WEEK)).toBe('2026-11-23T14:00:30.000Z');
    // Tuesday: the clock starts next Monday 09:00 and runs its one minute.
    expect(due('2026-11-17T15:00:00Z', ONE_MINUTE_A_WEEK)).toBe('2026-11-23T14:01:00.000Z');
  });

  it('no working hours at all: no deadline', () => {
    expect(due('2026-11-16T14:00:30Z', {})).toBeNull();
    expect(due('2026-11-16T14:00:30Z', { mon: [] })).toBeNull();
  });
});

describe('billing periods are computed, not walked to', () => {
  const now = at('2026-11-16T12:00:00Z');
  const period = (start: string) => {
    const p = periodAt(start, 'Europe/Berlin', now);
    return { startDate: p.startDate, start: p.start.toISOString(), end: p.end.toISOString() };
  };

  it('a plan whose periods began in 1970 or 1900 finds this month’s period', () => {
    expect(period('1970-01-01')).toEqual({
      startDate: '2026-11-01',
      start: '2026-10-31T23:00:00.000Z',
      end: '2026-11-30T23:00:00.000Z',
    });
    // Started on the 31st: November's period starts on its last day, so today is still in October's.
    expect(period('1900-01-31').startDate).toBe('2026-10-31');
  });

  it('a plan whose periods begin in 2999 counts back to the period around now', () => {
    expect(period('2999-05-15')).toMatchObject({ startDate: '2026-11-15', end: '2026-12-14T23:00:00.000Z' });
  });
});

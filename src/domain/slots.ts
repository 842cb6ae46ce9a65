import { DateTime } from 'luxon';
import type { TimeRange, WorkingHours } from './types.ts';
import { intervalsOnDay } from './working-hours.ts';

/*
 * Every answer is bounded by these, whatever the step, the range, the working
 * hours or the bookings: a caller who wants more asks again from `next`.
 */
/** Slots in one answer. */
export const MAX_SLOTS = 500;
/** Local calendar days walked for one answer. */
export const MAX_SLOT_DAYS = 31;
/** Working intervals and grid marks looked at for one answer. */
export const MAX_SLOT_MARKS = 20_000;

const DAY_MS = 86_400_000;

export interface SlotQuery {
  from: Date;
  to: Date;
  durationMin: number;
  /** Slots start every stepMs from the start of each working interval. */
  stepMs: number;
  timezone: string;
  hours: WorkingHours;
  /** Times the provider is already booked. */
  busy: ReadonlyArray<{ start: Date; end: Date }>;
  /** Nothing starts before this (now plus the minimum notice). */
  notBefore: Date;
}

export interface SlotPage {
  slots: TimeRange[];
  /** Set when the answer was cut short of `to`: the `from` that asks for the rest. */
  next?: Date;
}

/**
 * The provider's open slots between from and to: every stepMs mark in
 * their working hours (wall-clock, in their time zone, so daylight-saving days
 * keep 09:00 at 09:00) where a session of durationMin fits inside the working
 * interval and overlaps no booking. At most `limit` slots, MAX_SLOT_DAYS days
 * and MAX_SLOT_MARKS marks per answer; when it stops before `to`, `next` says
 * where the rest begins.
 */
export function slotPage(q: SlotQuery, limit = MAX_SLOTS): SlotPage {
  const stepMs = q.stepMs;
  const durMs = q.durationMin * 60_000;
  if (!(Number.isFinite(stepMs) && stepMs > 0))
    throw new RangeError(`slot step must be positive, not ${stepMs}`);
  if (!(Number.isFinite(durMs) && durMs > 0)) throw new RangeError(`duration must be positive, not ${durMs}`);
  const slots: TimeRange[] = [];
  const toMs = q.to.getTime();
  const earliest = Math.max(q.from.getTime(), q.notBefore.getTime());
  if (!(earliest < toMs) || !Object.values(q.hours).some((ranges) => ranges?.length)) return { slots };
  const busy = merged(q.busy);
  let lo = 0; // busy[0..lo) ended before the mark being looked at
  let lastMark = Number.NEGATIVE_INFINITY;
  let marks = 0;

  let day = DateTime.fromMillis(earliest, { zone: q.timezone }).startOf('day');
  const lastDay = DateTime.fromMillis(toMs, { zone: q.timezone }).startOf('day');
  for (let days = 0; day <= lastDay; days++, day = day.plus({ days: 1 })) {
    if (days >= MAX_SLOT_DAYS) return { slots, next: day.toJSDate() };
    for (const [start, end] of intervalsOnDay(day, q.hours)) {
      const startMs = start.toMillis();
      const endMs = Math.min(end.toMillis(), toMs);
      // The first mark at or after `earliest`, on this interval's grid.
      let k = earliest > startMs ? Math.ceil((earliest - startMs) / stepMs) : 0;
      for (let a = startMs + k * stepMs; a + durMs <= endMs; a = startMs + k * stepMs) {
        if (++marks > MAX_SLOT_MARKS) return { slots, next: new Date(a) };
        if (a < lastMark) lo = 0; // a daylight-saving day can step back; look at every booking again
        lastMark = a;
        const b = a + durMs;
        while (lo < busy.length && busy[lo]!.end <= a) lo++;
        const taken = busy[lo];
        if (taken && taken.start < b) {
          // Jump past the booking instead of walking through it mark by mark.
          k = Math.max(k + 1, Math.ceil((taken.end - startMs) / stepMs));
          continue;
        }
        if (slots.length >= limit) return { slots, next: new Date(a) };
        slots.push({ startsAt: new Date(a).toISOString(), endsAt: new Date(b).toISOString() });
        k++;
      }
    }
  }
  return { slots };
}

/** The open slots of slotPage, without where the rest begins. */
export function openSlots(q: SlotQuery, limit = MAX_SLOTS): TimeRange[] {
  return slotPage(q, limit).slots;
}

/**
 * The span one answer can reach from `from` (bookings outside it do not
 * matter): MAX_SLOT_DAYS local days, plus a day for time zones and
 * daylight-saving shifts.
 */
export function slotWindow(q: Pick<SlotQuery, 'from' | 'to' | 'notBefore'>): { start: Date; end: Date } {
  const start = Math.max(q.from.getTime(), q.notBefore.getTime());
  return {
    start: new Date(start),
    end: new Date(Math.min(q.to.getTime(), start + (MAX_SLOT_DAYS + 1) * DAY_MS)),
  };
}

/** Whether a session starting at startsAt is one of the open slots. */
export function isOpenSlot(q: Omit<SlotQuery, 'from' | 'to'> & { startsAt: Date }): boolean {
  const end = new Date(q.startsAt.getTime() + q.durationMin * 60_000);
  return openSlots({ ...q, from: q.startsAt, to: end }, 1).some(
    (s) => Date.parse(s.startsAt) === q.startsAt.getTime(),
  );
}

/** Bookings as disjoint spans in time order, so one forward pass finds each mark's overlap. */
function merged(busy: SlotQuery['busy']): Array<{ start: number; end: number }> {
  const spans = busy
    .map((x) => ({ start: x.start.getTime(), end: x.end.getTime() }))
    .sort((x, y) => x.start - y.start);
  const out: Array<{ start: number; end: number }> = [];
  for (const s of spans) {
    const last = out.at(-1);
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

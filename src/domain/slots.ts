import { DateTime } from 'luxon';
import type { TimeRange, WorkingHours } from './types.ts';
import { intervalsOnDay } from './working-hours.ts';

/** At most this many slots per answer (a seconds-long step over two weeks would be hundreds of thousands). */
export const MAX_SLOTS = 2000;

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

/**
 * The provider's open slots between from and to: every stepMs mark in
 * their working hours (wall-clock, in their time zone, so daylight-saving days
 * keep 09:00 at 09:00) where a session of durationMin fits inside the working
 * interval and overlaps no booking.
 */
export function openSlots(q: SlotQuery, limit = MAX_SLOTS): TimeRange[] {
  const out: TimeRange[] = [];
  const durMs = q.durationMin * 60_000;
  const earliest = Math.max(q.from.getTime(), q.notBefore.getTime());
  let day = DateTime.fromJSDate(q.from, { zone: q.timezone }).startOf('day');
  const lastDay = DateTime.fromJSDate(q.to, { zone: q.timezone }).startOf('day');
  for (; day <= lastDay; day = day.plus({ days: 1 })) {
    for (const [start, end] of intervalsOnDay(day, q.hours)) {
      for (let s = start; s.plus({ milliseconds: durMs }) <= end; s = s.plus({ milliseconds: q.stepMs })) {
        const a = s.toMillis();
        const b = a + durMs;
        if (a < earliest || b > q.to.getTime()) continue;
        if (q.busy.some((x) => x.start.getTime() < b && a < x.end.getTime())) continue;
        out.push({ startsAt: new Date(a).toISOString(), endsAt: new Date(b).toISOString() });
        if (out.length >= limit) return out;
      }
    }
  }
  return out;
}

/** Whether a session starting at startsAt is one of the open slots. */
export function isOpenSlot(q: Omit<SlotQuery, 'from' | 'to'> & { startsAt: Date }): boolean {
  const end = new Date(q.startsAt.getTime() + q.durationMin * 60_000);
  return openSlots({ ...q, from: q.startsAt, to: end }).some(
    (s) => Date.parse(s.startsAt) === q.startsAt.getTime(),
  );
}

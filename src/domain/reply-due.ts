import { DateTime } from 'luxon';
import type { WorkingHours } from './types.ts';
import { intervalsOnDay } from './working-hours.ts';

// A provider with hours on at least one weekday meets a working day within a week.
const SEARCH_DAYS = 15;

/**
 * When the provider's reply is due: one working day after the client's oldest
 * unanswered message, counted in the provider's time zone and working hours.
 *
 * "One working day" is the working time of the day the clock starts on: the
 * clock starts at the message, or at the next opening if it arrived outside
 * working hours, and runs only during working hours. A message at 16:00 on a
 * Friday with 09:00-17:00 hours is due at 16:00 on Monday; one sent on a
 * Saturday is due at Monday's close. Returns null when the provider has no
 * working hours at all.
 */
export function replyDueAt(since: Date, timezone: string, hours: WorkingHours): Date | null {
  const t0 = DateTime.fromJSDate(since, { zone: timezone });
  let remainingMs: number | null = null;
  for (let d = 0; d < SEARCH_DAYS * 2; d++) {
    const day = t0.startOf('day').plus({ days: d });
    for (const [start, end] of intervalsOnDay(day, hours)) {
      if (end <= t0) continue;
      const from = DateTime.max(start, t0);
      if (remainingMs === null) {
        // The clock starts here: one working day is this day's working time.
        remainingMs = intervalsOnDay(day, hours).reduce((sum, [s, e]) => sum + e.diff(s).toMillis(), 0);
      }
      const available = end.diff(from).toMillis();
      if (remainingMs <= available) return from.plus({ milliseconds: remainingMs }).toJSDate();
      remainingMs -= available;
    }
    if (remainingMs === null && d >= SEARCH_DAYS) return null;
  }
  return null;
}

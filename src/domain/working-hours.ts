import type { DateTime } from 'luxon';
import { minutesOf } from '../../protocol/vocabulary.ts';
import { WEEKDAYS, type Weekday, type WorkingHours } from './types.ts';

/** Five days a week, nine to five: what a provider works unless told otherwise. */
export const DEFAULT_WORKING_HOURS: WorkingHours = {
  mon: [['09:00', '17:00']],
  tue: [['09:00', '17:00']],
  wed: [['09:00', '17:00']],
  thu: [['09:00', '17:00']],
  fri: [['09:00', '17:00']],
};

// Whether hours and a zone are well formed is part of the contract's input checks.
export { isValidTimezone, minutesOf, workingHoursProblem } from '../../protocol/vocabulary.ts';

/** The working intervals of one local calendar day, as absolute instants. */
export function intervalsOnDay(day: DateTime, hours: WorkingHours): Array<[DateTime, DateTime]> {
  const key = WEEKDAYS[day.weekday - 1] as Weekday;
  const ranges = [...(hours[key] ?? [])].sort((a, b) => minutesOf(a[0]) - minutesOf(b[0]));
  const midnight = day.startOf('day');
  // Wall-clock arithmetic (set hour/minute) rather than adding minutes, so a
  // 09:00 start stays 09:00 on a daylight-saving day.
  const at = (hhmm: string) =>
    hhmm === '24:00'
      ? midnight.plus({ days: 1 })
      : midnight.set({ hour: (minutesOf(hhmm) / 60) | 0, minute: minutesOf(hhmm) % 60 });
  return ranges.map(([s, e]) => [at(s), at(e)]);
}

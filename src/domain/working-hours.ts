import { type DateTime, IANAZone } from 'luxon';
import { WEEKDAYS, type Weekday, type WorkingHours } from './types.ts';

/** Five days a week, nine to five: what a provider works unless told otherwise. */
export const DEFAULT_WORKING_HOURS: WorkingHours = {
  mon: [['09:00', '17:00']],
  tue: [['09:00', '17:00']],
  wed: [['09:00', '17:00']],
  thu: [['09:00', '17:00']],
  fri: [['09:00', '17:00']],
};

export const isValidTimezone = (tz: string): boolean => IANAZone.isValidZone(tz);

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
export const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/** Returns a problem with the hours, or null if they are well formed. */
export function workingHoursProblem(hours: WorkingHours): string | null {
  for (const day of Object.keys(hours)) {
    if (!(WEEKDAYS as readonly string[]).includes(day)) return `${day}: not a weekday (use mon..sun)`;
    const ranges = [...(hours[day as Weekday] ?? [])].sort((a, b) => minutesOf(a[0]) - minutesOf(b[0]));
    let lastEnd = -1;
    for (const [start, end] of ranges) {
      if (!HHMM.test(start) || !HHMM.test(end)) return `${day}: times are HH:MM`;
      if (minutesOf(start) >= minutesOf(end)) return `${day}: ${start} is not before ${end}`;
      if (minutesOf(start) < lastEnd) return `${day}: ranges overlap`;
      lastEnd = minutesOf(end);
    }
  }
  return null;
}

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

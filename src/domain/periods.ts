import { DateTime } from 'luxon';

export interface Period {
  /** First day of the period, YYYY-MM-DD (in the client's time zone). */
  startDate: string;
  start: Date;
  end: Date;
}

/**
 * The monthly billing period that contains `at`: periods start on the plan's
 * periodStart day of each month, at midnight in the client's time zone (a
 * start on the 31st falls on the month's last day in shorter months).
 */
export function periodAt(periodStart: string, timezone: string, at: Date): Period {
  const anchor = DateTime.fromISO(periodStart, { zone: timezone }).startOf('day');
  const t = DateTime.fromJSDate(at, { zone: timezone });
  let k = (t.year - anchor.year) * 12 + (t.month - anchor.month);
  const nth = (i: number) => anchor.plus({ months: i });
  if (nth(k) > t) k -= 1;
  if (nth(k + 1) <= t) k += 1;
  const start = nth(k);
  return { startDate: start.toISODate()!, start: start.toJSDate(), end: nth(k + 1).toJSDate() };
}

import { describe, expect, it } from 'vitest';
import { replyDueAt } from '../../src/domain/reply-due.ts';
import type { WorkingHours } from '../../src/domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../../src/domain/working-hours.ts';

const NY = 'America/New_York';
const due = (since: string, tz = NY, hours: WorkingHours = DEFAULT_WORKING_HOURS) =>
  replyDueAt(new Date(since), tz, hours)?.toISOString() ?? null;

describe('reply due: one working day in the provider’s time zone and hours', () => {
  it('a message in working hours is due at the same time on the next working day', () => {
    // Tuesday 10:00 in New York (EST, UTC-5) → Wednesday 10:00.
    expect(due('2026-11-17T15:00:00Z')).toBe('2026-11-18T15:00:00.000Z');
  });

  it('a message late on Friday is due on Monday, skipping the weekend', () => {
    // Friday 16:00 EST: one hour on Friday, seven on Monday → Monday 16:00.
    expect(due('2026-11-20T21:00:00Z')).toBe('2026-11-23T21:00:00.000Z');
  });

  it('a message outside working hours starts the clock at the next opening', () => {
    // Saturday → the clock starts Monday 09:00 and runs a full day → Monday 17:00.
    expect(due('2026-11-21T15:00:00Z')).toBe('2026-11-23T22:00:00.000Z');
    // Tuesday 20:00 EST → Wednesday 09:00 start → Wednesday 17:00.
    expect(due('2026-11-18T01:00:00Z')).toBe('2026-11-18T22:00:00.000Z');
  });

  it('counts wall-clock working hours across a daylight-saving change', () => {
    // Friday 2026-10-30 16:00 EDT (UTC-4); clocks go back on Sunday 2026-11-01;
    // Monday 16:00 is EST (UTC-5).
    expect(due('2026-10-30T20:00:00Z')).toBe('2026-11-02T21:00:00.000Z');
  });

  it('follows the provider’s own hours and time zone', () => {
    const hours: WorkingHours = { mon: [['08:00', '12:00']], thu: [['13:00', '17:00']] };
    // Monday 11:00 in Berlin (CET, UTC+1): 1h Monday + 3h Thursday → Thursday 16:00.
    expect(due('2026-11-16T10:00:00Z', 'Europe/Berlin', hours)).toBe('2026-11-19T15:00:00.000Z');
  });

  it('has no deadline when the provider has no working hours', () => {
    expect(due('2026-11-16T10:00:00Z', NY, {})).toBeNull();
  });
});

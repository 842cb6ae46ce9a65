import { describe, expect, it } from 'vitest';
import {
  confirmBy,
  isLate,
  joinWindow,
  meetsNotice,
  noShowCosts,
  type Policy,
  reminderTimes,
  restoredExpiry,
} from '../../src/domain/bookings.ts';
import { periodAt } from '../../src/domain/periods.ts';
import { isOpenSlot, openSlots } from '../../src/domain/slots.ts';
import { DEFAULT_WORKING_HOURS } from '../../src/domain/working-hours.ts';

const H = 3_600_000;
const policy: Policy = {
  lateWindowMs: 24 * H,
  confirmDeadlineMs: 24 * H,
  noShowGraceMs: 15 * 60_000,
  joinOpensMs: 10 * 60_000,
  remindersMs: [24 * H, 10 * 60_000],
  messagingSessionMs: 7 * 24 * H,
  minNoticeMs: 0,
  slotStepMs: 30 * 60_000,
  cancelGraceMs: H,
  restoreValidityMs: 30 * 24 * H,
};
const at = (iso: string) => new Date(iso);
const session = {
  startsAt: at('2026-12-10T15:00:00Z'),
  endsAt: at('2026-12-10T15:50:00Z'),
  toldAt: at('2026-12-01T00:00:00Z'),
};

describe('session rules, by the clock', () => {
  it('the provider confirms up to 24 h before the start, or until the start when booked later', () => {
    expect(confirmBy(session, at('2026-12-01T00:00:00Z'), policy).toISOString()).toBe(
      '2026-12-09T15:00:00.000Z',
    );
    expect(confirmBy(session, at('2026-12-10T03:00:00Z'), policy).toISOString()).toBe(
      '2026-12-10T15:00:00.000Z',
    );
  });

  it('a change inside the late window is late; one moment before it is not', () => {
    expect(isLate(session, at('2026-12-09T14:59:59Z'), policy)).toBe(false);
    expect(isLate(session, at('2026-12-09T15:00:00Z'), policy)).toBe(true);
  });

  it('a booking undone within the cancel grace of being told is not late, even inside the late window', () => {
    const justBooked = { ...session, toldAt: at('2026-12-10T13:00:00Z') };
    expect(isLate(justBooked, at('2026-12-10T13:59:59Z'), policy)).toBe(false);
    expect(isLate(justBooked, at('2026-12-10T14:00:00Z'), policy)).toBe(true);
  });

  it('a no-show costs the client unless the provider booked it for them too close to its start', () => {
    expect(noShowCosts({ ...session, providerMade: false, toldAt: at('2026-12-10T14:59:00Z') }, policy)).toBe(
      true,
    );
    expect(noShowCosts({ ...session, providerMade: true, toldAt: at('2026-12-10T14:59:00Z') }, policy)).toBe(
      false,
    );
    expect(noShowCosts({ ...session, providerMade: true, toldAt: at('2026-12-10T14:00:00Z') }, policy)).toBe(
      true,
    );
  });

  it('a credit the provider gave back stays usable for the restore validity at least', () => {
    const now = at('2026-12-01T00:00:00Z');
    expect(restoredExpiry(at('2026-12-01T00:00:00Z'), now, policy)?.toISOString()).toBe(
      '2026-12-31T00:00:00.000Z',
    );
    expect(restoredExpiry(at('2027-03-01T00:00:00Z'), now, policy)?.toISOString()).toBe(
      '2027-03-01T00:00:00.000Z',
    );
    expect(restoredExpiry(null, now, policy)).toBeNull(); // purchases never expire
  });

  it('reminders go out at each offset still ahead', () => {
    expect(reminderTimes(session, at('2026-12-01T00:00:00Z'), policy).map((r) => r.at.toISOString())).toEqual(
      ['2026-12-09T15:00:00.000Z', '2026-12-10T14:50:00.000Z'],
    );
    expect(reminderTimes(session, at('2026-12-10T12:00:00Z'), policy).map((r) => r.offsetMs)).toEqual([
      600_000,
    ]);
  });

  it('a session confirmed after its last reminder offset gets its reminder at once; none once it started', () => {
    expect(reminderTimes(session, at('2026-12-10T14:55:00Z'), policy)).toEqual([
      { offsetMs: 300_000, at: at('2026-12-10T14:55:00Z') },
    ]);
    expect(reminderTimes(session, at('2026-12-10T15:00:00Z'), policy)).toEqual([]);
    expect(reminderTimes(session, at('2026-12-10T14:55:00Z'), { ...policy, remindersMs: [] })).toEqual([]);
  });

  it('a join link works from 10 minutes before the start to the end', () => {
    expect(joinWindow(session, policy)).toEqual({
      opensAt: at('2026-12-10T14:50:00Z'),
      closesAt: session.endsAt,
    });
  });

  it('nothing is booked in the past or inside the minimum notice', () => {
    expect(meetsNotice(at('2026-12-01T00:00:00Z'), at('2026-12-01T00:00:01Z'), policy)).toBe(false);
    expect(
      meetsNotice(at('2026-12-01T02:00:00Z'), at('2026-12-01T00:00:00Z'), { ...policy, minNoticeMs: 3 * H }),
    ).toBe(false);
    expect(
      meetsNotice(at('2026-12-01T04:00:00Z'), at('2026-12-01T00:00:00Z'), { ...policy, minNoticeMs: 3 * H }),
    ).toBe(true);
  });
});

describe('billing periods', () => {
  it('run monthly from the plan’s start day, in the client’s time zone', () => {
    const p = periodAt('2026-11-05', 'Europe/Berlin', at('2026-12-20T12:00:00Z'));
    expect(p).toEqual({
      startDate: '2026-12-05',
      start: at('2026-12-04T23:00:00Z'),
      end: at('2027-01-04T23:00:00Z'),
    });
  });

  it('a period starting on the 31st ends on a short month’s last day', () => {
    const p = periodAt('2026-01-31', 'UTC', at('2026-02-15T00:00:00Z'));
    expect(p.startDate).toBe('2026-01-31');
    expect(p.end.toISOString()).toBe('2026-02-28T00:00:00.000Z');
  });
});

describe('open slots', () => {
  const base = {
    durationMin: 50,
    stepMs: 30 * 60_000,
    timezone: 'America/New_York',
    hours: DEFAULT_WORKING_HOURS,
    busy: [] as Array<{ start: Date; end: Date }>,
    notBefore: at('2026-01-01T00:00:00Z'),
  };

  it('are the working-hour grid marks where a session fits, minus bookings', () => {
    const day = { from: at('2026-11-16T00:00:00Z'), to: at('2026-11-17T05:00:00Z') }; // Monday in New York
    const all = openSlots({ ...base, ...day });
    expect(all[0]).toEqual({ startsAt: '2026-11-16T14:00:00.000Z', endsAt: '2026-11-16T14:50:00.000Z' });
    expect(all.at(-1)?.startsAt).toBe('2026-11-16T21:00:00.000Z'); // 16:00 + 50 min fits before 17:00; 16:30 does not
    expect(all).toHaveLength(15);
    const busy = [{ start: at('2026-11-16T15:00:00Z'), end: at('2026-11-16T15:50:00Z') }];
    const open = openSlots({ ...base, ...day, busy }).map((s) => s.startsAt);
    expect(open).not.toContain('2026-11-16T14:30:00.000Z');
    expect(open).not.toContain('2026-11-16T15:00:00.000Z');
    expect(open).not.toContain('2026-11-16T15:30:00.000Z');
    expect(open).toContain('2026-11-16T16:00:00.000Z');
  });

  it('keep 09:00 at 09:00 across a daylight-saving change', () => {
    // Clocks go back in New York on Sunday 2026-11-01: 09:00 is 13:00Z before, 14:00Z after.
    const slots = openSlots({ ...base, from: at('2026-10-30T00:00:00Z'), to: at('2026-11-03T00:00:00Z') });
    const firstOfDay = [...new Set(slots.map((s) => s.startsAt.slice(0, 10)))].map(
      (d) => slots.find((s) => s.startsAt.startsWith(d))!.startsAt,
    );
    expect(firstOfDay).toEqual(['2026-10-30T13:00:00.000Z', '2026-11-02T14:00:00.000Z']);
  });

  it('a booking must start on an open slot', () => {
    expect(isOpenSlot({ ...base, startsAt: at('2026-11-16T14:30:00Z') })).toBe(true);
    expect(isOpenSlot({ ...base, startsAt: at('2026-11-16T14:10:00Z') })).toBe(false); // off the grid
    expect(isOpenSlot({ ...base, startsAt: at('2026-11-16T21:30:00Z') })).toBe(false); // runs past 17:00
    expect(isOpenSlot({ ...base, startsAt: at('2026-11-15T15:00:00Z') })).toBe(false); // Sunday
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Expiries } from '../../signaling/expiries.ts';

/**
 * The token expiries of every socket on one timer (signaling/expiries.ts), on Vitest's fake timers
 * and a clock of the test's own, as the server's Clock is (tests move it apart from real time).
 */
describe('expiries on one timer', () => {
  const T0 = Date.UTC(2026, 11, 2, 12);
  const MAX_TIMER_MS = 2 ** 31 - 1;
  let clock: number;
  let expired: string[];
  let expiries: Expiries<string>;
  /** Time passes: for the clock and for the timers alike. */
  const pass = (ms: number) => {
    clock += ms;
    vi.advanceTimersByTime(ms);
  };

  beforeEach(() => {
    vi.useFakeTimers();
    clock = T0;
    expired = [];
    expiries = new Expiries(
      () => clock,
      (item) => expired.push(item),
    );
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands over each item once, at its instant, in order, with one timer however many wait', () => {
    expiries.add('b', T0 + 2000);
    expiries.add('a', T0 + 1000);
    expiries.add('a2', T0 + 1000);
    expiries.add('c', T0 + 3000);
    expect(vi.getTimerCount()).toBe(1);
    pass(999);
    expect(expired).toEqual([]);
    pass(1);
    expect(expired).toEqual(['a', 'a2']);
    pass(2000);
    expect(expired).toEqual(['a', 'a2', 'b', 'c']);
    expect(vi.getTimerCount()).toBe(0);
    expect(expiries.size).toBe(0);
  });

  it('forgets a deleted item, and a moved one runs out at its new instant only (a refreshed token)', () => {
    expiries.add('gone', T0 + 1000);
    expiries.add('moved', T0 + 1000);
    expiries.delete('gone', T0 + 1000);
    expiries.delete('moved', T0 + 1000);
    expiries.add('moved', T0 + 5000);
    pass(4999);
    expect(expired).toEqual([]);
    pass(1);
    expect(expired).toEqual(['moved']);
  });

  it('expires an item whose instant has already passed at once', () => {
    expiries.add('late', T0 - 1);
    pass(0);
    expect(expired).toEqual(['late']);
  });

  it('re-arms when its clock was moved back, and reads a clock moved ahead when the timer fires', () => {
    expiries.add('x', T0 + 1000);
    clock = T0 - 5000;
    pass(1000); // fires; by the clock nothing is due for 5 s more
    expect(expired).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    clock = T0 + 1000;
    pass(1); // not yet: the timer was armed for the 5 s the clock said
    expect(expired).toEqual([]);
    pass(5000);
    expect(expired).toEqual(['x']);
  });

  it('waits longer than a timer can hold in steps (setTimeout fires at once past 2^31-1 ms)', () => {
    expiries.add('far', T0 + 30 * 86_400_000);
    pass(0);
    expect(expired).toEqual([]);
    pass(MAX_TIMER_MS);
    expect(expired).toEqual([]);
    pass(30 * 86_400_000 - MAX_TIMER_MS);
    expect(expired).toEqual(['far']);
  });

  it('lets the item it hands over delete itself (a socket that disconnects) and others be added meanwhile', () => {
    const own = new Expiries<string>(
      () => clock,
      (item) => {
        expired.push(item);
        own.delete(item, T0 + 1000);
        if (item === 'a') own.add('later', T0 + 2000);
      },
    );
    own.add('a', T0 + 1000);
    own.add('b', T0 + 1000);
    pass(1000);
    expect(expired).toEqual(['a', 'b']);
    pass(1000);
    expect(expired).toEqual(['a', 'b', 'later']);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Monday 2026-11-16 07:00 in New York, where providers work 09:00-17:00 on weekdays.
const MONDAY = '2026-11-16T12:00:00Z';
const YEAR_ON = '2027-11-17T00:00:00Z';

/**
 * List answers are bounded and say so: at most a page of rows, `hasMore` when
 * there are more, and where to ask for them.
 */
describe.each(backends)('bounded list answers on the $name store', (backend) => {
  let s: TestServer;
  const clock = new ManualClock(MONDAY);
  let n = 0;

  beforeAll(async () => {
    // One-minute slots: a working day has hundreds of them.
    s = await startTestServer({ backend, clock, runScheduler: false, env: { POLICY_SLOT_STEP: '1m' } });
  });
  afterAll(() => s?.stop());

  async function pair(plan: Record<string, unknown> = {}, workingHours?: Record<string, [string, string][]>) {
    clock.set(MONDAY);
    n++;
    return therapyRoom(s, {
      client: `c${n}`,
      provider: `p${n}`,
      ...(workingHours ? { workingHours } : {}),
      plan: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 3,
        periodStart: '2026-11-01',
        ...plan,
      },
    });
  }
  const slots = (r: { provider: string; clientToken: string }, query: string) =>
    s.api('GET', `/v1/providers/${r.provider}/slots?${query}`, { token: r.clientToken });

  describe('GET /v1/providers/:id/slots', () => {
    it('a short range answers every slot with hasMore false and no next', async () => {
      const r = await pair();
      const res = await slots(r, 'from=2026-11-18T14:00:00Z&to=2026-11-18T16:00:00Z&durationMin=60');
      expect(res.status).toBe(200);
      expect(res.body.slots).toHaveLength(61); // 09:00 to 10:00 in New York, a minute apart
      expect(res.body.hasMore).toBe(false);
      expect(res.body).not.toHaveProperty('next');
    });

    it('two working days of one-minute slots are cut at 500, not answered as hundreds more, and next gives the rest', async () => {
      const r = await pair();
      const q = 'durationMin=15&to=2026-11-20T00:00:00Z';
      const first = await slots(r, `from=2026-11-18T00:00:00Z&${q}`);
      expect(first.status).toBe(200);
      expect(first.body.slots).toHaveLength(500);
      expect(first.body.hasMore).toBe(true);
      // Wednesday holds 466 (09:00 to 16:45 in New York); the 500th is Thursday 09:33.
      expect(first.body.slots.at(-1).startsAt).toBe('2026-11-19T14:33:00.000Z');
      expect(first.body.next).toBe('2026-11-19T14:34:00.000Z'); // the first slot not given

      const rest = await slots(r, `from=${first.body.next}&${q}`);
      expect(rest.status).toBe(200);
      expect(rest.body.slots[0].startsAt).toBe(first.body.next);
      expect(rest.body.hasMore).toBe(false);
      // Wednesday and Thursday: 466 fifteen-minute sessions fit in each working day.
      expect(first.body.slots.length + rest.body.slots.length).toBe(2 * 466);
    });

    it('a year-long range answers one bounded page at once and is read to its end by following next', async () => {
      const r = await pair();
      const first = await slots(r, `from=2026-11-17T00:00:00Z&to=${YEAR_ON}&durationMin=240`);
      expect(first.status).toBe(200);
      expect(first.body.hasMore).toBe(true);
      expect(first.body.slots.length).toBeLessThanOrEqual(500);

      // 240-minute sessions fit 241 times a working day: each page is a little over two days.
      const seen = new Set<string>();
      let page = first.body;
      let pages = 1;
      for (; page.hasMore && pages < 3; pages++) {
        for (const x of page.slots) seen.add(x.startsAt);
        const nextPage = await slots(r, `from=${page.next}&to=${YEAR_ON}&durationMin=240`);
        expect(nextPage.status).toBe(200);
        expect(nextPage.body.slots[0].startsAt).toBe(page.next);
        expect(seen.has(page.next)).toBe(false);
        page = nextPage.body;
      }
      // The end of the range: the last page says there is no more.
      const last = await slots(r, `from=2027-11-16T14:00:00Z&to=${YEAR_ON}&durationMin=240`);
      expect(last.status).toBe(200);
      expect(last.body.slots).toHaveLength(241); // Tuesday 09:00 to 13:00 in New York
      expect(last.body.slots.at(-1)).toEqual({
        startsAt: '2027-11-16T18:00:00.000Z',
        endsAt: '2027-11-16T22:00:00.000Z',
      });
      expect(last.body.hasMore).toBe(false);
      expect(last.body).not.toHaveProperty('next');
    });

    it('a provider who works one hour a week: a page covers a month and next is where the month after begins', async () => {
      const r = await pair({}, { mon: [['09:00', '10:00']] });
      const res = await slots(r, `from=2026-11-17T00:00:00Z&to=${YEAR_ON}&durationMin=15`);
      expect(res.status).toBe(200);
      // Mondays 23 and 30 November, 7 and 14 December: 46 fifteen-minute sessions each.
      expect(res.body.slots).toHaveLength(4 * 46);
      expect(res.body.hasMore).toBe(true);
      // 31 days walked from Monday 16 November in New York: the walk stops at midnight there on 17 December.
      expect(res.body.next).toBe('2026-12-17T05:00:00.000Z');
      const more = await slots(r, `from=${res.body.next}&to=${YEAR_ON}&durationMin=15`);
      expect(more.body.slots[0].startsAt).toBe('2026-12-21T14:00:00.000Z');
    });
  });

  describe('GET /v1/bookings', () => {
    it('answers a page at a time with hasMore and a cursor for the next page', async () => {
      const r = await pair();
      for (const startsAt of ['2026-11-18T14:00:00Z', '2026-11-18T16:00:00Z', '2026-11-19T14:00:00Z']) {
        await ok(
          s.api('POST', '/v1/bookings', {
            token: r.clientToken,
            body: { roomId: r.roomId, modality: 'video', startsAt },
          }),
        );
      }
      const all = await s.api('GET', `/v1/bookings?roomId=${r.roomId}`, { token: r.clientToken });
      expect(all.status).toBe(200);
      expect(all.body.bookings).toHaveLength(3);
      expect(all.body.hasMore).toBe(false);
      expect(all.body).not.toHaveProperty('next');

      const first = await s.api('GET', `/v1/bookings?roomId=${r.roomId}&limit=2`, { token: r.clientToken });
      expect(first.status).toBe(200);
      expect(first.body.bookings.map((b: any) => b.startsAt)).toEqual([
        '2026-11-18T14:00:00.000Z',
        '2026-11-18T16:00:00.000Z',
      ]);
      expect(first.body.hasMore).toBe(true);
      const second = await s.api(
        'GET',
        `/v1/bookings?roomId=${r.roomId}&limit=2&cursor=${encodeURIComponent(first.body.next)}`,
        { token: r.clientToken },
      );
      expect(second.status).toBe(200);
      expect(second.body.bookings.map((b: any) => b.startsAt)).toEqual(['2026-11-19T14:00:00.000Z']);
      expect(second.body.hasMore).toBe(false);
    });

    it('refuses a page larger than 500 and a cursor it did not give', async () => {
      const r = await pair();
      const big = await s.api('GET', '/v1/bookings?limit=501', { token: r.clientToken });
      expect(big.status).toBe(400);
      expect(big.body.error.message).toMatch(/^limit: /);
      const bad = await s.api('GET', '/v1/bookings?cursor=nonsense', { token: r.clientToken });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toEqual({
        code: 'invalid_input',
        message: 'cursor: not a cursor this server gave (use the answer’s next)',
      });
    });
  });

  describe('GET /v1/credits', () => {
    it('the ledger answers at most 500 entries, newest, and says older ones remain', async () => {
      const r = await pair({ liveSessionsPerPeriod: 600 });
      const res = await s.api('GET', '/v1/credits', { token: r.clientToken });
      expect(res.status).toBe(200);
      expect(res.body.available).toBe(600);
      expect(res.body.ledger).toHaveLength(500);
      expect(res.body.hasMore).toBe(true);
      const older = await s.api('GET', `/v1/credits?beforeSeq=${res.body.ledger[0].seq}`, {
        token: r.clientToken,
      });
      expect(older.status).toBe(200);
      expect(older.body.ledger).toHaveLength(100);
      expect(older.body.hasMore).toBe(false);
      expect(older.body.ledger.at(-1).seq).toBeLessThan(res.body.ledger[0].seq);
    });

    it('a smaller page of the ledger on request', async () => {
      const r = await pair();
      const res = await s.api('GET', '/v1/credits?limit=2', { token: r.clientToken });
      expect(res.status).toBe(200);
      expect(res.body.ledger).toHaveLength(2);
      expect(res.body.hasMore).toBe(true);
      expect(res.body.available).toBe(3);
    });

    it('a plan whose periods began in 1970 finds the current period at once', async () => {
      const r = await pair({ periodStart: '1970-01-01' });
      const res = await s.api('GET', '/v1/credits', { token: r.clientToken });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ available: 3, periodEndsAt: '2026-11-30T23:00:00.000Z' }); // Berlin
    });
  });

  describe('GET /v1/rooms', () => {
    it('the support team, who see every support room there is, get them a page at a time with hasMore and a cursor', async () => {
      const admin = s.token('platform', 'admin');
      const made: string[] = [];
      clock.set(MONDAY);
      for (const who of ['help-1', 'help-2', 'help-3']) {
        clock.advance(1000); // listed in the order made
        await ok(
          s.api('PUT', `/v1/users/${who}`, {
            token: admin,
            body: { role: 'client', displayName: who, timezone: 'Europe/Berlin' },
          }),
        );
        made.push(
          (
            await ok(
              s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId: who } }),
            )
          ).room.id,
        );
      }
      const rep = s.token('rep-1', 'support');
      const all = await s.api('GET', '/v1/rooms', { token: rep });
      expect(all.status).toBe(200);
      expect(all.body.rooms.map((r: any) => r.id)).toEqual(made);
      expect(all.body.hasMore).toBe(false);
      expect(all.body).not.toHaveProperty('next');

      const first = await s.api('GET', '/v1/rooms?limit=2', { token: rep });
      expect(first.status).toBe(200);
      expect(first.body.rooms.map((r: any) => r.id)).toEqual(made.slice(0, 2));
      expect(first.body.hasMore).toBe(true);
      const second = await s.api('GET', `/v1/rooms?limit=2&cursor=${encodeURIComponent(first.body.next)}`, {
        token: rep,
      });
      expect(second.status).toBe(200);
      expect(second.body.rooms.map((r: any) => r.id)).toEqual(made.slice(2));
      expect(second.body.hasMore).toBe(false);

      const big = await s.api('GET', '/v1/rooms?limit=501', { token: rep });
      expect(big.status).toBe(400);
      expect(big.body.error.message).toMatch(/^limit: /);
    });
  });
});

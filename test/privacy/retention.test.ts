import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const DAY = 86_400_000;
const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

describe.each(backends)('retention, on the $name store', (backend) => {
  let s: TestServer;
  const clock = new ManualClock('2026-12-01T10:00:00Z');
  beforeAll(async () => {
    s = await startTestServer({
      backend,
      clock,
      runScheduler: false,
      env: { RETENTION_THERAPY: '30d', RETENTION_SUPPORT: '7d' },
    });
  });
  afterAll(() => s?.stop());

  it('turns therapy messages older than RETENTION_THERAPY and support ones older than RETENTION_SUPPORT into tombstones, deletes their recordings, skips rooms of users on hold, counts what it removed', async () => {
    const a = await therapyRoom(s);
    const held = await therapyRoom(s, { client: 'client-held', provider: 'provider-2' });
    const support = (
      await ok(
        s.api('POST', '/v1/rooms', { token: a.admin, body: { kind: 'support', requesterId: a.client } }),
      )
    ).room.id as string;
    await ok(
      s.api('PUT', '/v1/users/support-1', {
        token: a.admin,
        body: { role: 'support', displayName: 'S', timezone: 'UTC' },
      }),
    );
    const post = (roomId: string, token: string, id: string, body: Record<string, unknown> = {}) =>
      ok(
        s.api('POST', `/v1/rooms/${roomId}/messages`, {
          token,
          body: { clientMsgId: id, kind: 'text', text: id, ...body },
        }),
      );

    // Day 0.
    await post(a.roomId, a.clientToken, 'old-therapy');
    const up = await ok(
      s.api('POST', `/v1/rooms/${a.roomId}/attachments`, {
        token: a.clientToken,
        raw: Buffer.concat([EBML, Buffer.alloc(1000)]),
        type: 'audio/webm',
      }),
    );
    await post(a.roomId, a.clientToken, 'old-voice', {
      kind: 'voice',
      text: undefined,
      attachmentId: up.attachmentId,
    });
    await post(held.roomId, held.clientToken, 'old-held');
    await post(support, a.clientToken, 'old-support');
    await ok(s.api('PUT', '/v1/users/client-held/hold', { token: a.admin, body: { hold: true } }));
    // Day 10: within RETENTION_THERAPY at day 31.
    clock.advance(10 * DAY);
    await post(a.roomId, a.providerToken, 'recent-therapy');
    // Day 30: within RETENTION_SUPPORT at day 31.
    clock.advance(20 * DAY);
    await post(support, s.token('support-1', 'support'), 'recent-support');

    // Day 31.
    clock.advance(DAY);
    await s.scheduler.runDue();

    const texts = async (roomId: string, token: string) =>
      (await ok(s.api('GET', `/v1/rooms/${roomId}/messages`, { token }))).messages.map((m: any) =>
        m.erased ? `erased ${m.seq}` : m.text,
      );
    expect(await texts(a.roomId, a.clientToken)).toEqual(['erased 1', 'erased 2', 'recent-therapy']);
    expect(await texts(held.roomId, held.clientToken)).toEqual(['old-held']);
    expect(await texts(support, a.clientToken)).toEqual(['erased 1', 'recent-support']);
    expect(await s.store.db.query('SELECT 1 FROM attachments WHERE id = $1', [up.attachmentId])).toEqual([]);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    expect(metricValue(metrics, 'talkroom_retention_removed_total', { what: 'messages' })).toBe(3);
    expect(metricValue(metrics, 'talkroom_retention_removed_total', { what: 'recordings' })).toBe(1);

    // The next run is the next hour's: one job, whatever else scheduled it.
    const jobs = await s.store.db.query<{ id: string }>(
      `SELECT id FROM jobs WHERE kind = 'privacy.retention'`,
    );
    expect(jobs.map((j) => j.id)).toEqual(['retention:2027-01-01T11:00:00.000Z']);
  });
});

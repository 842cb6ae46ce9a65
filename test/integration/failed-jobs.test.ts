import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backoffMs } from '../../src/jobs/scheduler.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { metricValue } from '../helpers/metrics.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const WEBHOOK_ATTEMPTS = 12;

describe('failed jobs: kept, counted, listed and retried (webhook deliveries to a receiver that always fails)', () => {
  let receiver: Server;
  let s: TestServer;
  let accept = false;
  const attempts: Array<{ id: string; type: string; status: number }> = [];
  const clock = new ManualClock('2026-11-16T12:00:00Z');
  const scrape = async () => (await fetch(`${s.url}/metrics`)).text();

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const event = JSON.parse(body);
        const status = accept ? 204 : 503;
        attempts.push({ id: event.id, type: event.type, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    s = await startTestServer({
      backend: embedded,
      clock,
      runScheduler: false,
      env: {
        WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
        WEBHOOK_SECRET: 'webhook-secret-0123456789',
      },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('keeps a delivery that used up its attempts as failed, lists it to admins, and redelivers the same event on retry', async () => {
    const r = await therapyRoom(s);
    const booked = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: '2026-11-18T15:00:00Z' },
    });
    expect(booked.status).toBe(201);

    // Through the whole backoff: every attempt fails, the last one for good.
    for (let attempt = 1; attempt <= WEBHOOK_ATTEMPTS; attempt++) {
      await s.scheduler.runDue();
      clock.advance(backoffMs(attempt));
    }
    await s.scheduler.runDue(); // nothing left to try
    const types = ['booking.created', 'credit.granted'];
    expect(attempts.map((a) => a.type).sort()).toEqual(
      types.flatMap((t) => Array(WEBHOOK_ATTEMPTS).fill(t)).sort(),
    );
    const eventIds = new Map(attempts.map((a) => [a.type, a.id]));
    expect(new Set(attempts.map((a) => a.id)).size).toBe(2); // the same event id on every attempt

    let m = await scrape();
    expect(metricValue(m, 'talkroom_jobs_failed_total', { kind: 'webhook.deliver' })).toBe(2);
    expect(metricValue(m, 'talkroom_webhook_deliveries_total', { outcome: 'retried' })).toBe(
      2 * (WEBHOOK_ATTEMPTS - 1),
    );
    expect(metricValue(m, 'talkroom_webhook_deliveries_total', { outcome: 'failed' })).toBe(2);
    expect(metricValue(m, 'talkroom_webhook_deliveries_total', { outcome: 'delivered' })).toBeUndefined();
    expect(metricValue(m, 'talkroom_jobs_due')).toBe(0); // failed jobs are not a backlog

    // Listed to admins, a page at a time.
    const first = await s.api('GET', '/v1/admin/jobs/failed?limit=1', { token: r.admin });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ hasMore: true, next: expect.any(String) });
    const second = await s.api('GET', `/v1/admin/jobs/failed?limit=1&cursor=${first.body.next}`, {
      token: r.admin,
    });
    expect(second.body).toMatchObject({ hasMore: false });
    const failed = [...first.body.jobs, ...second.body.jobs];
    expect(failed.map((j: any) => j.id).sort()).toEqual(
      [...eventIds.values()].map((id) => `webhook:${id}`).sort(),
    );
    for (const j of failed) {
      expect(j).toEqual({
        id: expect.any(String),
        kind: 'webhook.deliver',
        attempts: WEBHOOK_ATTEMPTS,
        lastError: 'webhook receiver answered 503',
        failedAt: expect.stringMatching(/^2026-11-16T12:\d\d:\d\d\.\d{3}Z$/),
        createdAt: '2026-11-16T12:00:00.000Z',
      });
    }
    expect((await s.api('GET', '/v1/admin/jobs/failed', { token: r.clientToken })).status).toBe(403);
    expect(
      (await s.api('POST', `/v1/admin/jobs/${failed[0].id}/retry`, { token: r.providerToken })).status,
    ).toBe(403);
    expect((await s.api('POST', '/v1/admin/jobs/no-such-job/retry', { token: r.admin })).status).toBe(404);

    // The receiver is back; an admin redelivers one event: a retry of its job, the same event id.
    accept = true;
    attempts.length = 0;
    const createdJob = `webhook:${eventIds.get('booking.created')}`;
    const retried = await s.api('POST', `/v1/admin/jobs/${createdJob}/retry`, { token: r.admin });
    expect(retried).toMatchObject({
      status: 200,
      body: { job: { id: createdJob, kind: 'webhook.deliver', runAt: clock.now().toISOString() } },
    });
    await s.scheduler.runDue();
    expect(attempts).toEqual([{ id: eventIds.get('booking.created'), type: 'booking.created', status: 204 }]);
    // A retried job is no longer failed (and retrying it again finds nothing to retry).
    const left = await s.api('GET', '/v1/admin/jobs/failed', { token: r.admin });
    expect(left.body.jobs.map((j: any) => j.id)).toEqual([`webhook:${eventIds.get('credit.granted')}`]);
    expect((await s.api('POST', `/v1/admin/jobs/${createdJob}/retry`, { token: r.admin })).status).toBe(404);
    m = await scrape();
    expect(metricValue(m, 'talkroom_webhook_deliveries_total', { outcome: 'delivered' })).toBe(1);
    expect(metricValue(m, 'talkroom_jobs_failed_total', { kind: 'webhook.deliver' })).toBe(2);
  });
});

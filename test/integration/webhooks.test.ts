import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { signBody } from '../../src/services/webhooks.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const SECRET = 'webhook-secret-0123456789';

describe('webhooks', () => {
  let receiver: Server;
  let url: string;
  const received: Array<{ body: string; signature: string | undefined }> = [];
  let failNext = 0;
  let s: TestServer;
  const clock = new ManualClock('2026-11-16T12:00:00Z');

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (failNext > 0) {
          failNext--;
          res.writeHead(500).end();
          return;
        }
        received.push({ body, signature: req.headers['x-talkroom-signature'] as string | undefined });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    s = await startTestServer({
      backend: embedded,
      clock,
      runScheduler: false,
      env: { WEBHOOK_URL: url, WEBHOOK_SECRET: SECRET },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('delivers booking and credit events signed with HMAC-SHA256 of the body', async () => {
    const r = await therapyRoom(s);
    const res = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: '2026-11-18T15:00:00Z' },
    });
    expect(res.status).toBe(201);
    expect(received).toEqual([]); // the request path only writes the outbox
    await s.scheduler.runDue();
    const events = received.map((x) => JSON.parse(x.body));
    expect(events.map((e) => e.type).sort()).toEqual(['booking.created', 'credit.granted']);
    for (const x of received) expect(x.signature).toBe(signBody(SECRET, x.body));
    const created = events.find((e) => e.type === 'booking.created');
    expect(created).toMatchObject({
      id: expect.any(String),
      createdAt: '2026-11-16T12:00:00.000Z',
      data: { booking: { id: res.body.booking.id } },
    });
  });

  it('retries a failing receiver with backoff until it accepts', async () => {
    received.length = 0;
    failNext = 2;
    const r = await therapyRoom(s, { client: 'w-c', provider: 'w-p' });
    await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'audio', startsAt: '2026-11-18T16:00:00Z' },
    });
    await s.scheduler.runDue(); // both deliveries fail: the receiver answers 500 twice
    expect(received).toHaveLength(0);
    clock.advance(999);
    await s.scheduler.runDue();
    expect(received).toHaveLength(0); // the first retry waits a second
    clock.advance(1);
    await s.scheduler.runDue();
    expect(received.map((x) => JSON.parse(x.body).type).sort()).toEqual([
      'booking.created',
      'credit.granted',
    ]);
    expect(await s.store.db.query('SELECT id FROM jobs WHERE kind = $1', ['webhook.deliver'])).toEqual([]);
  });

  it('reports a cancellation without the reason the client wrote', async () => {
    const r = await therapyRoom(s, { client: 'x-c', provider: 'x-p' });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: '2026-11-19T15:00:00Z' },
    });
    await s.scheduler.runDue();
    received.length = 0;
    const reason = 'because of my panic attacks';
    const cancelled = await s.api('POST', `/v1/bookings/${b.body.booking.id}/cancel`, {
      token: r.clientToken,
      body: { reason },
    });
    expect(cancelled.body.booking.cancelReason).toBe(reason); // the room's members still see it
    await s.scheduler.runDue();
    const event = received.map((x) => JSON.parse(x.body)).find((e) => e.type === 'booking.cancelled');
    expect(event).toMatchObject({
      data: { booking: { id: b.body.booking.id, status: 'cancelled', hasCancelReason: true } },
    });
    expect(event.data.booking).not.toHaveProperty('cancelReason');
    for (const x of received) expect(x.body).not.toContain('panic');
  });

  it('reports message.created with ids only, never the text', async () => {
    received.length = 0;
    const r = await therapyRoom(s, { client: 'm-c', provider: 'm-p' });
    await s.scheduler.runDue();
    received.length = 0;
    const sent = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.clientToken,
      body: { clientMsgId: 'hook-1', kind: 'text', text: 'something private' },
    });
    await s.scheduler.runDue();
    expect(received).toHaveLength(1);
    const event = JSON.parse(received[0]!.body);
    expect(event).toEqual({
      id: expect.any(String),
      type: 'message.created',
      createdAt: sent.body.message.createdAt,
      data: {
        messageId: sent.body.message.id,
        roomId: r.roomId,
        seq: 1,
        senderId: 'm-c',
        senderRole: 'client',
        kind: 'text',
      },
    });
    expect(received[0]!.body).not.toContain('something private');
  });
});

import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { signBody, Webhooks } from '../../src/services/webhooks.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

// Standard Webhooks' secret form: the key is the 32 bytes after the prefix.
const SECRET = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;

interface Delivery {
  body: string;
  signature: string | undefined;
  headers: Record<string, string>;
  status: number;
}
const standardHeaders = (h: Record<string, string | string[] | undefined>) => ({
  'webhook-id': String(h['webhook-id']),
  'webhook-timestamp': String(h['webhook-timestamp']),
  'webhook-signature': String(h['webhook-signature']),
});

describe('webhooks', () => {
  let receiver: Server;
  let url: string;
  const received: Delivery[] = [];
  /** Every attempt, the refused ones too. */
  const attempts: Delivery[] = [];
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
        const status = failNext > 0 ? 500 : 204;
        const d: Delivery = {
          body,
          signature: req.headers['x-talkroom-signature'] as string | undefined,
          headers: standardHeaders(req.headers),
          status,
        };
        attempts.push(d);
        if (failNext > 0) {
          failNext--;
          res.writeHead(500).end();
          return;
        }
        received.push(d);
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

  it('delivers booking and credit events that the standardwebhooks library verifies, with the legacy signature beside', async () => {
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
    const wh = new Webhook(SECRET);
    for (const x of received) {
      // Standard Webhooks: the library takes the whsec_ secret as it is and checks id, time and body.
      expect(wh.verify(x.body, x.headers)).toEqual(JSON.parse(x.body));
      expect(x.headers['webhook-id']).toBe(JSON.parse(x.body).id);
      // The deprecated header, for receivers written before: hex HMAC of the body with the same key.
      expect(x.signature).toBe(
        createHmac('sha256', Buffer.from('0123456789abcdef0123456789abcdef')).update(x.body).digest('hex'),
      );
      expect(x.signature).toBe(signBody(SECRET, x.body));
    }
    const created = events.find((e) => e.type === 'booking.created');
    expect(created).toMatchObject({
      id: expect.any(String),
      createdAt: '2026-11-16T12:00:00.000Z',
      data: { booking: { id: res.body.booking.id } },
    });
  });

  it('refuses a replayed delivery once its timestamp is old, and a delivery whose timestamp was altered', async () => {
    const x = received[0]!;
    const wh = new Webhook(SECRET);
    expect(() => wh.verify(x.body, x.headers)).not.toThrow();
    // The same request, captured and sent again six minutes later (the library allows five).
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 6 * 60_000 });
    try {
      expect(() => wh.verify(x.body, x.headers)).toThrow(WebhookVerificationError);
      expect(() => wh.verify(x.body, x.headers)).toThrow('Message timestamp too old');
    } finally {
      vi.useRealTimers();
    }
    // Freshening the timestamp breaks the signature, which covers it.
    const fresh = { ...x.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) + 1) };
    expect(() => wh.verify(x.body, fresh)).toThrow('No matching signature found');
    // So does another body under the same id.
    expect(() => wh.verify(x.body.replace('"data"', '"data" '), x.headers)).toThrow(
      'No matching signature found',
    );
  });

  it('retries a failing receiver with backoff until it accepts, under one webhook-id', async () => {
    received.length = 0;
    attempts.length = 0;
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
    // Two attempts per event (refused, then accepted), each with the event's own id, signed anew.
    expect(attempts).toHaveLength(4);
    const wh = new Webhook(SECRET);
    for (const x of received) {
      const id = JSON.parse(x.body).id;
      const tries = attempts.filter((a) => a.headers['webhook-id'] === id);
      expect(tries.map((a) => a.status)).toEqual([500, 204]);
      for (const a of tries) {
        expect(a.body).toBe(x.body);
        expect(wh.verify(a.body, a.headers)).toMatchObject({ id });
      }
    }
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

  it('reports a late reschedule’s forfeited credit and its charge, as a late cancel does', async () => {
    const r = await therapyRoom(s, { client: 'lr-c', provider: 'lr-p' });
    clock.set('2026-11-16T12:00:00Z');
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality: 'video', startsAt: '2026-11-17T15:00:00Z' },
    });
    await s.api('POST', `/v1/bookings/${b.body.booking.id}/confirm`, { token: r.providerToken });
    clock.set('2026-11-16T18:00:00Z'); // inside the late window, past the cancel grace
    await s.scheduler.runDue();
    received.length = 0;
    const moved = await s.api('POST', `/v1/bookings/${b.body.booking.id}/reschedule`, {
      token: r.clientToken,
      body: { startsAt: '2026-11-18T15:00:00Z' },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(201);
    await s.scheduler.runDue();
    const events = received.map((x) => JSON.parse(x.body));
    expect(events.find((e) => e.type === 'credit.forfeited')).toMatchObject({
      data: { bookingId: b.body.booking.id, creditId: b.body.booking.creditId },
    });
    expect(events.find((e) => e.type === 'credit.charged')).toMatchObject({
      data: { bookingId: b.body.booking.id, reason: 'late_reschedule' },
    });
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

describe('webhook secrets', () => {
  it('a plain secret signs with its own bytes, as before; a whsec_ secret with the bytes it encodes', async () => {
    const seen: Delivery[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const signature = req.headers['x-talkroom-signature'] as string | undefined;
        seen.push({ body, signature, headers: standardHeaders(req.headers), status: 204 });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
      const plain = 'plain-webhook-secret-0123';
      const event = { id: 'evt-1', type: 'booking.created', createdAt: '2026-11-16T12:00:00.000Z', data: {} };
      const job = { payload: { event } } as unknown as Parameters<Webhooks['deliver']>[0];
      await new Webhooks({ url, secret: plain }).deliver(job);
      const [x] = seen;
      expect(x!.signature).toBe(createHmac('sha256', plain).update(x!.body).digest('hex'));
      // A receiver on a Standard Webhooks library takes a plain secret as raw bytes.
      expect(new Webhook(plain, { format: 'raw' }).verify(x!.body, x!.headers)).toEqual(event);
      expect(x!.headers['webhook-id']).toBe('evt-1');
    } finally {
      await new Promise((resolve) => receiver.close(resolve));
    }
    // A whsec_ secret must hold a key.
    expect(() => loadConfig({ WEBHOOK_URL: 'http://x/', WEBHOOK_SECRET: 'whsec_not*base64!!!!!' })).toThrow(
      /WEBHOOK_SECRET: a whsec_ secret must be base64/,
    );
    expect(loadConfig({ WEBHOOK_URL: 'http://x/', WEBHOOK_SECRET: SECRET }).webhook.secret).toBe(SECRET);
  });
});

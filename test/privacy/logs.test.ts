import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { capturedLogger } from '../helpers/metrics.ts';
import { request, startTestServer, type TestServer } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

describe.each(backends)('what the server logs, on the $name store', (backend) => {
  let s: TestServer;
  const logs = capturedLogger('trace');
  beforeAll(async () => {
    s = await startTestServer({ backend, clock: new ManualClock('2026-12-01T10:00:00Z'), logger: logs.log });
  });
  afterAll(() => s?.stop());

  it('no line at any level carries message text, meta, tokens, join tokens or file names, through messaging, recordings, bookings, join links, export, erasure and the audit log', async () => {
    const marker = `LOGMARK${randomBytes(6).toString('hex')}`;
    const r = await therapyRoom(s);
    const used: string[] = [marker, r.clientToken, r.providerToken, r.admin];
    await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'c1', kind: 'text', text: `${marker} text` },
      }),
    );
    const socket = await s.connect(r.clientToken);
    const sent = await request(socket, 'message:send', {
      roomId: r.roomId,
      clientMsgId: 'c2',
      kind: 'text',
      text: `${marker} over the socket`,
    });
    expect(sent.ok).toBe(true);
    const bot = s.token('care-bot', 'bot', { rooms: [r.roomId] });
    used.push(bot);
    await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: bot,
        body: { clientMsgId: 'b1', kind: 'system', meta: { note: `${marker} meta` } },
      }),
    );
    const up = await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/attachments`, {
        token: r.clientToken,
        raw: Buffer.concat([EBML, Buffer.from(`${marker} audio`)]),
        type: 'audio/webm',
      }),
    );
    const download = await s.api('GET', `/v1/rooms/${r.roomId}/attachments/${up.attachmentId}`, {
      token: r.providerToken,
    });
    const fileName = /filename="([^"]+)"/.exec(download.headers.get('content-disposition') ?? '')![1]!;
    used.push(fileName);
    const booking = (
      await ok(
        s.api('POST', '/v1/bookings', {
          token: r.clientToken,
          body: { roomId: r.roomId, modality: 'video', startsAt: '2026-12-24T15:00:00Z' },
        }),
      )
    ).booking;
    await ok(s.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    const links = await ok(s.api('GET', `/v1/bookings/${booking.id}/join-links`, { token: r.admin }));
    for (const url of Object.values(links.joinUrls) as string[]) {
      const joinToken = url.split('/').at(-1)!;
      used.push(joinToken);
      await s.api('GET', `/v1/join/${joinToken}`);
    }
    const exported = await fetch(`${s.url}/v1/users/${r.client}/export`, {
      headers: { authorization: `Bearer ${r.clientToken}` },
    });
    await exported.arrayBuffer();
    used.push(/filename="([^"]+)"/.exec(exported.headers.get('content-disposition') ?? '')![1]!);
    await ok(s.api('GET', '/v1/audit', { token: r.admin }));
    await ok(s.api('POST', `/v1/users/${r.client}/erase`, { token: r.admin, body: {} }));
    // A refused request names nothing either.
    await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.clientToken,
      body: { clientMsgId: 'c3', kind: 'text', text: `${marker} ${'x'.repeat(20_000)}` },
    });
    await s.api('GET', '/v1/rooms', { token: `${r.clientToken}x` });
    socket.disconnect();

    const raw = logs.raw();
    expect(logs.lines().length).toBeGreaterThan(10);
    // The log did see the requests: the room id is there, the content is not.
    expect(raw).toContain(r.roomId);
    expect(used.filter((u) => raw.includes(u))).toEqual([]);
  });
});

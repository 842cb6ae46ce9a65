import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { type BrowserParticipant, launchBrowser, type TestBrowser } from '../helpers/browser.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * Live video through a real TURN relay: Debian's coturn on loopback with
 * REST API credentials (TURN_SECRET), talkroom handing them out in the join
 * answer, and two headless Chromium pages told to use nothing but the relay
 * (`?iceTransportPolicy=relay`). Each browser's only candidates are then
 * coturn's relayed addresses, so media can only flow if coturn accepted the
 * credentials talkroom minted and relayed to the SFU.
 */

const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';

describe.each(['udp', 'tcp'] as const)('a video session relayed by coturn over %s', (transport) => {
  let coturn: Coturn;
  let s: TestServer;
  let browser: TestBrowser;
  const clock = new ManualClock(MONDAY);

  beforeAll(async () => {
    [coturn, browser] = await Promise.all([startCoturn(), launchBrowser()]);
    s = await startTestServer({
      backend: embedded,
      clock,
      runScheduler: false,
      media: true,
      env: {
        TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=${transport}`,
        TURN_SECRET: coturn.secret,
        TURN_TTL: '1h',
      },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await coturn?.close();
  });

  it(`carries audio and video both ways through the relay, every selected pair a relay candidate over ${transport}`, async () => {
    const r = await therapyRoom(s);
    const { booking } = await ok(
      s.api('POST', '/v1/bookings', {
        token: r.clientToken,
        body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
      }),
    );
    await ok(s.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    clock.set(new Date(Date.parse(WED_10AM) - 5 * 60_000));

    const relayOnly = (url: string) => `${url}?iceTransportPolicy=relay`;
    const client = await browser.participant(`client-${transport}`);
    const provider = await browser.participant(`provider-${transport}`);
    await client.open(relayOnly(s.bookings.joinUrl(booking, r.client)), r.clientToken);
    await client.waitForPhase('waiting');
    await provider.open(relayOnly(s.bookings.joinUrl(booking, r.provider)), r.providerToken);
    for (const p of [client, provider]) await p.waitForPhase('in_progress');

    const withCoturnLog = (p: BrowserParticipant, what: string) =>
      `${what}\ncoturn:\n${coturn.log().slice(-3000)}\n${p.logs.slice(-20).join('\n')}`;
    for (const p of [client, provider]) {
      const stats = await p
        .waitForStats(
          (x) =>
            x.inboundAudioPackets > 0 &&
            x.inboundVideoPackets > 0 &&
            x.outboundAudioPackets > 0 &&
            x.outboundVideoPackets > 0 &&
            x.candidatePairs.length === 2 &&
            x.candidatePairs.every((c) => c.state === 'succeeded'),
          'audio and video both ways, both transports on a succeeded pair',
          30_000,
        )
        .catch((e: Error) => {
          throw new Error(withCoturnLog(p, e.message));
        });
      const seen = JSON.stringify(stats.candidatePairs);
      expect(stats.candidatePairs.map((c) => c.direction).sort(), seen).toEqual(['recv', 'send']);
      for (const pair of stats.candidatePairs) {
        // The browser's side of each pair is coturn's relayed address, reached over the URL's transport;
        // the SFU's side is its own host candidate (mediasoup is ICE-lite).
        expect(pair.localType, seen).toBe('relay');
        expect(pair.relayProtocol, seen).toBe(transport);
        expect(pair.url, seen).toContain(`127.0.0.1:${coturn.port}`);
        expect(pair.remoteType, seen).toBe('host');
      }
      expect((await p.state()).consumers.map((c) => c.kind).sort()).toEqual(['audio', 'video']);
    }
  });
});

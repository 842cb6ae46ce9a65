import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { type BrowserParticipant, launchBrowser, type TestBrowser } from '../helpers/browser.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A live session joined through @talkroom/client in two headless Chromiums
 * (fake camera and microphone): the SDK's LiveSession sets up the
 * mediasoup-client Device and transports, sends both tracks and receives the
 * other side's. The page is the SDK bundled by esbuild as web/build.ts does,
 * served from an origin of its own (so the socket's long-polling is a CORS
 * request, allowed by CORS_ORIGINS).
 */

interface SdkPageState {
  status: string;
  connected: boolean;
  participants: number;
  remote: string[];
  error: string | null;
  ended: string | null;
}
type Packets = { inboundAudio: number; inboundVideo: number; outboundAudio: number; outboundVideo: number };

async function servePage(): Promise<{ url: string; close(): Promise<void> }> {
  const result = await build({
    entryPoints: [fileURLToPath(new URL('./sdk-page.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    // The SDK's sources, as the workspace package exports them for development.
    conditions: ['development'],
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const js = result.outputFiles[0]!.text;
  const html =
    '<!doctype html><meta charset="utf-8"><title>sdk</title><script type="module" src="/sdk.js"></script>';
  const server = createServer((req, res) => {
    if (req.url === '/sdk.js') {
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' });
      res.end(js);
    } else {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(html);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z';

describe('a live session through the SDK in two real browsers', () => {
  let s: TestServer;
  let browser: TestBrowser;
  let site: Awaited<ReturnType<typeof servePage>>;
  const clock = new ManualClock(MONDAY);

  beforeAll(async () => {
    [site, browser] = await Promise.all([servePage(), launchBrowser()]);
    s = await startTestServer({
      backend: embedded,
      clock,
      runScheduler: false,
      media: true,
      env: { CORS_ORIGINS: site.url },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
    await site?.close();
  });

  const state = (p: BrowserParticipant) => p.page.evaluate('window.sdkPage.state') as Promise<SdkPageState>;
  const packets = (p: BrowserParticipant) => p.page.evaluate('window.sdkPage.packets()') as Promise<Packets>;

  /** Polls the page (the browser's own state has no event to wait on from here) until `pred` holds. */
  async function waitFor<T>(
    p: BrowserParticipant,
    read: () => Promise<T>,
    pred: (v: T) => boolean,
    what: string,
  ) {
    const until = Date.now() + 60_000;
    for (;;) {
      const v = await read();
      if (pred(v)) return v;
      const st = await state(p);
      if (st.error) throw new Error(`${p.name}: ${st.error}\n${p.logs.slice(-20).join('\n')}`);
      if (Date.now() > until) {
        throw new Error(
          `${p.name}: ${what} not reached; last ${JSON.stringify(v)}\n${p.logs.slice(-20).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('both join by booking id, media flows both ways, and the provider ends it', async () => {
    const r = await therapyRoom(s);
    const { booking } = await ok(
      s.api('POST', '/v1/bookings', {
        token: r.clientToken,
        body: { roomId: r.roomId, modality: 'video', startsAt: WED_10AM },
      }),
    );
    await ok(s.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    clock.set(new Date(Date.parse(WED_10AM) - 5 * 60_000));

    const open = async (name: string, token: string) => {
      const p = await browser.participant(name);
      const hash = new URLSearchParams({ url: s.url, token, bookingId: booking.id });
      await p.page.goto(`${site.url}/#${hash}`, { waitUntil: 'domcontentloaded' });
      return p;
    };
    const client = await open('sdk-client', r.clientToken);
    await waitFor(
      client,
      () => state(client),
      (st) => st.status === 'waiting',
      'waiting',
    );
    const provider = await open('sdk-provider', r.providerToken);
    for (const p of [client, provider]) {
      await waitFor(
        p,
        () => state(p),
        (st) => st.status === 'in_progress' && st.participants === 2,
        'in progress',
      );
      await waitFor(
        p,
        () => state(p),
        (st) => st.remote.includes('audio') && st.remote.includes('video'),
        'the other side’s audio and video tracks',
      );
      const x = await waitFor(
        p,
        () => packets(p),
        // Sent and received counters each show up in their own stats report: wait for both.
        (v) => v.inboundAudio > 0 && v.inboundVideo > 0 && v.outboundAudio > 0 && v.outboundVideo > 0,
        'audio and video packets both ways',
      );
      expect(x.outboundAudio).toBeGreaterThan(0);
      expect(x.outboundVideo).toBeGreaterThan(0);
    }

    await provider.page.evaluate(`window.sdkPage.end()`);
    for (const p of [client, provider]) {
      const st = await waitFor(
        p,
        () => state(p),
        (v) => v.ended !== null,
        'ended',
      );
      expect(st.ended).toBe('completed');
      expect(st.status).toBe('ended');
    }
  });
});

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import {
  type BrowserParticipant,
  expectAccessible,
  launchBrowser,
  SCREENSHOT_DIR,
  serveWebClient,
  type TestBrowser,
} from '../helpers/browser.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * The reference web client in real headless Chromium (fake camera and
 * microphone): what a join link opens, end to end through talkroom's signaling
 * and the mediasoup SFU.
 */

const shot = (name: string) => join(SCREENSHOT_DIR, name);

/** A JWT-shaped token the page can read its claims from (these tests never verify it). */
function fakeJwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}.c2lnbmF0dXJl`;
}

describe('the web client page', () => {
  let browser: TestBrowser;
  let site: Awaited<ReturnType<typeof serveWebClient>>;

  beforeAll(async () => {
    [browser, site] = await Promise.all([
      launchBrowser(),
      serveWebClient({
        // Never answers: the page stays on "Connecting…".
        '/v1/join/slow-link': () => {},
        '/v1/join/': (res) => {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(
            JSON.stringify({ error: { code: 'join_window_closed', message: 'the join window is closed' } }),
          );
        },
      }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('is built ahead of time, joins with the link alone (no sign-in form), and says plainly why a link does not work', async () => {
    // Built ahead of time: the page names its content-hashed script and stylesheet, cacheable for good.
    const html = await (await fetch(`${site.url}/join/any`)).text();
    const js = /<script type="module" src="(\/assets\/session-[A-Z0-9]{8}\.js)"><\/script>/.exec(html)?.[1];
    const css = /<link rel="stylesheet" href="(\/assets\/session-[A-Z0-9]{8}\.css)">/.exec(html)?.[1];
    expect(js && css, html).toBeTruthy();
    for (const asset of [js, css]) {
      const res = await fetch(`${site.url}${asset}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await res.text()).length).toBeGreaterThan(asset === js ? 10_000 : 100);
    }
    expect((await fetch(`${site.url}/assets/manifest.json`)).status).toBe(404);

    // No platform token anywhere: the page does not ask for one, it looks the link up.
    const visitor = await browser.participant('visitor');
    await visitor.open(`${site.url}/join/slow-link`);
    const connecting = await visitor.waitForPhase('connecting');
    expect(connecting.joinToken).toBe('slow-link');
    const page = visitor.page;
    expect(await page.locator('#status').textContent()).toBe('Connecting…');
    expect(await page.getByLabel('Your sign-in token', { exact: true }).count()).toBe(0);
    expect(await page.locator('input[type="password"]').count()).toBe(0);
    await expectAccessible(page, 'connecting');
    await visitor.screenshot(shot('session-connecting.png'));

    // A platform token in the fragment is scrubbed from the address bar; an error answer is shown in words and code.
    const late = await browser.participant('late');
    await late.open(`${site.url}/join/closed-link`, fakeJwt({ sub: 'client-1', role: 'client' }));
    const failed = await late.waitForPhase('error');
    expect(failed.error).toEqual({ code: 'join_window_closed', message: 'the join window is closed' });
    expect(late.page.url()).toBe(`${site.url}/join/closed-link`);
    expect(await late.page.locator('#status').textContent()).toBe('This session is not open right now');
    expect(await late.page.locator('#detail').textContent()).toMatch(/from shortly before the start/);
    expect(await late.page.locator('#code').textContent()).toBe('(join_window_closed)');
    await expectAccessible(late.page, 'closed link');

    // A link opened too early says when it opens, in the viewer's own time; one opened after its session, that it expired.
    const opens = Date.now() + 2 * 86_400_000;
    const early = await browser.participant('early-link');
    await early.open(
      `${site.url}/join/${fakeJwt({ typ: 'join', sub: 'client-1', nbf: opens / 1000, exp: opens / 1000 + 3600 })}`,
    );
    await early.waitForPhase('error');
    expect(await early.page.locator('#status').textContent()).toBe('This session has not opened yet');
    const local = new Intl.DateTimeFormat('en-US', {
      weekday: 'long',
      day: 'numeric',
      month: 'long',
      timeZone: 'UTC',
    });
    const localTime = new Intl.DateTimeFormat('en-US', {
      hour: 'numeric',
      minute: '2-digit',
      timeZone: 'UTC',
    });
    expect(await early.page.locator('#detail').textContent()).toContain(
      `${local.format(opens)}, ${localTime.format(opens)}`,
    );
    await expectAccessible(early.page, 'too early');
    await early.screenshot(shot('session-too-early.png'));
    const expired = await browser.participant('expired-link');
    const closed = Date.now() - 86_400_000;
    await expired.open(
      `${site.url}/join/${fakeJwt({ typ: 'join', sub: 'client-1', nbf: closed / 1000 - 3600, exp: closed / 1000 })}`,
    );
    await expired.waitForPhase('error');
    expect(await expired.page.locator('#status').textContent()).toBe('This link has expired');

    // The bundle ran cleanly: no uncaught exceptions in any page.
    expect([...visitor.logs, ...late.logs, ...early.logs].filter((l) => l.includes('pageerror'))).toEqual([]);
  });
});

// Monday 2026-11-16 07:00 in New York, where the provider works 09:00-17:00.
const MONDAY = '2026-11-16T12:00:00Z';
const WED_10AM = '2026-11-18T15:00:00.000Z'; // Wednesday 10:00 in New York
const WED_11AM = '2026-11-18T16:00:00.000Z';
const WED_2PM = '2026-11-18T19:00:00.000Z';

describe('live sessions in two real browsers', () => {
  let s: TestServer;
  let browser: TestBrowser;
  const clock = new ManualClock(MONDAY);
  let r: Awaited<ReturnType<typeof therapyRoom>>;

  beforeAll(async () => {
    [s, browser] = await Promise.all([
      startTestServer({ backend: embedded, clock, runScheduler: false, media: true }),
      launchBrowser(),
    ]);
    r = await therapyRoom(s); // 4 live sessions a month
  });
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  /** Booked by the client, confirmed by the provider; the clock set inside the join window (it opens 10 min before). */
  async function confirmedSession(modality: 'video' | 'audio' | 'chat', startsAt: string) {
    clock.set(MONDAY);
    const { booking } = await ok(
      s.api('POST', '/v1/bookings', { token: r.clientToken, body: { roomId: r.roomId, modality, startsAt } }),
    );
    await ok(s.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    clock.set(new Date(Date.parse(startsAt) - 5 * 60_000));
    return booking;
  }

  /** Both parties on their own join links, each in a browser context of their own. */
  async function bothJoin(booking: { id: string; startsAt: string; endsAt: string }) {
    const client = await browser.participant(`client-${booking.id}`);
    const provider = await browser.participant(`provider-${booking.id}`);
    // The link alone: no platform token in the page.
    await client.open(s.bookings.joinUrl(booking, r.client));
    // The first to arrive waits for the other.
    await client.waitForPhase('waiting');
    expect(await client.page.locator('#status').textContent()).toBe('Waiting for the other party…');
    await provider.open(s.bookings.joinUrl(booking, r.provider));
    for (const p of [client, provider]) {
      const st = await p.waitForPhase('in_progress');
      expect(st.bookingId).toBe(booking.id);
      expect(await p.page.locator('#status').textContent()).toBe('Session in progress');
    }
    await client.waitForState((st) => st.participants.length === 2, 'both participants listed');
    return { client, provider };
  }

  /** Media flows both ways: each side receives audio (and video when `video`). */
  async function expectMediaBothWays(parties: BrowserParticipant[], video: boolean) {
    for (const p of parties) {
      // Sent and received counters each show up in their own stats report: wait for both, not one snapshot.
      const stats = await p.waitForStats(
        (x) =>
          x.inboundAudioPackets > 0 &&
          x.outboundAudioPackets > 0 &&
          (!video || (x.inboundVideoPackets > 0 && x.outboundVideoPackets > 0)),
        video ? 'audio and video packets both ways' : 'audio packets both ways',
        20_000,
      );
      expect(stats.outboundAudioPackets).toBeGreaterThan(0);
      if (video) expect(stats.outboundVideoPackets).toBeGreaterThan(0);
    }
  }

  it('a video session: both join from their links, see and hear each other, and the provider ends it', async () => {
    const booking = await confirmedSession('video', WED_10AM);
    const { client, provider } = await bothJoin(booking);
    await expectMediaBothWays([client, provider], true);
    // The page served with its Content-Security-Policy works whole: nothing it needs was refused.
    for (const p of [client, provider]) {
      expect(p.logs.filter((l) => /Content Security Policy/i.test(l))).toEqual([]);
    }
    for (const p of [client, provider]) {
      const st = await p.state();
      // The page's whole state goes with each failure: a rare failure under load must say what the page saw.
      const seen = JSON.stringify(st);
      expect(st.handlerName, seen).toBeTruthy();
      expect(st.producers.audio, seen).toBeTruthy();
      expect(st.producers.video, seen).toBeTruthy();
      expect(st.consumers.map((c) => c.kind).sort(), seen).toEqual(['audio', 'video']);
      expect(await p.page.locator('#remote video').count(), seen).toBe(1);
    }
    await client.screenshot(shot('video-client.png'));
    await provider.screenshot(shot('video-provider.png'));

    // Mute pauses the client's microphone; its button says so.
    await client.page.getByRole('button', { name: 'Mute' }).click();
    expect(await client.page.getByRole('button', { name: 'Unmute' }).getAttribute('aria-pressed')).toBe(
      'true',
    );

    // Only the provider may end it, and is asked twice.
    expect(await client.page.getByRole('button', { name: 'End session' }).isVisible()).toBe(false);
    await provider.page.getByRole('button', { name: 'End session' }).click();
    await provider.page.getByRole('button', { name: 'End for everyone' }).click();
    for (const p of [client, provider]) {
      const st = await p.waitForPhase('ended');
      expect(st.endedStatus).toBe('completed');
      expect(await p.page.locator('#status').textContent()).toBe('The session has ended');
    }
    await client.screenshot(shot('video-ended.png'));
  });

  it('an audio session: audio both ways, no video at all', async () => {
    const booking = await confirmedSession('audio', WED_11AM);
    const { client, provider } = await bothJoin(booking);
    await expectMediaBothWays([client, provider], false);
    // Audio keeps flowing for a while and video never starts.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const p of [client, provider]) {
      const stats = await p.stats();
      expect(stats.inboundAudioPackets).toBeGreaterThan(0);
      expect(stats.inboundVideoPackets).toBe(0);
      expect(stats.outboundVideoPackets).toBe(0);
      const st = await p.state();
      expect(st.producers.video).toBeNull();
      expect(st.consumers.map((c) => c.kind)).toEqual(['audio']);
      expect(await p.page.getByRole('button', { name: 'Turn camera off' }).isVisible()).toBe(false);
    }
    await client.screenshot(shot('audio-client.png'));

    // Leaving: the other side sees the participant go.
    // Leaving asks first.
    await client.page.getByRole('button', { name: 'Leave' }).click();
    await client.page.getByRole('button', { name: 'Leave now' }).click();
    await client.waitForPhase('left');
    await provider.waitForState((st) => st.participants.length === 1, 'the client gone from the list');
  });

  it('a chat session: messages typed in one page appear in the other', async () => {
    const booking = await confirmedSession('chat', WED_2PM);
    const { client, provider } = await bothJoin(booking);
    await client.page.getByLabel('Message', { exact: true }).fill('Hello, I am here');
    await client.page.getByRole('button', { name: 'Send' }).click();
    await provider.page.getByText('Hello, I am here').waitFor({ timeout: 10_000 });
    const history = await s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken });
    expect(history.body.messages.at(-1)).toMatchObject({ text: 'Hello, I am here', bookingId: booking.id });
    expect((await provider.stats()).inboundAudioPackets).toBe(0);
    await provider.screenshot(shot('chat-provider.png'));
  });

  it('a link opened before its window shows join_window_closed', async () => {
    const booking = await confirmedSession('video', '2026-11-19T15:00:00.000Z');
    clock.set('2026-11-19T14:00:00Z'); // an hour early
    const early = await browser.participant('early');
    await early.open(s.bookings.joinUrl(booking, r.client));
    const st = await early.waitForPhase('error');
    expect(st.error?.code).toBe('join_window_closed');
    expect(await early.page.locator('#code').textContent()).toBe('(join_window_closed)');
    expect(await early.page.locator('#detail').textContent()).toContain('Thursday, November 19, 2:50 PM');
  });
});

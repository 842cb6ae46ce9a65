import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrowserParticipant,
  expectAccessible,
  launchBrowser,
  SCREENSHOT_DIR,
  type TestBrowser,
} from '../helpers/browser.ts';
import { type Coturn, startCoturn } from '../helpers/coturn.ts';
import { type FirefoxParticipant, launchFirefox, type TestFirefox } from '../helpers/firefox.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { processClient, type ServerProcess, spawnServer } from '../helpers/processes.ts';
import { TEST_LIMITS, TEST_SECRET } from '../helpers/server.ts';
import { remember } from '../helpers/suite-logs.ts';
import { freePortBase } from '../media/helpers.ts';

/**
 * The session page end to end in two engines against a real server process:
 * a client books from open slots and the provider confirms; the reminder's
 * link alone joins the client in Chromium (on a phone-sized screen) while the
 * provider joins from theirs in Firefox ESR (which reaches the SFU through
 * coturn on loopback). Media flows both ways, a shared screen reaches the
 * other side, chat works both ways, mute and camera-off show on the other
 * side, and a server restart mid-session recovers both pages without a click.
 */

const shot = (name: string) => join(SCREENSHOT_DIR, name);
const ALL_DAY: Record<string, [string, string][]> = Object.fromEntries(
  ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]),
);

describe('a video session in Chromium and Firefox', () => {
  let coturn: Coturn;
  let chromium: TestBrowser;
  let firefox: TestFirefox;
  let node: ServerProcess;
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    coturn = await startCoturn();
    dataDir = mkdtempSync(join(tmpdir(), 'talkroom-two-engines-'));
    const [port, media] = await Promise.all([freePortBase(1), freePortBase(10)]);
    env = {
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: 'info',
      AUTH_JWT_SECRET: TEST_SECRET,
      DATA_DIR: dataDir,
      SHUTDOWN_GRACE: '2s',
      MEDIA_WORKERS: '1',
      MEDIA_RTC_MIN_PORT: String(media),
      MEDIA_RTC_MAX_PORT: String(media + 9),
      TURN_URLS: `turn:127.0.0.1:${coturn.port}?transport=udp`,
      TURN_SECRET: coturn.secret,
      // Real time: a session a few minutes from now, its link open already, confirmable until it starts.
      POLICY_SLOT_STEP: '1m',
      POLICY_JOIN_OPENS: '1h',
      POLICY_CONFIRM_DEADLINE: '0s',
      ...TEST_LIMITS,
    };
    // Started before the browsers: on a busy machine the three starting together take minutes.
    node = await spawnServer({ name: 'two-engines', env, startTimeoutMs: 120_000 });
    chromium = await launchBrowser();
    firefox = await launchFirefox();
  }, 300_000);
  afterAll(async () => {
    await Promise.allSettled([chromium?.close(), firefox?.close()]);
    await node?.stop();
    await coturn?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /** Waits until both sides send and receive audio and video, and the received counts still rise (flowing now). */
  async function mediaFlows(parties: Array<BrowserParticipant | FirefoxParticipant>, what: string) {
    for (const p of parties) {
      const first = await p.waitForStats(
        (x) =>
          x.inboundAudioPackets > 0 &&
          x.inboundVideoPackets > 0 &&
          x.outboundAudioPackets > 0 &&
          x.outboundVideoPackets > 0,
        `${what}: audio and video both ways`,
        60_000,
      );
      await p.waitForStats(
        (x) =>
          x.inboundAudioPackets > first.inboundAudioPackets &&
          x.inboundVideoPackets > first.inboundVideoPackets,
        `${what}: still arriving`,
        30_000,
      );
    }
  }

  it('books, joins by the links alone, shares a screen, chats, and recovers from a server restart', async () => {
    const api = processClient(node);
    const r = await therapyRoom(api, { providerTimezone: 'UTC', workingHours: ALL_DAY });
    for (const [id, name] of [
      [r.client, 'Sam Lee'],
      [r.provider, 'Dr. Ana Rivera'],
    ] as const) {
      await ok(
        api.api('PUT', `/v1/users/${id}`, {
          token: r.admin,
          body: {
            role: id === r.client ? 'client' : 'provider',
            displayName: name,
            timezone: 'UTC',
            ...(id === r.provider ? { specialty: 'therapy', workingHours: ALL_DAY } : {}),
          },
        }),
      );
    }

    // The client books the first open slot; the provider confirms.
    const from = new Date(Date.now() + 3 * 60_000).toISOString();
    const { slots } = await ok(
      api.api('GET', `/v1/providers/${r.provider}/slots?from=${encodeURIComponent(from)}`, {
        token: r.clientToken,
      }),
    );
    const { booking } = await ok(
      api.api('POST', '/v1/bookings', {
        token: r.clientToken,
        body: { roomId: r.roomId, modality: 'video', startsAt: slots[0].startsAt },
      }),
    );
    await ok(api.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    // The links a reminder carries.
    const { joinUrls } = await ok(
      api.api('GET', `/v1/bookings/${booking.id}/join-links`, { token: r.admin }),
    );
    remember(...Object.values(joinUrls as Record<string, string>));

    // The client on a phone, with nothing but the link.
    const client = await chromium.participant('client-chromium');
    await client.page.setViewportSize({ width: 390, height: 844 });
    await client.open(joinUrls[r.client]);
    const waiting = await client.waitForPhase('waiting', 30_000);
    expect(waiting.other).toMatchObject({ displayName: 'Dr. Ana Rivera', role: 'provider' });
    expect(await client.page.locator('#other').textContent()).toContain('Dr. Ana Rivera');
    await client.waitForState(
      (s) => s.level > 0 && s.check.server === 'ok',
      'the mic meter moving and the server reached',
    );
    // The waiting room: self-preview, device choice, level meter, connection check; the controls on the first screen.
    expect(await client.page.getByRole('combobox', { name: 'Camera' }).count()).toBe(1);
    expect(await client.page.getByRole('combobox', { name: 'Microphone' }).count()).toBe(1);
    expect(await client.page.getByLabel('Your camera').count()).toBe(1);
    const controls = await client.page.locator('#controls').boundingBox();
    expect(controls && controls.y + controls.height).toBeLessThanOrEqual(844);
    await expectAccessible(client.page, 'waiting room');
    await client.screenshot(shot('session-waiting.png'));

    // Chat while waiting.
    await client.page.getByLabel('Message', { exact: true }).fill('Hello, I am in the waiting room');
    remember('Hello, I am in the waiting room', 'Welcome, I can see you', 'I can see your screen');
    await client.page.getByRole('button', { name: 'Send' }).click();

    // The provider in Firefox, from their own link opened in the platform's app (its token in the fragment):
    // signed in as themself, the page also reads the chat sent before they came.
    const provider = await firefox.participant('provider-firefox');
    await provider.open(joinUrls[r.provider], r.providerToken);
    for (const p of [client, provider]) await p.waitForPhase('in_progress', 60_000);
    await provider.page.waitForFunction(
      (text: string) => document.querySelector('#messages')?.textContent?.includes(text),
      { timeout: 20_000 },
      'Hello, I am in the waiting room',
    );
    await mediaFlows([client, provider], 'after both joined');
    expect((await provider.stats()).candidatePairs.some((p) => p.localType === 'relay')).toBe(true);
    await provider.fill('#chat-input', 'Welcome, I can see you');
    await provider.click('#chat-form button');
    await client.page.getByText('Welcome, I can see you').waitFor({ timeout: 20_000 });
    const timer = await client.page.locator('#timer').textContent();
    expect(timer).toMatch(/\d+:\d\d/);
    await provider.expectAccessible('session (provider)');
    await expectAccessible(client.page, 'session (client)');
    await client.screenshot(shot('session-video-client.png'));

    // Keyboard: the controls are reached with Tab.
    let reached = '';
    for (let i = 0; i < 30 && reached !== 'mute'; i++) {
      await client.page.keyboard.press('Tab');
      reached = await client.page.evaluate('document.activeElement && document.activeElement.id');
    }
    expect(reached).toBe('mute');

    // The client shares a screen: the provider receives it beside the camera.
    await client.page.getByRole('button', { name: 'Share screen' }).click();
    await client.waitForState((s) => !!s.producers.screen, 'the screen sent');
    await provider.waitForState(
      (s) => s.consumers.some((c) => c.source === 'screen' && !c.paused),
      'the screen received',
      30_000,
    );
    await provider.page.waitForFunction(() => document.querySelectorAll('#remote video').length === 2, {
      timeout: 20_000,
    });
    await provider.screenshot(shot('session-screen-share-provider.png'));
    await client.page.getByRole('button', { name: 'Stop sharing' }).click();
    await provider.waitForState(
      (s) => !s.consumers.some((c) => c.source === 'screen' && !c.paused),
      'the screen stopped',
      30_000,
    );
    await provider.page.waitForFunction(() => document.querySelectorAll('#remote video').length === 1, {
      timeout: 20_000,
    });

    // Muted and camera off: the other side is shown so.
    await client.page.getByRole('button', { name: 'Mute' }).click();
    await client.page.getByRole('button', { name: 'Turn camera off' }).click();
    await provider.waitForState(
      (s) => s.consumers.filter((c) => c.paused && c.source !== 'screen').length === 2,
      'the client shown muted with the camera off',
      30_000,
    );
    expect(await provider.text('#remote')).toContain('Camera off');
    await provider.screenshot(shot('session-other-muted.png'));
    await client.page.getByRole('button', { name: 'Unmute' }).click();
    await client.page.getByRole('button', { name: 'Turn camera on' }).click();
    await provider.waitForState(
      (s) => s.consumers.every((c) => c.source === 'screen' || !c.paused),
      'the client back',
      30_000,
    );

    // A server restart mid-session: both pages notice, and come back by themselves.
    await node.stop();
    for (const p of [client, provider])
      await p.waitForState((s) => !s.connected, 'the connection lost', 30_000);
    node = await spawnServer({ name: 'two-engines-again', env, startTimeoutMs: 120_000 });
    for (const p of [client, provider]) {
      await p.waitForState(
        (s) => s.connected && s.phase === 'in_progress' && s.consumers.length >= 2,
        'reconnected and receiving again',
        90_000,
      );
    }
    await mediaFlows([client, provider], 'after the restart');
    expect(await client.page.locator('#notice').count()).toBe(0);
    await client.page.getByLabel('Message', { exact: true }).fill('I can see your screen');
    await client.page.getByRole('button', { name: 'Send' }).click();
    await provider.page.waitForFunction(
      (text: string) => document.querySelector('#messages')?.textContent?.includes(text),
      { timeout: 20_000 },
      'I can see your screen',
    );
    const history = await ok(
      processClient(node).api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken }),
    );
    const texts = history.messages
      .filter((m: { bookingId?: string; kind: string }) => m.bookingId === booking.id && m.kind === 'text')
      .map((m: { text: string }) => m.text);
    expect(texts).toEqual([
      'Hello, I am in the waiting room',
      'Welcome, I can see you',
      'I can see your screen',
    ]);

    // The provider ends it (asked first); both see what happens next.
    await provider.click('#end');
    await provider.click('#confirm-yes');
    for (const p of [client, provider]) {
      const st = await p.waitForPhase('ended', 30_000);
      expect(st.endedStatus).toBe('completed');
    }
    expect(await client.page.locator('#status').textContent()).toBe('The session has ended');
    await expectAccessible(client.page, 'ended');
    await provider.expectAccessible('ended (provider)');
    await client.screenshot(shot('session-ended.png'));
    // Firefox reports each refused WebSocket while the server was down as a page error: those are expected.
    const errors = [...client.logs, ...provider.logs].filter(
      (l) => l.includes('pageerror') && !/can.t establish a connection to the server at ws:/.test(l),
    );
    expect(errors).toEqual([]);
  }, 600_000);
});

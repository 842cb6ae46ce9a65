import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ALL_WEEK, type Engines, launchEngines, SLOW } from './app-page.ts';

/**
 * Messages in the web app against a real server: a voice message recorded
 * with MediaRecorder in one engine (Firefox's fake microphone) is uploaded,
 * delivered and played in the other (Chromium); text, typing, unread counts
 * and read receipts travel between the two; times the client shares when no
 * slot fits become a session the provider books from them.
 */

describe('messages in the web app, Firefox and Chromium', { timeout: SLOW }, () => {
  let s: TestServer;
  let engines: Engines;
  let f: Awaited<ReturnType<typeof therapyRoom>>;

  beforeAll(async () => {
    [s, engines] = await Promise.all([startTestServer({ backend: embedded }), launchEngines()]);
    f = await therapyRoom(s, { workingHours: ALL_WEEK });
  });
  afterAll(async () => {
    await engines?.close();
    await s?.stop();
  });

  it('a voice message recorded in Firefox is played in Chromium; text, typing, unread and receipts travel', async () => {
    const provider = await engines.page('chromium', 'provider');
    await provider.open(s.url, f.providerToken);
    await provider.click('Rooms', '.tabs');
    await provider.waitFor(`document.querySelector('[data-room="${f.roomId}"]')`, 'the room in the list');

    const client = await engines.page('firefox', 'client');
    await client.open(s.url, f.clientToken);
    await client.click('Provider', '.rooms');
    await client.waitFor(`document.body.innerText.includes('No messages yet')`, 'the empty timeline');

    await client.click('Record voice');
    await client.waitFor(
      `document.querySelector('[role="timer"]')?.textContent === '0:01'`,
      'a second recorded',
    );
    await client.click('Stop recording');
    await client.waitFor(`document.querySelector('.recorded audio')`, 'the recording to hear before sending');
    expect(await client.axe()).toEqual([]);
    await client.screenshot('app-client-recorded-firefox');
    await client.click('Send voice message');
    await client.waitFor(
      `document.querySelector('.msg.mine[data-kind="voice"] audio')`,
      'the sent voice message',
    );

    const history = await s.api('GET', `/v1/rooms/${f.roomId}/messages`, { token: f.providerToken });
    const voice = history.body.messages.find((m: { kind: string }) => m.kind === 'voice');
    expect(voice.attachment.mimeType).toMatch(/^audio\/(webm|ogg)$/);
    expect(voice.attachment.sizeBytes).toBeGreaterThan(500);

    // The provider's list counts it unread; opening the room plays it.
    await provider.waitFor(
      `document.querySelector('[data-room="${f.roomId}"] .unread')?.textContent.startsWith('1')`,
      'one unread message',
    );
    await provider.click('Client', '.rooms');
    await provider.waitFor(
      `document.querySelector('.msg.theirs[data-kind="voice"] audio')`,
      'the voice message',
    );
    await provider.eval(`document.querySelector('.msg.theirs[data-kind="voice"] audio').play()`);
    await provider.waitFor(
      `document.querySelector('.msg.theirs[data-kind="voice"] audio').currentTime > 0.2`,
      'the voice message playing',
    );
    // Opening the room read it: the client's page says so.
    await client.waitFor(
      `document.querySelector('.msg.mine .receipt')?.textContent === 'Read'`,
      'the read receipt',
    );

    // Typing shows on the other side, then the text arrives.
    await provider.fill('#composer-text', 'Thank you, I listened to it.');
    await client.waitFor(`document.querySelector('.typing')?.textContent.includes('is typing')`, 'typing');
    await provider.press('Enter');
    await client.waitFor(
      `[...document.querySelectorAll('.msg.theirs .text')].some((e) => e.textContent.includes('I listened'))`,
      'the reply',
    );
    expect(await provider.axe()).toEqual([]);
    await provider.screenshot('app-provider-room-chromium');
    await client.screenshot('app-client-room-firefox');
    expect(await client.axe()).toEqual([]);

    // No slot fits: the client shares when they could meet, the provider books from it.
    await client.click('Book a session');
    await client.click('None of these times work');
    await client.waitFor(`document.querySelector('form.share input[type="date"]')`, 'the availability form');
    expect(await client.axe()).toEqual([]);
    await client.click('Share these times');
    await provider.waitFor(
      `document.querySelector('.msg.theirs[data-kind="availability"] .book-from')`,
      'the times',
    );
    expect(
      await provider.eval<string>(
        `document.querySelector('.msg.theirs[data-kind="availability"]').innerText`,
      ),
    ).not.toMatch(/\dT\d\d:/);
    await provider.click('Book for the client', '.book-from');
    await provider.waitFor(
      `document.querySelector('.book-from [role="status"]')?.textContent.startsWith('Booked')`,
      'booked',
    );
    const { bookings } = (await s.api('GET', `/v1/bookings?roomId=${f.roomId}`, { token: f.clientToken }))
      .body;
    expect(bookings).toHaveLength(1);
    expect(bookings[0]).toMatchObject({ createdBy: f.provider, modality: 'video' });
    await client.waitFor(
      `document.querySelector('[data-booking="${bookings[0].id}"]')`,
      'the session in the client’s room',
    );
    await provider.screenshot('app-provider-availability-chromium');
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLate } from '../../web/app/policy.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ALL_WEEK, type AppPage, type Engines, firstOfMonth, launchEngines, SLOW } from './app-page.ts';

/**
 * Booking in the web app against a real server, in two engines: the client
 * books from the provider's open slots in Chromium (buying a credit on the
 * way, none being left), the provider confirms it from their day in Firefox,
 * and each screen passes axe-core.
 */

async function noViolations(page: AppPage, screen: string) {
  expect(await page.axe(), `${screen} (${page.engine})`).toEqual([]);
  await page.screenshot(`app-${screen}-${page.engine}`);
}

describe('booking in the web app, Chromium and Firefox', { timeout: SLOW }, () => {
  let s: TestServer;
  let engines: Engines;
  let f: Awaited<ReturnType<typeof therapyRoom>>;

  beforeAll(async () => {
    [s, engines] = await Promise.all([
      // Reminders 24 h and 2 h ahead: a session confirmed inside both (the first slot, within the hour) gets its
      // reminder, with the join links, at once.
      startTestServer({ backend: embedded, env: { POLICY_REMINDERS: '24h,2h' } }),
      launchEngines(),
    ]);
    f = await therapyRoom(s, {
      workingHours: ALL_WEEK,
      // No live session in the allowance: the first booking buys its credit.
      plan: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 0,
        periodStart: firstOfMonth(),
      },
    });
  });
  afterAll(async () => {
    await engines?.close();
    await s?.stop();
  });

  it('a client books from the open slots in Chromium, buying a credit, and the provider confirms in Firefox', async () => {
    const client = await engines.page('chromium', 'client');
    await client.open(s.url, f.clientToken);
    await client.waitFor(`document.querySelector('[data-room="${f.roomId}"]')`, 'the room in the list');
    await noViolations(client, 'client-rooms');

    await client.click('Provider', '.rooms');
    await client.waitFor(`document.body.innerText.includes('No messages yet')`, 'the empty timeline');
    await client.fill('#composer-text', 'Hello, could we meet this week?');
    await client.press('Enter');
    await client.waitFor(
      `document.querySelector('.msg.mine')?.innerText.includes('could we meet')`,
      'the sent text',
    );

    await client.click('Book a session');
    await client.waitFor(`document.querySelector('.slot')`, 'open slots');
    await client.waitFor(`document.body.innerText.includes('booking buys one')`, 'the purchase notice');
    await noViolations(client, 'client-book');
    const startsAt = await client.eval<string>(`document.querySelector('.slot').dataset.starts`);
    await client.eval(`document.querySelector('.slot').click()`);
    await client.click('Buy a credit and book');
    await client.waitFor(`document.body.innerText.includes('Booked.')`, 'the booked note');

    const listed = await s.api('GET', `/v1/bookings?roomId=${f.roomId}`, { token: f.clientToken });
    expect(listed.body.bookings).toHaveLength(1);
    const booking = listed.body.bookings[0];
    expect(booking).toMatchObject({ status: 'pending_confirmation', startsAt, modality: 'video' });
    // The system notice is words in the viewer's zone, not an ISO instant.
    await client.waitFor(`document.body.innerText.includes('was booked for')`, 'the booked notice');
    expect(await client.eval<string>('document.querySelector(".timeline").innerText')).not.toMatch(
      /\dT\d\d:/,
    );

    const provider = await engines.page('firefox', 'provider');
    await provider.open(s.url, f.providerToken);
    await provider.waitFor(
      `document.querySelector('[data-booking="${booking.id}"]')`,
      'the booking to confirm',
    );
    await noViolations(provider, 'provider-day');
    await provider.click('Confirm', `[data-booking="${booking.id}"]`);
    await provider.waitFor(`document.body.innerText.includes('Confirmed ')`, 'the confirmed note');
    expect(
      (await s.api('GET', `/v1/bookings/${booking.id}`, { token: f.clientToken })).body.booking.status,
    ).toBe('confirmed');

    // The client's room follows: the notice, and the session as confirmed with cancel and reschedule.
    await client.waitFor(`document.body.innerText.includes('is confirmed')`, 'the confirmed notice');
    await client.waitFor(
      `document.querySelector('[data-booking="${booking.id}"]')?.innerText.includes('Confirmed')`,
      'the session as confirmed',
    );
    // The reminder came at once: in the viewer's words, with their own join link as a button, also on the session.
    await client.waitFor(
      `document.querySelector('.msg.system a[href*="/join/"]')`,
      'the reminder’s join button',
    );
    const reminder = await client.eval<string>(
      `document.querySelector('.msg.system a[href*="/join/"]').parentElement.innerText`,
    );
    expect(reminder).toContain('Reminder: your session is on');
    expect(reminder).not.toMatch(/\dT\d\d:|http/);
    await client.waitFor(
      `document.querySelector('[data-booking="${booking.id}"] a[href*="/join/"]')`,
      'Join on the session',
    );
    const links = await client.eval<string[]>(
      `[...document.querySelectorAll('a[href*="/join/"]')].map((a) => a.href)`,
    );
    expect(new Set(links).size).toBe(1);
    await client.click('Cancel', `[data-booking="${booking.id}"]`);
    await client.waitFor(`document.querySelector('[role="alertdialog"]')`, 'the cancel question');
    // Just booked: inside the cancel grace, so no warning about losing the credit.
    expect(
      await client.eval<string>(`document.querySelector('[role="alertdialog"]').innerText`),
    ).not.toContain('credit is lost');
    await noViolations(client, 'client-room');
    await client.click('Keep it');

    await client.click('Plan and charges');
    await client.waitFor(`document.body.innerText.includes('Your plan')`, 'the plan');
    const plan = await client.eval<string>('document.body.innerText');
    expect(plan).toContain('Pay as you go');
    // The period's first day, whatever the viewer's zone (the period starts at midnight in the client's own).
    const first = new Intl.DateTimeFormat('en-US', { day: 'numeric', month: 'long', timeZone: 'UTC' }).format(
      new Date(`${firstOfMonth()}T12:00:00Z`),
    );
    expect(plan).toContain(`${first} –`);
    await noViolations(client, 'client-plan');
  });

  it('warns of a late cancel only inside the late window and past the grace after booking', () => {
    const now = Date.parse('2026-11-16T12:00:00Z');
    const b = (startsInH: number, madeHAgo: number) => ({
      status: 'confirmed' as const,
      startsAt: new Date(now + startsInH * 3_600_000).toISOString(),
      createdAt: new Date(now - madeHAgo * 3_600_000).toISOString(),
    });
    expect(isLate(b(2, 3), now)).toBe(true);
    expect(isLate(b(2, 0.5), now)).toBe(false);
    expect(isLate(b(30, 3), now)).toBe(false);
    expect(isLate({ ...b(2, 3), status: 'cancelled' }, now)).toBe(false);
  });
});

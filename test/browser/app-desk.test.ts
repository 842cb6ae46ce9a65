import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ALL_WEEK, type AppPage, type Engines, launchEngines, SLOW } from './app-page.ts';

/**
 * Booking requests and the support ticket desk in the web app, against a real
 * server in two engines: a psychiatry client (who may not message) asks to
 * cancel a session in Firefox, and the provider answers the request in
 * Chromium by cancelling it; a rep (Chromium) writes an internal note the
 * requester's page (Firefox) never shows, sets the ticket pending, and the
 * requester's reply reopens it. Every screen passes axe-core.
 */

async function noViolations(page: AppPage, screen: string) {
  expect(await page.axe(), `${screen} (${page.engine})`).toEqual([]);
  await page.screenshot(`app-${screen}-${page.engine}`);
}

const text = (page: AppPage, selector = 'body') =>
  page.eval<string>(`document.querySelector(${JSON.stringify(selector)})?.innerText ?? ''`);

describe('booking requests and the ticket desk in the web app', { timeout: SLOW }, () => {
  let s: TestServer;
  let engines: Engines;

  beforeAll(async () => {
    [s, engines] = await Promise.all([startTestServer({ backend: embedded }), launchEngines()]);
  });
  afterAll(async () => {
    await engines?.close();
    await s?.stop();
  });

  it('a psychiatry client asks to cancel (Firefox) and the provider cancels from the request (Chromium)', async () => {
    const f = await therapyRoom(s, { service: 'psychiatry', workingHours: ALL_WEEK });
    // Three days ahead: nothing about it is late, so the cancel costs the client nothing.
    const from = new Date(Date.now() + 3 * 86_400_000).toISOString();
    const slots = await ok(
      s.api('GET', `/v1/providers/${f.provider}/slots?from=${from}`, { token: f.clientToken }),
    );
    const booked = await ok(
      s.api('POST', '/v1/bookings', {
        token: f.clientToken,
        body: { roomId: f.roomId, modality: 'video', startsAt: slots.slots[0].startsAt },
      }),
    );
    const bookingId = booked.booking.id as string;

    const client = await engines.page('firefox', 'psychiatry-client');
    await client.open(s.url, f.clientToken);
    await client.click('Provider', '.rooms');
    await client.waitFor(`document.body.innerText.includes('by video session only')`, 'messaging closed');
    expect(await client.eval<boolean>(`!!document.querySelector('#composer-text')`)).toBe(false);
    await client.click('Ask to cancel', `[data-booking="${bookingId}"]`);
    await client.fill(`#ask-note-${bookingId}`, 'I have a work trip that week.');
    await noViolations(client, 'client-ask');
    await client.click('Ask to cancel', `[data-booking="${bookingId}"] .ask-form`);
    await client.waitFor(
      `document.querySelector('.msg.mine[data-kind="request"]')?.innerText.includes('Asked to cancel the video session on')`,
      'the request in the timeline',
    );
    expect(await text(client, '.msg.mine[data-kind="request"]')).toContain('work trip');
    // The client's own request offers them nothing to act with: that is the provider's.
    expect(await text(client, '.msg.mine[data-kind="request"]')).not.toContain('Cancel the session');
    await noViolations(client, 'client-request');

    const stored = await ok(s.api('GET', `/v1/rooms/${f.roomId}/messages`, { token: f.clientToken }));
    expect(stored.messages.at(-1)).toMatchObject({ kind: 'request', request: 'cancel', bookingId });

    const provider = await engines.page('chromium', 'psychiatry-provider');
    await provider.open(s.url, f.providerToken);
    await provider.click('Rooms', '.tabs');
    await provider.click('Client', '.rooms');
    await provider.waitFor(
      `document.querySelector('.msg[data-kind="request"]')?.innerText.includes('Asked to cancel the video session on')`,
      'the request for the provider',
    );
    expect(await text(provider, '.msg[data-kind="request"]')).toContain('work trip');
    await noViolations(provider, 'provider-request');
    // Reschedule opens the booking flow for that booking: its card's slot picker.
    await provider.click('Reschedule', '.msg[data-kind="request"]');
    await provider.waitFor(
      `document.querySelector('[data-booking="${bookingId}"] [role="alertdialog"]')?.innerText.includes('Choose a new time')`,
      'the reschedule asked on the card',
    );
    await provider.click('Keep it', `[data-booking="${bookingId}"]`);
    await provider.click('Cancel the session', '.msg[data-kind="request"]');
    await provider.waitFor(
      `document.querySelector('[data-booking="${bookingId}"] [role="alertdialog"]')`,
      'the cancel asked on the card',
    );
    await provider.click('Yes, cancel', `[data-booking="${bookingId}"]`);
    await provider.waitFor(
      `document.querySelector('.msg[data-kind="request"]')?.innerText.includes('Now: Cancelled')`,
      'the request answered',
    );
    const after = await ok(s.api('GET', `/v1/bookings/${bookingId}`, { token: f.clientToken }));
    expect(after.booking.status).toBe('cancelled');
    await client.waitFor(`!document.querySelector('[data-booking="${bookingId}"]')`, 'the card gone');
    await noViolations(provider, 'provider-request-answered');
  });

  it('a rep’s internal note never reaches the requester, and the requester’s reply reopens the pending ticket', async () => {
    const admin = s.token('platform', 'admin');
    const f = await therapyRoom(s, { client: 'client-desk', provider: 'provider-desk' });
    await ok(
      s.api('PUT', '/v1/users/rep-1', {
        token: admin,
        body: { role: 'support', displayName: 'Sam', timezone: 'UTC' },
      }),
    );
    const supportRoom = async (requesterId: string): Promise<string> =>
      (await ok(s.api('POST', '/v1/rooms', { token: admin, body: { kind: 'support', requesterId } }))).room
        .id;
    const roomId = await supportRoom(f.client);
    // Another requester's ticket, already resolved: the desk lists open tickets first.
    const other = await therapyRoom(s, { client: 'client-other', provider: 'provider-desk' });
    const otherId = await supportRoom(other.client);
    const repToken = s.token('rep-1', 'support');
    await ok(s.api('PUT', `/v1/rooms/${otherId}/ticket`, { token: repToken, body: { status: 'resolved' } }));

    const requester = await engines.page('firefox', 'requester');
    await requester.open(s.url, f.clientToken);
    await requester.click('Support', '.rooms');
    await requester.fill('#composer-text', 'My invoice shows a session twice.');
    await requester.press('Enter');
    await requester.waitFor(
      `document.querySelector('.msg.mine')?.innerText.includes('twice')`,
      'the request',
    );

    const rep = await engines.page('chromium', 'rep');
    await rep.open(s.url, repToken);
    await rep.waitFor(`document.querySelectorAll('[data-room]').length === 2`, 'both tickets');
    expect(
      await rep.eval<string>(`document.querySelector('.rooms li:first-child [data-room]').dataset.room`),
    ).toBe(roomId);
    expect(await text(rep, `[data-room="${otherId}"]`)).toContain('Resolved');
    expect(await text(rep, `[data-room="${roomId}"]`)).toContain('Open');
    await rep.eval(`document.querySelector('[data-room="${roomId}"]').click()`);
    await rep.waitFor(`document.body.innerText.includes('shows a session twice')`, 'the requester’s message');
    await rep.waitFor(`document.querySelector('.ticket[data-status="open"]')`, 'the open ticket');
    await rep.click('Take it', '.ticket');
    await rep.waitFor(`document.querySelector('.ticket')?.innerText.includes('Assigned to you')`, 'taken');

    await rep.eval(`document.querySelector('.internal-toggle input').click()`);
    await rep.waitFor(`document.querySelector('form.composer.internal')`, 'the note mode');
    await rep.fill('#composer-text', 'Billing confirms the duplicate charge.');
    await rep.press('Enter');
    await rep.waitFor(
      `document.querySelector('.msg.mine.internal')?.innerText.includes('Internal — not shown to the requester')`,
      'the internal note, marked',
    );
    await noViolations(rep, 'desk-note');
    await rep.eval(`document.querySelector('.internal-toggle input').click()`);
    await rep.waitFor(`!document.querySelector('form.composer.internal')`, 'back to messages');
    await rep.fill('#composer-text', 'We are refunding the second charge. Does that settle it?');
    await rep.press('Enter');
    await rep.click('Mark pending', '.ticket');
    await rep.waitFor(`document.querySelector('.ticket[data-status="pending"]')`, 'pending in the header');
    await rep.waitFor(
      `document.querySelector('[data-room="${roomId}"]')?.innerText.includes('Pending')`,
      'in the list',
    );
    await noViolations(rep, 'desk');

    await requester.waitFor(
      `document.body.innerText.includes('refunding the second charge')`,
      'the rep’s answer',
    );
    expect(await text(requester, '.msg.theirs')).toContain('Support ·');
    await requester.waitFor(`document.body.innerText.includes('waits for an answer')`, 'the pending notice');
    const seen = await text(requester);
    expect(seen).not.toContain('Billing confirms');
    expect(seen).not.toContain('Internal');
    expect(seen).not.toContain('Assigned to');
    expect(await requester.eval<number>(`document.querySelectorAll('.msg.internal').length`)).toBe(0);
    await noViolations(requester, 'requester-ticket');

    await requester.fill('#composer-text', 'Yes, thank you.');
    await requester.press('Enter');
    await rep.waitFor(`document.body.innerText.includes('Yes, thank you.')`, 'the reply');
    await rep.waitFor(`document.querySelector('.ticket[data-status="open"]')`, 'the ticket open again');
    await rep.waitFor(
      `document.querySelector('[data-room="${roomId}"]')?.innerText.includes('Open')`,
      'open in the list',
    );
    await noViolations(rep, 'desk-reopened');

    // A reload reads the history: the note is still the staff's alone.
    await requester.eval('location.reload()').catch(() => {});
    await requester.waitFor(`document.querySelector('.rooms [data-room]')`, 'the rooms after the reload');
    await requester.click('Support', '.rooms');
    await requester.waitFor(`document.body.innerText.includes('Yes, thank you.')`, 'the history');
    expect(await text(requester)).not.toContain('Billing confirms');
  });
});

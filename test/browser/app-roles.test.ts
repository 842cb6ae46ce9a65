import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { request, startTestServer, type TestServer } from '../helpers/server.ts';
import { ALL_WEEK, type Engines, firstOfMonth, launchEngines, SLOW } from './app-page.ts';

/**
 * The provider's day and the support desk in the web app, against a real
 * server whose clock the test moves: a client's message left unanswered past
 * its reply deadline shows as overdue in the provider's day (Chromium);
 * support (Firefox) sees the support room only, cannot fetch the therapy
 * room, has nothing that schedules, and escalates to the clinical team, who
 * then see the room (Chromium); an EAP client can message only while a booked
 * messaging session runs, shown by its banner (Firefox). Every screen passes
 * axe-core.
 */

describe('the provider’s day and the support desk in the web app', { timeout: SLOW }, () => {
  let s: TestServer;
  let engines: Engines;
  let f: Awaited<ReturnType<typeof therapyRoom>>;
  let supportRoomId: string;
  // Three days ago: the client writes then; the browsers live in the real now.
  const clock = new ManualClock(new Date(Date.now() - 3 * 86_400_000));

  beforeAll(async () => {
    [s, engines] = await Promise.all([startTestServer({ backend: embedded, clock }), launchEngines()]);
    f = await therapyRoom(s, { workingHours: ALL_WEEK });
    for (const [id, role, displayName] of [
      ['support-1', 'support', 'Sam'],
      ['clinical-1', 'clinical', 'Dr Kim'],
    ] as const) {
      await ok(
        s.api('PUT', `/v1/users/${id}`, { token: f.admin, body: { role, displayName, timezone: 'UTC' } }),
      );
    }
    supportRoomId = (
      await ok(
        s.api('POST', '/v1/rooms', { token: f.admin, body: { kind: 'support', requesterId: f.client } }),
      )
    ).room.id;
    const socket = await s.connect(f.clientToken);
    for (const [roomId, text] of [
      [f.roomId, 'I had a hard week. Can we talk?'],
      [supportRoomId, 'My invoice shows a session twice.'],
    ] as [string, string][]) {
      const sent = await request(socket, 'message:send', {
        roomId,
        clientMsgId: `m-${roomId}`,
        kind: 'text',
        text,
      });
      expect(sent.ok).toBe(true);
    }
    socket.disconnect();
    clock.set(new Date());
  });
  afterAll(async () => {
    await engines?.close();
    await s?.stop();
  });

  it('the provider’s day shows the unanswered room as overdue, first among the rooms (Chromium)', async () => {
    const provider = await engines.page('chromium', 'provider');
    await provider.open(s.url, f.providerToken);
    await provider.waitFor(
      `document.querySelector('.day-view [data-room="${f.roomId}"].overdue')?.innerText.includes('Overdue since')`,
      'the overdue room in the day',
    );
    expect(await provider.axe()).toEqual([]);
    await provider.screenshot('app-provider-overdue-chromium');
    await provider.click('Rooms', '.tabs');
    await provider.waitFor(
      `document.querySelector('.rooms li:first-child .room-item.overdue')`,
      'the overdue room first',
    );
    expect(
      await provider.eval<string>(`document.querySelector('.rooms .room-item.overdue').innerText`),
    ).toContain('Reply overdue');
    expect(await provider.axe()).toEqual([]);
  });

  it('support sees the support room only, cannot fetch the therapy room, and escalates to clinical (Firefox)', async () => {
    const supportToken = s.token('support-1', 'support');
    const support = await engines.page('firefox', 'support');
    await support.open(s.url, supportToken);
    await support.waitFor(`document.querySelector('[data-room="${supportRoomId}"]')`, 'the support room');
    expect(await support.eval<number>(`document.querySelectorAll('[data-room]').length`)).toBe(1);
    expect(await support.eval<boolean>(`!!document.querySelector('[data-room="${f.roomId}"]')`)).toBe(false);
    for (const path of [`/v1/rooms/${f.roomId}`, `/v1/rooms/${f.roomId}/messages`]) {
      const res = await s.api('GET', path, { token: supportToken });
      expect([403, 404], path).toContain(res.status);
    }
    expect(await support.axe()).toEqual([]);

    await support.click('Support: Client', '.rooms');
    await support.waitFor(`document.body.innerText.includes('invoice shows a session twice')`, 'the request');
    const text = await support.eval<string>('document.body.innerText');
    for (const word of ['Book a session', 'Reschedule', 'Cancel', 'Join']) expect(text).not.toContain(word);
    await support.click('Escalate to the clinical team');
    await support.waitFor(
      `document.body.innerText.includes('Escalated to the clinical team.')`,
      'the escalation',
    );
    await support.waitFor(
      `document.body.innerText.includes('Clinical team consulted')`,
      'the button as done',
    );
    expect(await support.axe()).toEqual([]);
    await support.screenshot('app-support-room-firefox');

    const clinical = await engines.page('chromium', 'clinical');
    await clinical.open(s.url, s.token('clinical-1', 'clinical'));
    await clinical.waitFor(`document.querySelector('[data-room="${supportRoomId}"]')`, 'the escalated room');
    expect(await clinical.eval<number>(`document.querySelectorAll('[data-room]').length`)).toBe(1);
    expect(await clinical.axe()).toEqual([]);
  });

  it('an EAP client messages only inside a messaging session, shown by its banner and without a cancel (Firefox)', async () => {
    const eap = await therapyRoom(s, {
      client: 'client-eap',
      workingHours: ALL_WEEK,
      plan: {
        kind: 'eap',
        includesMessaging: false,
        liveSessionsPerPeriod: 2,
        messagingSessionsPerPeriod: 2,
        periodStart: firstOfMonth(),
      },
    });
    const client = await engines.page('firefox', 'eap-client');
    await client.open(s.url, eap.clientToken);
    await client.click('Provider', '.rooms');
    await client.waitFor(
      `document.body.innerText.includes('during a booked messaging session')`,
      'messaging closed',
    );
    expect(await client.eval<boolean>(`!!document.querySelector('#composer-text')`)).toBe(false);
    await client.click('Book a session');
    await client.waitFor(`document.querySelector('input[value="messaging"]')`, 'the messaging session type');
    expect(await client.axe()).toEqual([]);
    await client.click('Close', '.book');

    const now = new Date();
    const slots = await ok(
      s.api('GET', `/v1/providers/${eap.provider}/slots?from=${now.toISOString()}`, {
        token: eap.clientToken,
      }),
    );
    const startsAt = slots.slots[0].startsAt as string;
    const booked = await ok(
      s.api('POST', '/v1/bookings', {
        token: eap.clientToken,
        body: { roomId: eap.roomId, modality: 'messaging', startsAt },
      }),
    );
    clock.set(new Date(Date.parse(startsAt) + 1000));
    await s.scheduler.runDue();
    expect(
      (await ok(s.api('GET', `/v1/bookings/${booked.booking.id}`, { token: eap.clientToken }))).booking
        .status,
    ).toBe('in_progress');

    await client.waitFor(`document.body.innerText.includes('Messaging session in progress')`, 'the banner');
    await client.waitFor(`document.querySelector('#composer-text')`, 'the composer open');
    expect(await client.eval<string>(`document.querySelector('.sessions').innerText`)).not.toContain(
      'Cancel',
    );
    await client.fill('#composer-text', 'Thanks for making time this week.');
    await client.press('Enter');
    await client.waitFor(
      `document.querySelector('.msg.mine')?.innerText.includes('making time')`,
      'the message sent',
    );
    expect(await client.axe()).toEqual([]);
    await client.screenshot('app-client-messaging-firefox');
  });
});

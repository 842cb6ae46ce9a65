import { afterAll, beforeAll, expect } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { embedded } from './backends.ts';
import { therapyRoom } from './fixtures.ts';
import { startTestServer, type TestServer, type Transport } from './server.ts';

// Monday 07:00 in New York; sessions are on Wednesday at 10:00 (15:00Z), 50 minutes.
export const MONDAY = '2026-11-16T12:00:00Z';
export const WED_10AM = '2026-11-18T15:00:00.000Z';
export const IN_WINDOW = '2026-11-18T14:55:00Z';

/**
 * Confirmed live sessions, each in a fresh room: the clock is set inside the
 * session's join window, and the client (cs) and provider (ps) are connected.
 */
export function liveSessions(server: () => TestServer, clock: ManualClock) {
  let n = 0;
  return async function session(
    modality: 'video' | 'audio' | 'chat' = 'video',
    plan?: Record<string, unknown>,
  ) {
    const s = server();
    clock.set(MONDAY);
    n++;
    const r = await therapyRoom(s, {
      client: `lc${n}`,
      provider: `lp${n}`,
      ...(plan ? { plan: { liveSessionsPerPeriod: 2, periodStart: '2026-11-01', ...plan } } : {}),
    });
    const b = await s.api('POST', '/v1/bookings', {
      token: r.clientToken,
      body: { roomId: r.roomId, modality, startsAt: WED_10AM },
    });
    expect(b.status).toBe(201);
    await s.api('POST', `/v1/bookings/${b.body.booking.id}/confirm`, { token: r.providerToken });
    clock.set(IN_WINDOW);
    const client = await s.connect(r.clientToken);
    const provider = await s.connect(r.providerToken);
    return {
      ...r,
      bookingId: b.body.booking.id as string,
      creditId: b.body.booking.creditId as string,
      cs: client,
      ps: provider,
    };
  };
}

/**
 * A test server with a real mediasoup worker on the embedded store, for the
 * describe block it is called in (started before its tests, stopped after),
 * its manual clock, and its sessions.
 */
export function liveServer(transport: Transport) {
  let s: TestServer | undefined;
  const clock = new ManualClock(MONDAY);
  beforeAll(async () => {
    s = await startTestServer({ backend: embedded, clock, runScheduler: false, media: true, transport });
  });
  afterAll(() => s?.stop());
  const server = () => {
    if (!s) throw new Error('the live test server has not started');
    return s;
  };
  return { server, clock, session: liveSessions(server, clock) };
}

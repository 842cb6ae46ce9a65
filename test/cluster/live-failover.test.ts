import pg from 'pg';
import { createClient } from 'redis';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { TEST_REDIS_URL } from '../helpers/backends.ts';
import { type Cluster, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { collect, rawRequest } from '../helpers/server.ts';
import { freePortBase } from '../media/helpers.ts';

/**
 * The node that owns a live session dies (SIGKILL, not a clean stop): its
 * participants' presence goes with it (no ghosts), and rejoining through the
 * surviving node places the session there and continues the same booking.
 */

const ENV = {
  POLICY_JOIN_OPENS: '24h',
  POLICY_SLOT_STEP: '1m',
  MEDIA_WORKERS: '1',
  // A dead node is known as dead within 2 s (the placement itself would last 15 s).
  CLUSTER_HEARTBEAT_TTL: '2s',
};

const clientId = 'client-f';
const providerId = 'provider-f';

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const by = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A socket request that fails instead of hanging. */
async function data(socket: Socket, event: string, payload: unknown, timeoutMs = 10_000): Promise<any> {
  let timer: NodeJS.Timeout | undefined;
  const ack: any = await Promise.race([
    rawRequest(socket, event, payload),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to ${event} within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (!ack.ok) throw new Error(`${event} failed: ${JSON.stringify(ack)}`);
  return ack.data;
}

interface Setup {
  c: Cluster;
  a: ServerProcess;
  b: ServerProcess;
  ports: number[];
  redis: {
    get(key: string): Promise<string | null>;
    exists(key: string): Promise<number>;
    quit(): Promise<unknown>;
  };
  db: pg.Client;
  clientToken: string;
  providerToken: string;
  /** A confirmed video booking, joinable now. */
  book(): Promise<string>;
  close(): Promise<void>;
}

async function setUp(): Promise<Setup> {
  const base = await freePortBase(2);
  const ports = [base, base + 1];
  const c = await startCluster({
    nodes: 2,
    env: ENV,
    nodeEnv: (i) => ({ MEDIA_RTC_MIN_PORT: String(ports[i]), MEDIA_RTC_MAX_PORT: String(ports[i]) }),
  });
  const [a, b] = c.nodes as [ServerProcess, ServerProcess];
  const client = createClient({ url: TEST_REDIS_URL });
  await client.connect();
  const redis = {
    get: (key: string) => client.get(key),
    exists: (key: string) => client.exists(key),
    quit: () => client.quit(),
  };
  const db = new pg.Client({ connectionString: c.databaseUrl });
  await db.connect();
  const ok = async (p: Promise<{ status: number; body: any }>) => {
    const r = await p;
    if (r.status >= 300) throw new Error(`expected success, got ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const admin = c.token('platform', 'admin');
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
  await ok(
    c.api(a, 'PUT', `/v1/users/${providerId}`, {
      token: admin,
      body: {
        role: 'provider',
        displayName: 'Provider',
        timezone: new Date().getUTCHours() === 23 ? 'Etc/GMT-12' : 'UTC',
        specialty: 'therapy',
        workingHours: Object.fromEntries(days.map((d) => [d, [['00:00', '24:00']]])),
      },
    }),
  );
  await ok(
    c.api(a, 'PUT', `/v1/users/${clientId}`, {
      token: admin,
      body: { role: 'client', displayName: 'Client', timezone: 'UTC' },
    }),
  );
  await ok(
    c.api(a, 'PUT', `/v1/users/${clientId}/plan`, {
      token: admin,
      body: {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 4,
        periodStart: `${new Date().toISOString().slice(0, 8)}01`,
      },
    }),
  );
  const room = await ok(
    c.api(a, 'POST', '/v1/rooms', {
      token: admin,
      body: { kind: 'therapy', clientId, providerId, service: 'therapy' },
    }),
  );
  const clientToken = c.token(clientId, 'client');
  const providerToken = c.token(providerId, 'provider');
  return {
    c,
    a,
    b,
    ports,
    redis,
    db,
    clientToken,
    providerToken,
    async book() {
      const now = Date.now();
      const slots = await ok(
        c.api(
          b,
          'GET',
          `/v1/providers/${providerId}/slots?durationMin=15&from=${new Date(now).toISOString()}&to=${new Date(now + 60 * 60_000).toISOString()}`,
          { token: clientToken },
        ),
      );
      const booked = await ok(
        c.api(b, 'POST', '/v1/bookings', {
          token: clientToken,
          body: {
            roomId: room.room.id,
            modality: 'video',
            startsAt: slots.slots[0].startsAt,
            durationMin: 15,
          },
        }),
      );
      const id = booked.booking.id as string;
      await ok(c.api(b, 'POST', `/v1/bookings/${id}/confirm`, { token: providerToken, body: {} }));
      return id;
    },
    async close() {
      await redis.quit().catch(() => {});
      await db.end().catch(() => {});
      await c.stop();
    },
  };
}

const logsOnFailure = (s: () => Setup) =>
  onTestFailed(() => {
    const warnings = (n: ServerProcess) =>
      n
        .logs()
        .filter((l) => (l.level ?? 0) >= 40 || l.raw)
        .map((l) => JSON.stringify(l))
        .join('\n');
    console.error(`node-a warnings:\n${warnings(s().a)}\nnode-b warnings:\n${warnings(s().b)}`);
  });

/** SIGKILLs the node and waits (bounded) until its heartbeat is gone from Redis. */
async function killNode(s: Setup, node: ServerProcess) {
  const beat = `${s.c.redisPrefix}:node:${node.listening.nodeId}`;
  expect(await s.redis.exists(beat)).toBe(1);
  expect((await node.kill()).signal).toBe('SIGKILL');
  await until(`${node.name}'s heartbeat to expire`, async () => (await s.redis.exists(beat)) === 0);
}

const ports = (t: any) => t.iceCandidates.map((x: any) => x.port);

describe('the node owning a live session is SIGKILLed', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('both rejoin through the surviving node: placed anew there, the same booking and credit', async () => {
    logsOnFailure(() => s);
    const { c, a, b } = s;
    const bookingId = await s.book();
    const key = `${c.redisPrefix}:live:${bookingId}`;

    const clientOnA = await c.connect(a, s.clientToken);
    const providerOnB = await c.connect(b, s.providerToken);
    const first = await data(clientOnA, 'live:join', { bookingId });
    expect(first).toMatchObject({ bookingId, status: 'waiting' });
    expect(await s.redis.get(key)).toBe(a.listening.nodeId);
    const second = await data(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(second).toMatchObject({ bookingId, status: 'in_progress' });
    expect(ports(second.transports.send)).toContain(s.ports[0]);
    const before = (await c.api(b, 'GET', `/v1/bookings/${bookingId}`, { token: s.providerToken })).body
      .booking;
    expect(before).toMatchObject({ status: 'in_progress', creditId: expect.any(String) });

    const participantEvents = collect(providerOnB, 'live:participant');
    const rejoins = collect(providerOnB, 'live:rejoin');
    await killNode(s, a);

    // The client's socket dropped with node A; it reconnects to node B and rejoins.
    const clientOnB = await c.connect(b, s.clientToken);
    const again = await data(clientOnB, 'live:join', { bookingId, transports: ['send', 'recv'] });
    expect(again).toMatchObject({ bookingId, status: 'in_progress' });
    expect(again.routerRtpCapabilities).toBeTruthy();
    expect(ports(again.transports.send)).toContain(s.ports[1]);
    expect(ports(again.transports.recv)).toContain(s.ports[1]);
    expect(await s.redis.get(key)).toBe(b.listening.nodeId);

    // The provider, still on node B, is told: the client is back, and its own media went with node A.
    await until('live:participant joined for the client', () =>
      participantEvents.some((e) => e.userId === clientId && e.state === 'joined'),
    );
    await until('live:rejoin for the provider', () => rejoins.length > 0);
    expect(rejoins[0]).toMatchObject({ bookingId });

    const providerAgain = await data(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(providerAgain).toMatchObject({ bookingId, status: 'in_progress' });
    expect(providerAgain.participants.map((p: any) => p.role).sort()).toEqual(['client', 'provider']);
    expect(ports(providerAgain.transports.send)).toContain(s.ports[1]);
    const recvB = await data(providerOnB, 'live:transport', { bookingId, direction: 'recv' });
    expect(ports(recvB)).toContain(s.ports[1]);
    const recvClient = await data(clientOnB, 'live:transport', { bookingId, direction: 'recv' });
    expect(ports(recvClient)).toContain(s.ports[1]);

    // The same booking, started once: one credit, consumed once; no no-show.
    const after = (await c.api(b, 'GET', `/v1/bookings/${bookingId}`, { token: s.providerToken })).body
      .booking;
    expect(after).toMatchObject({ id: bookingId, status: 'in_progress', creditId: before.creditId });
    expect(after.startedAt).toBe(before.startedAt);
    const consumed = await s.db.query(
      `SELECT credit_id FROM credit_ledger WHERE booking_id = $1 AND kind = 'consume'`,
      [bookingId],
    );
    expect(consumed.rows).toEqual([{ credit_id: before.creditId }]);
  });
});

describe('a participant whose node was SIGKILLed is not present', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setUp();
  });
  afterAll(async () => {
    await s?.close();
  });

  it('the other party joining through a live node does not start the session', async () => {
    logsOnFailure(() => s);
    const { c, a, b } = s;
    const bookingId = await s.book();

    const clientOnA = await c.connect(a, s.clientToken);
    expect(await data(clientOnA, 'live:join', { bookingId })).toMatchObject({ status: 'waiting' });
    await killNode(s, a);

    const providerOnB = await c.connect(b, s.providerToken);
    const joined = await data(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(joined).toMatchObject({ bookingId, status: 'waiting' });
    expect(joined.participants).toEqual([{ userId: providerId, role: 'provider' }]);
    expect(ports(joined.transports.send)).toContain(s.ports[1]);
    const booking = (await c.api(b, 'GET', `/v1/bookings/${bookingId}`, { token: s.providerToken })).body
      .booking;
    expect(booking.status).toBe('confirmed');
    expect(booking.startedAt ?? null).toBeNull();
    const consumed = await s.db.query(
      `SELECT 1 FROM credit_ledger WHERE booking_id = $1 AND kind = 'consume'`,
      [bookingId],
    );
    expect(consumed.rows).toEqual([]);

    // The client comes back through node B: now both are here, and it starts.
    const clientOnB = await c.connect(b, s.clientToken);
    expect(await data(clientOnB, 'live:join', { bookingId })).toMatchObject({ status: 'in_progress' });
  });
});

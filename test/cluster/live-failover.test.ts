import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../helpers/backends.ts';
import { answer, bookableRoom, bookNextSlot, reportWarningsOnFailure, until } from '../helpers/cluster.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { collect } from '../helpers/server.ts';
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
  const room = await bookableRoom(onNode(c, a), { client: clientId, provider: providerId });
  const { clientToken, providerToken } = room;
  return {
    c,
    a,
    b,
    ports,
    redis,
    db,
    clientToken,
    providerToken,
    book: () => bookNextSlot(onNode(c, b), room),
    async close() {
      await redis.quit().catch(() => {});
      await db.end().catch(() => {});
      await c.stop();
    },
  };
}

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
    reportWarningsOnFailure(() => [s.a, s.b]);
    const { c, a, b } = s;
    const bookingId = await s.book();
    const key = `${c.redisPrefix}:live:${bookingId}`;

    const clientOnA = await c.connect(a, s.clientToken);
    const providerOnB = await c.connect(b, s.providerToken);
    const first = await answer(clientOnA, 'live:join', { bookingId });
    expect(first).toMatchObject({ bookingId, status: 'waiting' });
    expect(await s.redis.get(key)).toBe(a.listening.nodeId);
    const second = await answer(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(second).toMatchObject({ bookingId, status: 'in_progress' });
    expect(ports(second.transports?.send)).toContain(s.ports[0]);
    const before = (await c.api(b, 'GET', `/v1/bookings/${bookingId}`, { token: s.providerToken })).body
      .booking;
    expect(before).toMatchObject({ status: 'in_progress', creditId: expect.any(String) });

    const participantEvents = collect(providerOnB, 'live:participant');
    const rejoins = collect(providerOnB, 'live:rejoin');
    await killNode(s, a);

    // The client's socket dropped with node A; it reconnects to node B and rejoins.
    const clientOnB = await c.connect(b, s.clientToken);
    const again = await answer(clientOnB, 'live:join', { bookingId, transports: ['send', 'recv'] });
    expect(again).toMatchObject({ bookingId, status: 'in_progress' });
    expect(again.routerRtpCapabilities).toBeTruthy();
    expect(ports(again.transports?.send)).toContain(s.ports[1]);
    expect(ports(again.transports?.recv)).toContain(s.ports[1]);
    expect(await s.redis.get(key)).toBe(b.listening.nodeId);

    // The provider, still on node B, is told: the client is back, and its own media went with node A.
    await until('live:participant joined for the client', () =>
      participantEvents.some((e) => e.userId === clientId && e.state === 'joined'),
    );
    await until('live:rejoin for the provider', () => rejoins.length > 0);
    expect(rejoins[0]).toMatchObject({ bookingId });

    const providerAgain = await answer(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(providerAgain).toMatchObject({ bookingId, status: 'in_progress' });
    expect(providerAgain.participants.map((p: any) => p.role).sort()).toEqual(['client', 'provider']);
    expect(ports(providerAgain.transports?.send)).toContain(s.ports[1]);
    const recvB = await answer(providerOnB, 'live:transport', { bookingId, direction: 'recv' });
    expect(ports(recvB)).toContain(s.ports[1]);
    const recvClient = await answer(clientOnB, 'live:transport', { bookingId, direction: 'recv' });
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
    reportWarningsOnFailure(() => [s.a, s.b]);
    const { c, a, b } = s;
    const bookingId = await s.book();

    const clientOnA = await c.connect(a, s.clientToken);
    expect(await answer(clientOnA, 'live:join', { bookingId })).toMatchObject({ status: 'waiting' });
    await killNode(s, a);

    const providerOnB = await c.connect(b, s.providerToken);
    const joined = await answer(providerOnB, 'live:join', { bookingId, transports: ['send'] });
    expect(joined).toMatchObject({ bookingId, status: 'waiting' });
    expect(joined.participants).toEqual([{ userId: providerId, role: 'provider' }]);
    expect(ports(joined.transports?.send)).toContain(s.ports[1]);
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
    expect(await answer(clientOnB, 'live:join', { bookingId })).toMatchObject({ status: 'in_progress' });
  });
});

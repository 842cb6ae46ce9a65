import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL } from '../helpers/backends.ts';
import { bookableRoom, bookNextSlot, reportWarningsOnFailure } from '../helpers/cluster.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { collect, nextEvent, request } from '../helpers/server.ts';
import { freePortBase, opusParameters } from '../media/helpers.ts';

/**
 * A live session's router lives on one node: the first join places it, and a
 * participant connected to the other node joins the same session through its
 * own socket, its node relaying each request to the owner over Redis.
 */

const POLICY_ENV = {
  POLICY_JOIN_OPENS: '24h',
  POLICY_SLOT_STEP: '1m',
  MEDIA_WORKERS: '1',
};

describe('live-session placement across two server processes', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  const ports: number[] = [];
  const clientId = 'client-p';
  const providerId = 'provider-p';
  let clientToken: string;
  let providerToken: string;
  let redis: ReturnType<typeof createClient>;

  const data = async (p: Promise<any>) => {
    const ack = await p;
    if (!ack.ok) throw new Error(`expected success: ${JSON.stringify(ack)}`);
    return ack.data;
  };
  let room: Awaited<ReturnType<typeof bookableRoom>>;

  beforeAll(async () => {
    ports.push(await freePortBase(2));
    ports.push(ports[0]! + 1);
    c = await startCluster({
      nodes: 2,
      env: POLICY_ENV,
      nodeEnv: (i) => ({ MEDIA_RTC_MIN_PORT: String(ports[i]), MEDIA_RTC_MAX_PORT: String(ports[i]) }),
    });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
    redis = createClient({ url: TEST_REDIS_URL });
    await redis.connect();

    room = await bookableRoom(onNode(c, a), { client: clientId, provider: providerId });
    clientToken = room.clientToken;
    providerToken = room.providerToken;
  });
  afterAll(async () => {
    await redis?.quit().catch(() => {});
    await c?.stop();
  });

  it('a participant on the other node joins the session placed on the first node, through its own socket', async () => {
    reportWarningsOnFailure(() => [a, b]);
    expect(a.listening).toMatchObject({ redis: true });

    // The next slot, booked and confirmed: joinable at once (the join window opens 24 h ahead).
    const bookingId = await bookNextSlot(onNode(c, a), room, { confirmVia: onNode(c, b) });

    const clientOnA = await c.connect(a, clientToken);
    const providerOnB = await c.connect(b, providerToken);
    const startedA = collect(clientOnA, 'live:started');
    const startedB = collect(providerOnB, 'live:started');

    // The client's join places the session on node A.
    const first = await data(request(clientOnA, 'live:join', { bookingId }));
    expect(first).toMatchObject({ bookingId, status: 'waiting' });
    const key = `${c.redisPrefix}:live:${bookingId}`;
    const owner = await redis.get(key);
    expect(owner).toMatch(/^[0-9a-f]+$/);
    const ttl = await redis.pTTL(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(15_000);

    // The provider joins through node B: the same session, the same router.
    const seesProvider = nextEvent(clientOnA, 'live:participant');
    const second = await data(request(providerOnB, 'live:join', { bookingId, transports: ['send'] }));
    expect(second).toMatchObject({ bookingId, status: 'in_progress' });
    expect(second.participants.map((p: any) => p.role).sort()).toEqual(['client', 'provider']);
    expect(second.routerRtpCapabilities).toEqual(first.routerRtpCapabilities);
    expect(await seesProvider).toMatchObject({ userId: providerId, state: 'joined' });
    expect(await redis.get(key)).toBe(owner); // still placed on node A
    // Media goes to node A's port, whichever node the socket is on.
    expect(second.transports.send.iceCandidates.map((x: any) => x.port)).toContain(ports[0]);
    expect(second.transports.send.iceCandidates.map((x: any) => x.port)).not.toContain(ports[1]);
    await request(clientOnA, 'rooms:list');
    await request(providerOnB, 'rooms:list');
    // live:started reaches both parties, the joiner whose join started it included, whichever node each is on.
    expect(startedA).toEqual([{ bookingId, startedAt: expect.any(String) }]);
    expect(startedB).toEqual(startedA);

    // Relayed requests: transports, producing, and the owner's errors with their codes.
    const recvB = await data(request(providerOnB, 'live:transport', { bookingId, direction: 'recv' }));
    expect(recvB.iceCandidates.map((x: any) => x.port)).toContain(ports[0]);
    expect(
      await request(providerOnB, 'live:produce', {
        bookingId,
        transportId: second.transports.send.id,
        kind: 'audio',
        rtpParameters: { codecs: 'nonsense' },
      }),
    ).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect(
      await request(providerOnB, 'live:consume', {
        bookingId,
        transportId: recvB.id,
        producerId: 'no-such-producer',
        rtpCapabilities: { codecs: [] },
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'not_found', message: expect.stringContaining('producer') },
    });

    // A producer made through node B reaches the client on node A, who consumes it locally.
    const heard = nextEvent(clientOnA, 'live:producer');
    const produced = await data(
      request(providerOnB, 'live:produce', {
        bookingId,
        transportId: second.transports.send.id,
        kind: 'audio',
        rtpParameters: opusParameters(1111),
      }),
    );
    expect(await heard).toMatchObject({ producerId: produced.producerId, userId: providerId, kind: 'audio' });
    const recvA = await data(request(clientOnA, 'live:transport', { bookingId, direction: 'recv' }));
    const consumed = await data(
      request(clientOnA, 'live:consume', {
        bookingId,
        transportId: recvA.id,
        producerId: produced.producerId,
        rtpCapabilities: first.routerRtpCapabilities,
      }),
    );
    expect(consumed).toMatchObject({ producerId: produced.producerId, kind: 'audio' });

    // And the other way: the client's producer, consumed by the provider through node B.
    const sendA = await data(request(clientOnA, 'live:transport', { bookingId, direction: 'send' }));
    const heardB = nextEvent(providerOnB, 'live:producer');
    const mine = await data(
      request(clientOnA, 'live:produce', {
        bookingId,
        transportId: sendA.id,
        kind: 'audio',
        rtpParameters: opusParameters(2222),
      }),
    );
    expect(await heardB).toMatchObject({ producerId: mine.producerId, userId: clientId });
    const consumedB = await data(
      request(providerOnB, 'live:consume', {
        bookingId,
        transportId: recvB.id,
        producerId: mine.producerId,
        rtpCapabilities: second.routerRtpCapabilities,
      }),
    );
    expect(consumedB).toMatchObject({ producerId: mine.producerId, kind: 'audio' });
    expect(
      await request(providerOnB, 'live:resume', { bookingId, consumerId: consumedB.consumerId }),
    ).toEqual({
      ok: true,
      data: {},
    });

    // Rejoining through node B lists the producers already there (asked of the owner).
    const existing = nextEvent(providerOnB, 'live:producer');
    await data(request(providerOnB, 'live:join', { bookingId }));
    expect(await existing).toMatchObject({ producerId: mine.producerId, userId: clientId, kind: 'audio' });

    // The provider ends the session through node B: the router on node A closes and the placement goes.
    const ended = nextEvent(clientOnA, 'live:ended');
    expect(await request(providerOnB, 'live:end', { bookingId })).toEqual({ ok: true, data: {} });
    expect(await ended).toMatchObject({ bookingId, status: 'completed' });
    const by = Date.now() + 3000;
    while ((await redis.get(key)) !== null && Date.now() < by) await new Promise((r) => setTimeout(r, 50));
    expect(await redis.get(key)).toBeNull();
  });
});

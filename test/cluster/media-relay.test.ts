import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaError, MediaPool } from '../../media/index.ts';
import { ClusterMedia, type LocalMedia } from '../../src/cluster/media/cluster-media.ts';
import type { MediaRelay } from '../../src/cluster/media/relay.ts';
import { connectRedis, type RedisConnections } from '../../src/cluster/redis.ts';
import type { MediaSessionPort } from '../../src/services/live.ts';
import { TEST_REDIS_URL } from '../helpers/backends.ts';
import { freePortBase, ip, opusParameters, rejectsWith, silentLog } from '../media/helpers.ts';

/**
 * The media port in a cluster, in one process: node A holds sessions on a real
 * mediasoup worker, node B (no router of its own) reaches them through the
 * relay over the test Redis. The same checks run against the local session
 * and the relayed one: a relayed call must answer, and fail, as a local one.
 */

/** A node without media workers: every session it serves is held elsewhere. */
const noLocalMedia: LocalMedia = {
  ready: true,
  session: () => Promise.reject(new MediaError('media_unavailable', 'no workers on this node')),
  get: async () => undefined,
  onSessionLost: () => {},
};

describe('the media port across nodes (relay over Redis)', () => {
  const prefix = `talkroom-test-${randomBytes(6).toString('hex')}`;
  let pool: MediaPool;
  let port: number;
  let redisA: RedisConnections;
  let redisB: RedisConnections;
  let a: ClusterMedia;
  let b: ClusterMedia;
  const lostOnB: string[] = [];

  beforeAll(async () => {
    port = await freePortBase(1);
    pool = await MediaPool.create(
      { workers: 1, listenIp: ip, rtcMinPort: port, rtcMaxPort: port + 10 },
      silentLog,
    );
    [redisA, redisB] = await Promise.all([
      connectRedis(TEST_REDIS_URL, silentLog),
      connectRedis(TEST_REDIS_URL, silentLog),
    ]);
    const options = { prefix, log: silentLog, callTimeoutMs: 500 };
    a = await new ClusterMedia({ ...options, nodeId: 'node-a', local: pool, redis: redisA }).start();
    b = await new ClusterMedia({ ...options, nodeId: 'node-b', local: noLocalMedia, redis: redisB }).start();
    b.onSessionLost((id) => lostOnB.push(id));
  });
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    await Promise.allSettled([redisA?.close(), redisB?.close(), pool?.close()]);
  });

  const sessions: Array<[string, (id: string) => Promise<MediaSessionPort>]> = [
    ['held on this node', (id) => a.session(id)],
    [
      'held on another node (relayed)',
      async (id) => {
        await a.session(id); // placed on node A first
        return b.session(id);
      },
    ],
  ];

  describe.each(sessions)('a session %s', (_, open) => {
    it('answers every call of the port, an omitted optional argument included', async () => {
      const id = randomUUID();
      const m = await open(id);
      expect(m.rtpCapabilities).toEqual((await pool.get(id))!.rtpCapabilities);
      const send = await m.createTransport('alice', 'send');
      expect(send.iceCandidates).toContainEqual(expect.objectContaining({ port }));
      // No appData: the argument is absent, not null, when it reaches the session.
      const { producerId } = await m.produce('alice', send.id, 'audio', opusParameters(4242));
      expect(await m.producers()).toEqual([{ producerId, peerId: 'alice', kind: 'audio' }]);
      await m.pauseProducer('alice', producerId);
      await m.resumeProducer('alice', producerId);
      const recv = await m.createTransport('bob', 'recv');
      const consumer = await m.consume('bob', recv.id, producerId, m.rtpCapabilities);
      expect(consumer).toMatchObject({ producerId, kind: 'audio' });
      await m.resume('bob', consumer.consumerId);
      // Server-initiated consumers: answered by receive(), then by each produce().
      const made = {
        peerId: 'bob',
        producerPeerId: 'alice',
        transportId: recv.id,
        kind: 'audio',
        paused: false,
      };
      expect(await m.receive('bob', m.rtpCapabilities)).toMatchObject([{ ...made, producerId }]);
      const second = await m.produce('alice', send.id, 'audio', opusParameters(4343));
      expect(second.consumers).toMatchObject([{ ...made, producerId: second.producerId }]);
      expect(await m.restartIce('bob', recv.id)).toMatchObject({ usernameFragment: expect.any(String) });
      await m.closePeer('alice');
      expect(await m.producers()).toEqual([]);
      await rejectsWith(m.receive('bob', { codecs: 'nonsense' }), 'invalid_input', /^rtpCapabilities/);
    });

    it('fails as the session fails: a MediaError with its code and message', async () => {
      const m = await open(randomUUID());
      const send = await m.createTransport('alice', 'send');
      await rejectsWith(
        m.produce('alice', send.id, 'audio', { codecs: 'nonsense' }),
        'invalid_input',
        /^rtpParameters/,
      );
      await rejectsWith(m.consume('alice', send.id, 'no-such-producer', {}), 'invalid_input', /for sending/);
      const recv = await m.createTransport('alice', 'recv');
      await rejectsWith(m.consume('alice', recv.id, 'no-such-producer', {}), 'not_found', /producer/);
      await rejectsWith(m.resume('mallory', 'no-such-consumer'), 'not_found');
    });
  });

  it('close() through the relay closes the router on its node and frees the placement; closing again is nothing to do', async () => {
    const id = randomUUID();
    await a.session(id);
    const m = await b.session(id);
    await m.close();
    expect(await pool.get(id)).toBeUndefined();
    expect(await redisA.pub.get(`${prefix}:live:${id}`)).toBeNull();
    await m.close();
    await m.closePeer('alice');
    expect(await b.get(id)).toBeUndefined();
  });

  it('a relayed call is typed by the port: a method it lacks, or a wrong argument, does not compile', () => {
    // Checked by tsc (never run): each line below fails to compile without its directive.
    const calls = (relay: MediaRelay) => [
      // @ts-expect-error not a method of the port (plain transports are for tools on the node itself)
      relay.call('node-a', 'session', 'createPlainTransport', ['alice', 'send']),
      // @ts-expect-error the port's kinds are audio and video
      relay.call('node-a', 'session', 'produce', ['alice', 'transport', 'screen', {}]),
      // @ts-expect-error closePeer takes the peer
      relay.call('node-a', 'session', 'closePeer', []),
    ];
    expect(calls).toBeTypeOf('function');
  });

  it('a call the holder leaves unanswered fails with media_unavailable, and the session is reported lost', async () => {
    const id = randomUUID();
    await redisA.pub.set(`${prefix}:live:${id}`, 'node-gone', { PX: 10_000 });
    await rejectsWith(b.session(id), 'media_unavailable', /did not answer/);
    expect(lostOnB).not.toContain(id); // a failed join is the joiner's answer, not a loss
    const m = await b.get(id);
    expect(m).toBeDefined();
    await rejectsWith(m!.producers(), 'media_unavailable', /did not answer/);
    expect(lostOnB).toContain(id);
  });

  it('a call for a session its node no longer has is refused: the participant rejoins', async () => {
    const id = randomUUID();
    await a.session(id);
    const m = await b.session(id);
    await (await pool.get(id))!.close(); // as a worker death would
    await rejectsWith(m.createTransport('alice', 'send'), 'media_unavailable', /rejoin/);
    await m.closePeer('alice'); // nothing to close: done
  });
});

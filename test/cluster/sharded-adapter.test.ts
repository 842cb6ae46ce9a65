import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putClient, therapyRoom } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { nextEvent, request } from '../helpers/server.ts';

/**
 * REDIS_ADAPTER=sharded: Redis 7 sharded pub/sub, a channel per room, each
 * node subscribed only to the rooms it has members in. What crosses nodes must
 * still cross: a message, and a room joined on another node (the member's node
 * must subscribe to the new room's channel before the first message).
 */
describe('two nodes on the sharded Redis adapter', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    c = await startCluster({ nodes: 2, env: { REDIS_ADAPTER: 'sharded' } });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
  });
  afterAll(async () => {
    for (const s of sockets) s.disconnect();
    await c?.stop();
  });

  it('carries a message between nodes, to a client on the default Socket.IO options (long-polling first)', async () => {
    const { roomId } = await therapyRoom(onNode(c, a), { client: 'sh-client', provider: 'sh-provider' });
    const polling = connectSocket(b.url, {
      auth: { token: c.token('sh-client', 'client') },
      reconnection: false,
      forceNew: true,
    });
    sockets.push(polling);
    await new Promise<void>((resolve, reject) => {
      polling.once('connect', () => resolve());
      polling.once('connect_error', reject);
    });
    const providerOnA = await c.connect(a, c.token('sh-provider', 'provider'));
    const toB = nextEvent(polling, 'message:new');
    const sent = await request(providerOnA, 'message:send', {
      roomId,
      clientMsgId: 'sh-1',
      kind: 'text',
      text: 'across the sharded adapter',
    });
    if (!sent.ok) throw new Error(JSON.stringify(sent));
    expect(await toB).toEqual(sent.data.message);

    // The provider's socket also hears its own message: wait for the reply.
    const toA = new Promise((resolve) => {
      providerOnA.on('message:new', (m: { clientMsgId?: string }) => m.clientMsgId === 'sh-2' && resolve(m));
    });
    const reply = await request(polling, 'message:send', {
      roomId,
      clientMsgId: 'sh-2',
      kind: 'text',
      text: 'back',
    });
    if (!reply.ok) throw new Error(JSON.stringify(reply));
    expect(await toA).toEqual(reply.data.message);
  });

  it('a room created on one node reaches a member connected to the other, and its messages follow', async () => {
    await putClient(onNode(c, a), 'sh-late', { timezone: 'UTC' });
    await therapyRoom(onNode(c, a), { client: 'sh-other', provider: 'sh-late-provider' });
    const lateOnB = await c.connect(b, c.token('sh-late', 'client'));
    const opened = nextEvent(lateOnB, 'room:opened');
    const created = await c.api(a, 'POST', '/v1/rooms', {
      token: c.token('platform', 'admin'),
      body: { kind: 'therapy', clientId: 'sh-late', providerId: 'sh-late-provider', service: 'therapy' },
    });
    expect(created.status).toBe(201);
    const roomId = created.body.room.id as string;
    expect(await opened).toEqual({ roomId });

    const providerOnA = await c.connect(a, c.token('sh-late-provider', 'provider'));
    const arriving = nextEvent(lateOnB, 'message:new');
    const sent = await request(providerOnA, 'message:send', {
      roomId,
      clientMsgId: 'sh-welcome',
      kind: 'text',
      text: 'Welcome',
    });
    if (!sent.ok) throw new Error(JSON.stringify(sent));
    expect(await arriving).toEqual(sent.data.message);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { putClient, therapyRoom } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { collect, nextEvent, request } from '../helpers/server.ts';

/**
 * Two real server processes on different ports, one PostgreSQL database and
 * one Redis: the Redis adapter carries every broadcast, so a member connected
 * to either node hears what happens on the other.
 */
describe('two talkroom processes sharing Redis and PostgreSQL', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  let admin: string;
  const client = 'client-1';
  const provider = 'provider-1';
  let roomId: string;
  let clientToken: string;
  let providerToken: string;

  beforeAll(async () => {
    c = await startCluster({ nodes: 2 });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
    expect(a.port).not.toBe(b.port);
    expect(a.listening).toMatchObject({ redis: true, store: 'postgres' });
    expect(b.listening).toMatchObject({ redis: true, store: 'postgres' });

    // Provisioned on node A only: node B knows of it through the shared database.
    admin = c.token('platform', 'admin');
    ({ roomId } = await therapyRoom(onNode(c, a), { client, provider }));
    clientToken = c.token(client, 'client');
    providerToken = c.token(provider, 'provider');
  });
  afterEach(() => c?.disconnectAll());
  afterAll(() => c?.stop());

  it('a message sent on one node reaches the other member connected to the other node', async () => {
    const clientOnA = await c.connect(a, clientToken);
    const providerOnB = await c.connect(b, providerToken);
    const seenOnA = collect(clientOnA, 'message:new');
    const seenOnB = collect(providerOnB, 'message:new');

    const toB = nextEvent(providerOnB, 'message:new');
    const sent = await request(clientOnA, 'message:send', {
      roomId,
      clientMsgId: 'a-to-b',
      kind: 'text',
      text: 'Sent to node A',
    });
    if (!sent.ok) throw new Error(JSON.stringify(sent));
    expect(await toB).toEqual(sent.data.message);
    expect(sent.data.message).toMatchObject({ roomId, senderId: client, senderRole: 'client', kind: 'text' });

    const toA = nextEvent(clientOnA, 'message:new');
    const reply = await request(providerOnB, 'message:send', {
      roomId,
      clientMsgId: 'b-to-a',
      kind: 'text',
      text: 'Sent to node B',
    });
    if (!reply.ok) throw new Error(JSON.stringify(reply));
    expect(await toA).toEqual(reply.data.message);
    expect(reply.data.message.seq).toBe(sent.data.message.seq + 1);

    // Each socket got each message once: its own from its node, the other's through Redis.
    expect(seenOnA.map((m) => m.clientMsgId)).toEqual(['a-to-b', 'b-to-a']);
    expect(seenOnB.map((m) => m.clientMsgId)).toEqual(['a-to-b', 'b-to-a']);
  });

  it('a room created on one node reaches members’ sockets already connected to the other node', async () => {
    // A client with a plan and no room yet (the room comes later, created on another node).
    await putClient(onNode(c, a), 'client-late', { timezone: 'UTC' });
    const lateOnB = await c.connect(b, c.token('client-late', 'client'));
    const opened = nextEvent(lateOnB, 'room:opened');
    const created = await c.api(a, 'POST', '/v1/rooms', {
      token: admin,
      body: { kind: 'therapy', clientId: 'client-late', providerId: provider, service: 'therapy' },
    });
    expect(created.status).toBe(201);
    const newRoom = created.body.room.id as string;
    expect(await opened).toEqual({ roomId: newRoom });

    const providerOnA = await c.connect(a, providerToken);
    const arriving = nextEvent(lateOnB, 'message:new');
    const sent = await request(providerOnA, 'message:send', {
      roomId: newRoom,
      clientMsgId: 'welcome-late',
      kind: 'text',
      text: 'Welcome',
    });
    if (!sent.ok) throw new Error(JSON.stringify(sent));
    expect(await arriving).toEqual(sent.data.message);
  });

  it('read receipts and typing cross nodes', async () => {
    const clientOnA = await c.connect(a, clientToken);
    const providerOnB = await c.connect(b, providerToken);
    const sent = await request(providerOnB, 'message:send', {
      roomId,
      clientMsgId: 'to-be-read',
      kind: 'text',
      text: 'Did you try the exercise?',
    });
    if (!sent.ok) throw new Error(JSON.stringify(sent));
    const seq = sent.data.message.seq as number;

    const receipt = nextEvent(providerOnB, 'message:read');
    const read = await request(clientOnA, 'message:read', { roomId, seq });
    expect(read).toEqual({ ok: true, data: { roomId, userId: client, seq } });
    expect(await receipt).toEqual({ roomId, userId: client, seq });

    const mirror = collect(clientOnA, 'typing');
    const typing = nextEvent(providerOnB, 'typing');
    const ack = await request(clientOnA, 'typing', { roomId, typing: true });
    expect(ack).toEqual({ ok: true, data: {} });
    expect(await typing).toEqual({ roomId, userId: client, typing: true });
    // The typist's own socket is left out; its node would have sent that before the ack.
    expect(mirror).toEqual([]);
  });

  it('a message posted over REST by a bot on one node reaches sockets on the other', async () => {
    const clientOnB = await c.connect(b, clientToken);
    const arriving = nextEvent(clientOnB, 'message:new');
    const bot = c.token('reminder-bot', 'bot', { rooms: [roomId] });
    const posted = await c.api(a, 'POST', `/v1/rooms/${roomId}/messages`, {
      token: bot,
      body: {
        clientMsgId: 'reminder-1',
        kind: 'system',
        text: 'Your session starts soon',
        meta: { event: 'reminder' },
      },
    });
    expect(posted.status).toBe(201);
    const delivered = await arriving;
    expect(delivered).toEqual(posted.body.message);
    expect(delivered).toMatchObject({
      roomId,
      senderId: 'reminder-bot',
      senderRole: 'bot',
      kind: 'system',
      text: 'Your session starts soon',
      meta: { event: 'reminder' },
    });
  });
});

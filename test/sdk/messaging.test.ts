import { isTalkroomError, type TalkroomClient, TalkroomError } from '@talkroom/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { SYNC_LIMIT_PER_ROOM } from '../../src/services/messages.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, TEST_SECRET, type TestServer, transports } from '../helpers/server.ts';
import { closeAll, once, oneTo, sdk, seqsOf, stream, until } from './helpers.ts';

describe.each(transports)('the SDK over $transport transports', ({ transport }) => {
  let s: TestServer;
  const opened: TalkroomClient[] = [];
  let room: Awaited<ReturnType<typeof therapyRoom>>;

  beforeEach(async () => {
    s = await startTestServer({ backend: embedded, transport });
    room = await therapyRoom(s);
  });
  afterEach(async () => {
    closeAll(opened);
    await s.stop();
  });

  it('hands each message to the other side once and in seq order, and answers typed requests', async () => {
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    const provider = sdk(
      s.url,
      transport,
      { token: room.providerToken, rooms: { [room.roomId]: 0 } },
      opened,
    );
    const seen = stream(provider);
    await Promise.all([once(client, 'connected'), once(provider, 'caughtUp')]);

    const sent = await Promise.all(
      oneTo(20).map((i) => client.send({ roomId: room.roomId, kind: 'text', text: `message ${i}` })),
    );
    expect(sent.map((m) => m.seq).sort((a, b) => a - b)).toEqual(oneTo(20));
    await until(provider, () => seen.length >= 20);
    expect(seqsOf(seen, room.roomId)).toEqual(oneTo(20));

    const page = await provider.history(room.roomId, { limit: 5 });
    expect(page.messages.map((m) => m.seq)).toEqual([16, 17, 18, 19, 20]);
    expect(page.hasMore).toBe(true);
    const read = await provider.request('message:read', { roomId: room.roomId, seq: 20 });
    expect(read).toEqual({ roomId: room.roomId, userId: room.provider, seq: 20 });
  });

  it('rejects a refused request with a TalkroomError carrying the code, and a refused send leaves the outbox', async () => {
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    await once(client, 'connected');
    const refused = await client.request('message:history', { roomId: 'no-such-room' }).catch((e) => e);
    expect(isTalkroomError(refused)).toBe(true);
    expect((refused as TalkroomError).code).toBe('not_found');

    const invalid = await client.send({ roomId: room.roomId, kind: 'text' }).catch((e) => e);
    expect(invalid).toBeInstanceOf(TalkroomError);
    expect((invalid as TalkroomError).code).toBe('invalid_input');
    expect(client.pending()).toEqual([]);
  });

  it('catches up after a dropped connection while the other side kept sending', async () => {
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    const provider = sdk(
      s.url,
      transport,
      { token: room.providerToken, rooms: { [room.roomId]: 0 } },
      opened,
    );
    const seen = stream(provider);
    await Promise.all([once(client, 'connected'), once(provider, 'caughtUp')]);
    await client.send({ roomId: room.roomId, kind: 'text', text: 'before' });
    await until(provider, () => seen.length === 1);

    // The provider's connection drops (closed under it, as a network loss does) ...
    const dropped = once(provider, 'disconnected');
    provider.socket.io.engine.close();
    await dropped;
    // ... and stays down (held by the test) while the client goes on sending.
    provider.socket.disconnect();
    for (const i of oneTo(12))
      await client.send({ roomId: room.roomId, kind: 'text', text: `while away ${i}` });
    expect(seen.length).toBe(1);

    const caughtUp = once(provider, 'caughtUp');
    provider.socket.connect();
    await caughtUp;
    // And live again afterwards.
    await client.send({ roomId: room.roomId, kind: 'text', text: 'after' });
    await until(provider, () => seen.length >= 14);
    expect(seqsOf(seen, room.roomId)).toEqual(oneTo(14));
  });

  it('catches up more than one rooms:sync page (hasMore) in order, in every followed room', async () => {
    const other = await therapyRoom(s, { client: 'client-2', provider: 'provider-1' });
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    const client2 = sdk(s.url, transport, { token: other.clientToken }, opened);
    const provider = sdk(s.url, transport, { token: room.providerToken, rooms: 'all' }, opened);
    const seen = stream(provider);
    await Promise.all([once(client, 'connected'), once(client2, 'connected'), once(provider, 'caughtUp')]);
    provider.socket.disconnect();
    // More than one page (500 per room per call) in one room while the provider is away, a few in the other.
    const N = SYNC_LIMIT_PER_ROOM + 20;
    await Promise.all([
      Promise.all(oneTo(N).map((i) => client.send({ roomId: room.roomId, kind: 'text', text: `m ${i}` }))),
      Promise.all(oneTo(3).map((i) => client2.send({ roomId: other.roomId, kind: 'text', text: `o ${i}` }))),
    ]);
    const caughtUp = once(provider, 'caughtUp');
    provider.socket.connect();
    await caughtUp;
    expect(seqsOf(seen, room.roomId)).toEqual(oneTo(N));
    expect(seqsOf(seen, other.roomId)).toEqual(oneTo(3));
    expect(provider.lastSeq(room.roomId)).toBe(N);
  });

  it('recovers on its own from a dropped transport, and sees everything exactly once', async () => {
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    const provider = sdk(
      s.url,
      transport,
      {
        token: room.providerToken,
        rooms: { [room.roomId]: 0 },
        socket: { reconnectionDelay: 50, reconnectionDelayMax: 200 },
      },
      opened,
    );
    const seen = stream(provider);
    await Promise.all([once(client, 'connected'), once(provider, 'caughtUp')]);
    const sending = Promise.all(
      oneTo(30).map((i) => client.send({ roomId: room.roomId, kind: 'text', text: `burst ${i}` })),
    );
    provider.socket.io.engine.close();
    await sending;
    await until(provider, () => seen.length >= 30);
    expect(seqsOf(seen, room.roomId)).toEqual(oneTo(30));
  });

  it('refreshes its token before it expires (auth:refresh) and keeps the same connection', async () => {
    let minted = 0;
    const getToken = () => {
      minted++;
      return mintToken(TEST_SECRET, { sub: room.client, role: 'client' }, { expiresInSec: 8 });
    };
    const client = sdk(s.url, transport, { getToken }, opened);
    const drops: string[] = [];
    client.on('disconnected', (r) => drops.push(r));
    await once(client, 'connected');
    const socketId = client.socket.id;
    // Two refreshes: the second comes after the first token's expiry, so the socket outlived it.
    await once(client, 'tokenRefreshed');
    await once(client, 'tokenRefreshed');
    expect(drops).toEqual([]);
    expect(client.socket.id).toBe(socketId);
    expect(minted).toBeGreaterThanOrEqual(3);
    const m = await client.send({ roomId: room.roomId, kind: 'text', text: 'still here' });
    expect(m.seq).toBe(1);
  });

  it('takes a token the application pushes (setToken) with auth:refresh on the open socket', async () => {
    const client = sdk(s.url, transport, { token: room.clientToken }, opened);
    await once(client, 'connected');
    const socketId = client.socket.id;
    const refreshed = once(client, 'tokenRefreshed');
    await client.setToken(s.token(room.client, 'client', { expiresInSec: 7200 }));
    await refreshed;
    expect(client.socket.id).toBe(socketId);
    const refused = await client.setToken(s.token('someone-else', 'client')).catch((e) => e);
    expect((refused as TalkroomError).code).toBe('forbidden');
  });

  it('connects with a fresh token when the one it holds has expired', async () => {
    const expired = mintToken(TEST_SECRET, { sub: room.client, role: 'client' }, { expiresInSec: -10 });
    const client = sdk(
      s.url,
      transport,
      { token: expired, getToken: () => s.token(room.client, 'client') },
      opened,
    );
    await once(client, 'connected');
    const { rooms } = await client.request('rooms:list', {});
    expect(rooms.map((r) => r.id)).toEqual([room.roomId]);
  });
});

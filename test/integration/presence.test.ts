import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { collect, nextEvent, request, startTestServer, type TestServer } from '../helpers/server.ts';

/** Presence on one node: who has a socket open, in the room list and as `presence` events. */
describe('presence on one node', () => {
  let s: TestServer;
  let room: Awaited<ReturnType<typeof therapyRoom>>;

  beforeAll(async () => {
    s = await startTestServer({ backend: embedded });
    room = await therapyRoom(s);
  });
  afterAll(() => s?.stop());

  const members = async () => {
    const r = await s.api('GET', '/v1/rooms', { token: room.clientToken });
    expect(r.status).toBe(200);
    const found = r.body.rooms.find((x: { id: string }) => x.id === room.roomId);
    return Object.fromEntries(
      found.members.map((m: { userId: string; online: boolean }) => [m.userId, m.online]),
    );
  };

  it('shows a member with a socket open as online in GET /v1/rooms and GET /v1/rooms/:id', async () => {
    expect(await members()).toEqual({ [room.client]: false, [room.provider]: false });
    const provider = await s.connect(room.providerToken);
    await request(provider, 'rooms:list'); // a round trip: the connection has been counted
    expect(await members()).toEqual({ [room.client]: false, [room.provider]: true });
    const one = await s.api('GET', `/v1/rooms/${room.roomId}`, { token: room.clientToken });
    expect(one.body.room.members).toContainEqual({
      userId: room.provider,
      role: 'provider',
      displayName: 'Provider',
      online: true,
    });
    const client = await s.connect(room.clientToken);
    const gone = nextEvent(client, 'presence');
    provider.disconnect();
    expect(await gone).toEqual({ userId: room.provider, online: false });
    expect(await members()).toEqual({ [room.client]: true, [room.provider]: false });
    client.disconnect();
  });

  it('announces online on the first socket and offline only when the last one closes', async () => {
    const client = await s.connect(room.clientToken);
    const seen = collect(client, 'presence');
    const cameOnline = nextEvent(client, 'presence');
    const first = await s.connect(room.providerToken);
    expect(await cameOnline).toEqual({ userId: room.provider, online: true });
    const second = await s.connect(room.providerToken);
    await request(second, 'rooms:list');

    first.disconnect();
    const wentOffline = nextEvent(client, 'presence');
    second.disconnect();
    expect(await wentOffline).toEqual({ userId: room.provider, online: false });
    await request(client, 'rooms:list'); // a round trip: anything else sent would have arrived
    // The first disconnect (closed before the second) said nothing; the second socket said nothing on opening.
    expect(seen).toEqual([
      { userId: room.provider, online: true },
      { userId: room.provider, online: false },
    ]);
  });
});

import type { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IoSocket } from '../../signaling/events.ts';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { request, startTestServer, type TestServer, transports } from '../helpers/server.ts';

/**
 * What a signed-in socket costs while idle (issue 14, P3: heap per idle socket): the listeners
 * are the server's, one set for every socket, and the credential it signed in with is not kept.
 */
describe.each(transports)('an idle socket over $transport transports', ({ transport }) => {
  let s: TestServer;
  let room: Awaited<ReturnType<typeof therapyRoom>>;
  beforeAll(async () => {
    s = await startTestServer({ backend: embedded, transport });
    room = await therapyRoom(s);
  });
  afterAll(() => s?.stop());

  const serverSide = (id: string | undefined): IoSocket => {
    const socket = s.io.of('/').sockets.get(id ?? '');
    if (!socket) throw new Error(`no socket ${id} on the server`);
    return socket as IoSocket;
  };

  it('holds no listener of its own: every socket shares the same functions', async () => {
    const clients = [await s.connect(room.clientToken), await s.connect(room.providerToken)];
    const [a, b] = clients.map((c) => serverSide(c.id));
    // Read as plain emitters: the typed socket only names the contract's events.
    const [ea, eb] = [a, b] as unknown as EventEmitter[];
    expect(ea!.eventNames().sort()).toEqual(eb!.eventNames().sort());
    for (const event of ea!.eventNames()) {
      const mine = ea!.listeners(event);
      const theirs = eb!.listeners(event);
      expect(mine.length, String(event)).toBe(theirs.length);
      for (const [i, fn] of mine.entries())
        expect(fn === theirs[i], `${String(event)} listener ${i}`).toBe(true);
    }
    // Every request of a socket reaches one function; none is registered per event.
    expect(a!.listenersAny()).toHaveLength(1);
    expect(a!.listenersAny()[0]).toBe(b!.listenersAny()[0]);
    expect(ea!.eventNames()).not.toContain('message:send');
    expect(a!.conn.listeners('packet')).toEqual(b!.conn.listeners('packet'));
    expect(a!.conn.listeners('packet')[0]).toBe(b!.conn.listeners('packet')[0]);
    // And both are served.
    for (const c of clients) expect(await request(c, 'rooms:list')).toMatchObject({ ok: true });
    for (const c of clients) c.disconnect();
  });

  it('keeps its identity, not the token it signed in with', async () => {
    const client = await s.connect(room.clientToken);
    const socket = serverSide(client.id);
    expect(socket.data.identity).toMatchObject({ id: room.client, role: 'client' });
    expect(JSON.stringify(socket.handshake)).not.toContain(room.clientToken);
    expect(await request(client, 'message:history', { roomId: room.roomId })).toMatchObject({ ok: true });
    client.disconnect();
  });
});

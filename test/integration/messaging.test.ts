import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textAad } from '../../src/store/messages.ts';
import { backends } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import {
  collect,
  nextEvent,
  request,
  startTestServer,
  type TestServer,
  transports,
} from '../helpers/server.ts';

// Each store, over socket.io-client's default transports (long-polling, then the upgrade) and WebSocket only.
const cases = backends.flatMap((backend) => transports.map(({ transport }) => ({ backend, transport })));

describe.each(cases)(
  'messaging on the $backend.name store over $transport transports',
  ({ backend, transport }) => {
    let s: TestServer;
    let room: Awaited<ReturnType<typeof therapyRoom>>;

    beforeAll(async () => {
      s = await startTestServer({ backend, transport });
      room = await therapyRoom(s);
    });
    afterAll(() => s?.stop());

    it('delivers a sent message to the other member and acknowledges it only once stored', async () => {
      const client = await s.connect(room.clientToken);
      const provider = await s.connect(room.providerToken);
      const arriving = nextEvent(provider, 'message:new');
      const ack = await request(client, 'message:send', {
        roomId: room.roomId,
        clientMsgId: 'c-1',
        kind: 'text',
        text: 'I had a hard week.',
      });
      expect(ack.ok).toBe(true);
      if (!ack.ok) return;
      // Stored, and sealed: the row holds the text only under the current key.
      const id = ack.data.message.id;
      const [stored] = await s.store.db.query<{ text: string; kid: string }>(
        'SELECT text, kid FROM messages WHERE id = $1',
        [id],
      );
      const keys = s.store.db.keyring!;
      expect(stored!.kid).toBe(keys.current);
      expect(stored!.text).not.toContain('hard week');
      expect(keys.openText(stored!.kid, stored!.text, textAad(id))).toBe('I had a hard week.');
      const delivered = await arriving;
      expect(delivered).toEqual(ack.data.message);
      expect(delivered).toMatchObject({
        roomId: room.roomId,
        senderId: room.client,
        senderRole: 'client',
        kind: 'text',
        clientMsgId: 'c-1',
      });
      expect(new Date(delivered.createdAt).toISOString()).toBe(delivered.createdAt);
    });

    it('returns the stored message for a repeated clientMsgId and stores nothing new', async () => {
      const client = await s.connect(room.clientToken);
      const provider = await s.connect(room.providerToken);
      const seen = collect(provider, 'message:new');
      const body = { roomId: room.roomId, clientMsgId: 'dup-1', kind: 'text' as const, text: 'once' };
      const first = await request(client, 'message:send', body);
      const second = await request(client, 'message:send', body);
      expect(first.ok && second.ok).toBe(true);
      if (!first.ok || !second.ok) return;
      expect(second.data.message).toEqual(first.data.message);
      const rows = await s.store.db.query('SELECT id FROM messages WHERE client_msg_id = $1', ['dup-1']);
      expect(rows).toHaveLength(1);
      await request(client, 'message:history', { roomId: room.roomId, limit: 1 }); // a round trip: later events would have arrived
      expect(seen.filter((m) => m.clientMsgId === 'dup-1')).toHaveLength(1);
    });

    it('gives concurrent senders gapless, unique sequence numbers', async () => {
      const client = await s.connect(room.clientToken);
      const provider = await s.connect(room.providerToken);
      const sends = Array.from({ length: 40 }, (_, i) =>
        request(i % 2 ? client : provider, 'message:send', {
          roomId: room.roomId,
          clientMsgId: `race-${i}`,
          kind: 'text',
          text: `m${i}`,
        }),
      );
      const acks = await Promise.all(sends);
      expect(acks.every((a) => a.ok)).toBe(true);
      const seqs = (
        await s.store.db.query<{ seq: number }>('SELECT seq FROM messages WHERE room_id = $1 ORDER BY seq', [
          room.roomId,
        ])
      ).map((r) => r.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    });

    it('pages history newest last and syncs exactly what a reconnecting socket missed', async () => {
      const client = await s.connect(room.clientToken);
      const first = await request(client, 'message:history', { roomId: room.roomId, limit: 200 });
      if (!first.ok) throw new Error(JSON.stringify(first));
      const lastSeen = first.data.messages.at(-1)!.seq as number;
      client.disconnect();

      const provider = await s.connect(room.providerToken);
      for (let i = 0; i < 3; i++) {
        await request(provider, 'message:send', {
          roomId: room.roomId,
          clientMsgId: `missed-${i}`,
          kind: 'text',
          text: `while away ${i}`,
        });
      }
      const back = await s.connect(room.clientToken);
      const sync = await request(back, 'rooms:sync', { cursors: { [room.roomId]: lastSeen } });
      expect(sync.ok).toBe(true);
      if (!sync.ok) return;
      const missed = sync.data.messages[room.roomId]!;
      expect(missed.map((m: any) => m.seq)).toEqual([lastSeen + 1, lastSeen + 2, lastSeen + 3]);
      expect(missed.map((m: any) => m.text)).toEqual(['while away 0', 'while away 1', 'while away 2']);

      const page = await request(back, 'message:history', {
        roomId: room.roomId,
        beforeSeq: lastSeen + 2,
        limit: 2,
      });
      if (!page.ok) throw new Error(JSON.stringify(page));
      expect(page.data.messages.map((m: any) => m.seq)).toEqual([lastSeen, lastSeen + 1]);
      expect(page.data.hasMore).toBe(true);

      const rest = await s.api('GET', `/v1/rooms/${room.roomId}/messages?limit=2`, {
        token: room.clientToken,
      });
      expect(rest.status).toBe(200);
      expect(rest.body.messages.map((m: any) => m.seq)).toEqual([lastSeen + 2, lastSeen + 3]);
    });

    it('tells the room when a member has read up to a message, and counts unread in the room list', async () => {
      const provider = await s.connect(room.providerToken);
      const client = await s.connect(room.clientToken);
      const before = await s.api('GET', '/v1/rooms', { token: room.clientToken });
      const mine = before.body.rooms.find((r: any) => r.id === room.roomId);
      expect(mine.unread).toBeGreaterThan(0);
      const receipt = nextEvent(provider, 'message:read');
      const ack = await request(client, 'message:read', { roomId: room.roomId, seq: mine.lastSeq });
      expect(ack).toEqual({
        ok: true,
        data: { roomId: room.roomId, userId: room.client, seq: mine.lastSeq },
      });
      expect(await receipt).toEqual({ roomId: room.roomId, userId: room.client, seq: mine.lastSeq });
      const after = await s.api('GET', '/v1/rooms', { token: room.clientToken });
      expect(after.body.rooms.find((r: any) => r.id === room.roomId).unread).toBe(0);
      const tooFar = await request(client, 'message:read', { roomId: room.roomId, seq: mine.lastSeq + 100 });
      expect(tooFar).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    });

    it('relays typing to the other member without storing it', async () => {
      const client = await s.connect(room.clientToken);
      const provider = await s.connect(room.providerToken);
      const mirror = collect(client, 'typing');
      const seen = nextEvent(provider, 'typing');
      const ack = await request(client, 'typing', { roomId: room.roomId, typing: true });
      expect(ack).toEqual({ ok: true, data: {} });
      expect(await seen).toEqual({ roomId: room.roomId, userId: room.client, typing: true });
      await request(client, 'message:history', { roomId: room.roomId, limit: 1 });
      expect(mirror).toEqual([]);
    });

    it('delivers a new room to its members’ already-connected sockets', async () => {
      const admin = s.token('platform', 'admin');
      await s.api('PUT', '/v1/users/client-late', {
        token: admin,
        body: { role: 'client', displayName: 'Late', timezone: 'UTC' },
      });
      await s.api('PUT', '/v1/users/client-late/plan', {
        token: admin,
        body: {
          kind: 'out_of_pocket',
          includesMessaging: true,
          liveSessionsPerPeriod: 1,
          periodStart: '2026-11-01',
        },
      });
      const late = await s.connect(s.token('client-late', 'client'));
      const opened = nextEvent(late, 'room:opened');
      const created = await s.api('POST', '/v1/rooms', {
        token: admin,
        body: { kind: 'therapy', clientId: 'client-late', providerId: room.provider, service: 'therapy' },
      });
      expect(created.status).toBe(201);
      expect(await opened).toEqual({ roomId: created.body.room.id });
      const provider = await s.connect(room.providerToken);
      const arriving = nextEvent(late, 'message:new');
      await request(provider, 'message:send', {
        roomId: created.body.room.id,
        clientMsgId: 'hello-late',
        kind: 'text',
        text: 'Welcome',
      });
      expect((await arriving).text).toBe('Welcome');
    });
  },
);

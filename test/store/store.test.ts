import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppendQueue } from '../../src/store/append-queue.ts';
import type { Db } from '../../src/store/db.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { type Appended, MessagesRepo, PlanChanged } from '../../src/store/messages.ts';
import { loadMigrations, migrate } from '../../src/store/migrate.ts';
import { backends } from '../helpers/backends.ts';

const now = new Date('2026-11-20T10:00:00Z');

// Each room gets a provider of its own: a client-provider pair has one therapy room.
async function seedRoom(store: Store, roomId = randomUUID()) {
  const providerId = `p-${roomId}`;
  await store.users.put('c1', { role: 'client', displayName: 'c1', timezone: 'UTC' }, now);
  await store.users.put(providerId, { role: 'provider', displayName: 'p', timezone: 'UTC' }, now);
  await store.rooms.insert({
    id: roomId,
    kind: 'therapy',
    service: 'therapy',
    clientId: 'c1',
    providerId,
    requesterId: null,
    escalations: [],
    lastSeq: 0,
    awaitingReplySince: null,
    createdAt: now,
  });
  return roomId;
}

const text = (
  roomId: string,
  clientMsgId: string,
  senderId = 'c1',
  senderRole: 'client' | 'provider' = 'client',
) => ({
  id: randomUUID(),
  roomId,
  senderId,
  senderRole,
  kind: 'text' as const,
  text: `hello ${clientMsgId}`,
  clientMsgId,
  createdAt: now,
});

/** Whether a statement's parameters name the room (a batch names its rooms inside one JSON parameter). */
const names = (params: readonly unknown[] | undefined, roomId: string) =>
  !!params?.some((p) => p === roomId || (typeof p === 'string' && p.includes(roomId)));

describe.each(backends)('the $name store', (backend) => {
  let store: Store;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await backend.create();
    drop = db.drop;
    store = await openStore({ databaseUrl: db.databaseUrl, poolSize: 16 });
  });
  afterAll(async () => {
    await store?.db.close();
    await drop?.();
  });

  it('applies each migration once, however often it starts', async () => {
    expect(await migrate(store.db)).toEqual([]);
    const applied = await store.db.query<{ version: number }>(
      'SELECT version FROM schema_migrations ORDER BY version',
    );
    expect(applied.map((r) => r.version)).toEqual(loadMigrations().map((m) => m.version));
  });

  it('appends with rising seqs and returns the stored message for a repeated clientMsgId', async () => {
    const roomId = await seedRoom(store);
    const a = await store.messages.append(text(roomId, 'a'));
    const b = await store.messages.append(text(roomId, 'b'));
    const again = await store.messages.append(text(roomId, 'a'));
    expect([a.message.seq, b.message.seq]).toEqual([1, 2]);
    expect(again).toEqual({ message: a.message, duplicate: true });
    expect((await store.rooms.get(roomId))?.lastSeq).toBe(2);
  });

  it('serialises concurrent appends into gapless seqs, even when retries race', async () => {
    const roomId = await seedRoom(store);
    const sends = Array.from({ length: 60 }, (_, i) => store.messages.append(text(roomId, `k${i % 30}`)));
    const results = await Promise.all(sends);
    const stored = await store.db.query<{ seq: number; client_msg_id: string }>(
      'SELECT seq, client_msg_id FROM messages WHERE room_id = $1 ORDER BY seq',
      [roomId],
    );
    expect(stored.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(stored.map((r) => r.client_msg_id)).size).toBe(30);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(30);
    const byKey = new Map(
      results.filter((r) => !r.duplicate).map((r) => [r.message.clientMsgId, r.message.id]),
    );
    for (const r of results) expect(r.message.id).toBe(byKey.get(r.message.clientMsgId));
  });

  it('group-commits a burst of sends: gapless seqs, one row per clientMsgId, each sender answered', async () => {
    const roomA = await seedRoom(store);
    const roomB = await seedRoom(store);
    const sends = Array.from({ length: 150 }, (_, i) =>
      store.appender.append(text(i % 2 ? roomA : roomB, `g${i % 50}`)),
    );
    const results = await Promise.all(sends);
    for (const roomId of [roomA, roomB]) {
      const seqs = await store.db.query<{ seq: number }>(
        'SELECT seq FROM messages WHERE room_id = $1 ORDER BY seq',
        [roomId],
      );
      expect(seqs.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    }
    expect(results.filter((r) => !r.duplicate)).toHaveLength(50);
    expect(new Set(results.map((r) => r.message.id)).size).toBe(50);
  });

  it('appends a batch in one statement: in order, gapless per room, a retry answered with its row, each webhook queued', async () => {
    const [roomA, roomB] = [await seedRoom(store), await seedRoom(store)];
    const earlier = await store.messages.append(text(roomA, 'b0'));
    let statements = 0;
    const counted = new MessagesRepo(
      {
        query: (sql, params) => {
          statements++;
          return store.db.query(sql, params);
        },
        exec: (sql) => store.db.exec(sql),
      },
      store.db.keyring,
    );
    const batch = [
      { ...text(roomA, 'b1'), webhook: true },
      { ...text(roomB, 'b2'), webhook: true },
      { ...text(roomA, 'b0'), webhook: true },
      { ...text(roomA, 'b3'), webhook: true, meta: { mood: 3 } },
    ];
    const out = (await counted.appendAll(batch)) as Appended[];
    expect(statements).toBe(1);
    expect(out.map((r) => [r.message.roomId, r.message.seq, r.duplicate])).toEqual([
      [roomA, 2, false],
      [roomB, 1, false],
      [roomA, 1, true],
      [roomA, 3, false],
    ]);
    expect(out[2]!.message.id).toBe(earlier.message.id);
    expect(out[3]!.message).toMatchObject({ text: 'hello b3', meta: { mood: 3 } });
    expect(await store.messages.findByClientMsgId(roomA, 'c1', 'b3')).toMatchObject({ meta: { mood: 3 } });
    const hooks = await store.db.query<{ payload: { event: { data: { messageId: string } } } }>(
      "SELECT payload FROM jobs WHERE kind = 'webhook.deliver' AND payload->'event'->'data'->>'roomId' = ANY($1)",
      [[roomA, roomB]],
    );
    expect(hooks.map((h) => h.payload.event.data.messageId).sort()).toEqual(
      [out[0]!, out[1]!, out[3]!].map((r) => r.message.id).sort(),
    );
  });

  it('writes a client’s post only while their plan still says what the post was allowed under', async () => {
    const roomId = await seedRoom(store);
    await store.users.putPlan(
      'c1',
      { kind: 'out_of_pocket', includesMessaging: true, liveSessionsPerPeriod: 4, periodStart: '2026-11-01' },
      now,
    );
    const allowedUnder = { userId: 'c1', kind: 'out_of_pocket', includesMessaging: true };
    const [kept, refused] = await store.messages.appendAll([
      { ...text(roomId, 'pl1'), plan: allowedUnder },
      { ...text(roomId, 'pl2'), plan: { ...allowedUnder, kind: 'eap' } },
    ]);
    expect(kept).toMatchObject({ message: { seq: 1 }, duplicate: false });
    expect(refused).toBeInstanceOf(PlanChanged);
    await expect(
      store.messages.append({ ...text(roomId, 'pl3'), plan: { ...allowedUnder, kind: 'eap' } }),
    ).rejects.toThrow(PlanChanged);
    expect(await store.messages.findByClientMsgId(roomId, 'c1', 'pl2')).toBeNull();
    expect((await store.rooms.get(roomId))?.lastSeq).toBe(1);
  });

  it('group commit writes a room in one batch at a time, so batches never wait on each other’s room lock', async () => {
    const rooms = [await seedRoom(store), await seedRoom(store)];
    // Which of these rooms each statement in flight is writing, and any room two of them held at once.
    const holding = new Map<string, number>();
    const overlaps: string[] = [];
    const touching = async <T>(params: readonly unknown[] | undefined, run: () => Promise<T>): Promise<T> => {
      const mine = rooms.filter((r) => names(params, r));
      for (const r of mine) {
        if ((holding.get(r) ?? 0) > 0) overlaps.push(r);
        holding.set(r, (holding.get(r) ?? 0) + 1);
      }
      try {
        return await run();
      } finally {
        for (const r of mine) holding.set(r, holding.get(r)! - 1);
      }
    };
    const real = store.db;
    const watched: Db = {
      kind: real.kind,
      keyring: real.keyring,
      ping: () => real.ping(),
      close: () => real.close(),
      exec: (sql) => real.exec(sql),
      query: (sql, params) => touching(params, () => real.query(sql, params)),
      // A transaction holds its rooms until it commits.
      tx: (fn) => {
        const held: string[] = [];
        return real
          .tx((q) =>
            fn({
              exec: (sql) => q.exec(sql),
              query: (sql, params) => {
                for (const r of rooms) {
                  if (!names(params, r) || held.includes(r)) continue;
                  if ((holding.get(r) ?? 0) > 0) overlaps.push(r);
                  holding.set(r, (holding.get(r) ?? 0) + 1);
                  held.push(r);
                }
                return q.query(sql, params);
              },
            }),
          )
          .finally(() => {
            for (const r of held) holding.set(r, holding.get(r)! - 1);
          });
      },
    };
    const queue = new AppendQueue(watched, { maxInFlight: 4 });
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => queue.append(text(rooms[i % 2]!, `o${i}`))),
    );
    expect(overlaps).toEqual([]);
    for (const roomId of rooms) {
      const seqs = results.filter((r) => r.message.roomId === roomId).map((r) => r.message.seq);
      // Answered in the order sent, seqs gapless.
      expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    }
  });

  it('keeps the reply-due clock: a client message starts it, a provider reply stops it', async () => {
    const roomId = await seedRoom(store);
    await store.messages.append({ ...text(roomId, 'q1'), createdAt: new Date('2026-11-20T10:00:00Z') });
    await store.messages.append({ ...text(roomId, 'q2'), createdAt: new Date('2026-11-20T11:00:00Z') });
    expect((await store.rooms.get(roomId))?.awaitingReplySince?.toISOString()).toBe(
      '2026-11-20T10:00:00.000Z',
    );
    await store.messages.append(text(roomId, 'r1', `p-${roomId}`, 'provider'));
    expect((await store.rooms.get(roomId))?.awaitingReplySince).toBeNull();
  });

  it('returns what each room holds after a cursor', async () => {
    const r1 = await seedRoom(store);
    const r2 = await seedRoom(store);
    for (let i = 0; i < 5; i++) await store.messages.append(text(r1, `x${i}`));
    await store.messages.append(text(r2, 'y0'));
    const since = await store.messages.since(
      new Map([
        [r1, 3],
        [r2, 1],
      ]),
      100,
    );
    expect(since.get(r1)?.map((m) => m.seq)).toEqual([4, 5]);
    expect(since.get(r2)).toEqual([]);
  });

  it('keeps attachments byte for byte, chunk by chunk, once complete', async () => {
    const roomId = await seedRoom(store);
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256);
    await store.attachments.begin({
      id: 'att-1',
      roomId,
      uploaderId: 'c1',
      mimeType: 'audio/webm',
      chunkBytes: 40_000,
      createdAt: now,
    });
    await store.attachments.writeChunk('att-1', 0, bytes.subarray(0, 40_000));
    await store.attachments.writeChunk('att-1', 1, bytes.subarray(40_000));
    expect(await store.attachments.meta('att-1')).toBeNull();
    expect(await store.attachments.complete('att-1', bytes.byteLength, now)).toBe(true);
    expect(await store.attachments.meta('att-1')).toMatchObject({ sizeBytes: 70_000, chunkBytes: 40_000 });
    const chunks = [
      await store.attachments.readChunk('att-1', 0),
      await store.attachments.readChunk('att-1', 1),
    ];
    expect(Buffer.concat(chunks.map((c) => c!))).toEqual(Buffer.from(bytes));
    expect(await store.attachments.readChunk('att-1', 2)).toBeNull();
  });
});

describe('the embedded store on disk', () => {
  it('keeps acknowledged messages across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'talkroom-embedded-'));
    try {
      const first = await openStore({ dataDir: dir });
      const roomId = await seedRoom(first);
      const stored = await first.messages.append(text(roomId, 'durable'));
      await first.db.close();

      const second = await openStore({ dataDir: dir });
      const page = await second.messages.page(roomId, undefined, 10);
      expect(page.messages).toEqual([stored.message]);
      await second.db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

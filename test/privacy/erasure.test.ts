import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { request, startTestServer, type TestServer } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

describe.each(backends)('erasure and legal hold, on the $name store', (backend) => {
  let s: TestServer;
  let r: Awaited<ReturnType<typeof therapyRoom>>;
  beforeAll(async () => {
    s = await startTestServer({ backend, clock: new ManualClock('2026-12-01T10:00:00Z') });
    r = await therapyRoom(s);
  });
  afterAll(() => s?.stop());

  it('refused with legal_hold while the user is on hold; then the user’s texts, meta and recordings are destroyed and their messages read as tombstones, seq gapless, the other member’s intact', async () => {
    const post = (token: string, body: Record<string, unknown>) =>
      ok(s.api('POST', `/v1/rooms/${r.roomId}/messages`, { token, body }));
    await post(r.clientToken, { clientMsgId: 'c1', kind: 'text', text: 'erase me 1' });
    await post(r.providerToken, { clientMsgId: 'p1', kind: 'text', text: 'the provider stays' });
    const up = await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/attachments`, {
        token: r.clientToken,
        raw: Buffer.concat([EBML, Buffer.alloc(300 * 1024, 1)]),
        type: 'audio/webm',
      }),
    );
    await post(r.clientToken, { clientMsgId: 'c2', kind: 'voice', attachmentId: up.attachmentId });
    await post(r.clientToken, {
      clientMsgId: 'c3',
      kind: 'availability',
      availability: [{ startsAt: '2026-12-03T10:00:00Z', endsAt: '2026-12-03T11:00:00Z' }],
    });

    expect(
      await ok(s.api('PUT', `/v1/users/${r.client}/hold`, { token: r.admin, body: { hold: true } })),
    ).toEqual({
      userId: r.client,
      hold: true,
    });
    const refused = await s.api('POST', `/v1/users/${r.client}/erase`, { token: r.admin, body: {} });
    expect(refused).toMatchObject({ status: 409, body: { error: { code: 'legal_hold' } } });
    expect(
      (await s.api('POST', `/v1/users/${r.client}/erase`, { token: r.clientToken, body: {} })).status,
    ).toBe(403);
    await ok(s.api('PUT', `/v1/users/${r.client}/hold`, { token: r.admin, body: { hold: false } }));

    const erased = await ok(s.api('POST', `/v1/users/${r.client}/erase`, { token: r.admin, body: {} }));
    expect(erased).toEqual({ erased: { messages: 3, recordings: 1 } });

    const history = await ok(s.api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken }));
    const tomb = (seq: number, kind: string) => ({
      id: expect.any(String),
      roomId: r.roomId,
      seq,
      senderId: r.client,
      senderRole: 'client',
      kind,
      createdAt: expect.any(String),
      erased: true,
    });
    expect(history.messages).toEqual([
      tomb(1, 'text'),
      expect.objectContaining({ seq: 2, text: 'the provider stays' }),
      tomb(3, 'voice'),
      tomb(4, 'availability'),
    ]);
    for (const m of history.messages.filter((x: any) => x.erased)) {
      expect(Object.keys(m).sort()).toEqual([
        'createdAt',
        'erased',
        'id',
        'kind',
        'roomId',
        'senderId',
        'senderRole',
        'seq',
      ]);
    }
    // Sync renders the same tombstones.
    const socket = await s.connect(r.providerToken);
    const sync = await request(socket, 'rooms:sync', { cursors: { [r.roomId]: 0 } });
    expect(sync.ok && sync.data.messages[r.roomId]!.map((m: any) => m.erased ?? false)).toEqual([
      true,
      false,
      true,
      true,
    ]);
    socket.disconnect();

    // Nothing of it is left in the database.
    const left = await s.store.db.query(
      `SELECT id FROM messages WHERE sender_id = $1 AND (text IS NOT NULL OR meta IS NOT NULL OR attachment IS NOT NULL OR availability IS NOT NULL)`,
      [r.client],
    );
    expect(left).toEqual([]);
    expect(await s.store.db.query('SELECT 1 FROM attachment_chunks')).toEqual([]);
    expect(await s.store.db.query(`SELECT 1 FROM jobs WHERE payload::text LIKE '%erase me%'`)).toEqual([]);
    expect(
      (await s.api('GET', `/v1/rooms/${r.roomId}/attachments/${up.attachmentId}`, { token: r.providerToken }))
        .status,
    ).toBe(404);
    // The room goes on: the next message takes the next seq.
    const next = await post(r.providerToken, { clientMsgId: 'p2', kind: 'text', text: 'still here' });
    expect(next.message.seq).toBe(5);
    const audited = (await ok(s.api('GET', `/v1/audit?subjectId=${r.client}`, { token: r.admin }))).entries;
    expect(audited.map((e: any) => e.action).slice(-3)).toEqual(['user.hold', 'user.hold', 'user.erase']);
  });
});

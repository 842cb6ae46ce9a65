import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

describe.each(backends)('export, on the $name store', (backend) => {
  let s: TestServer;
  let r: Awaited<ReturnType<typeof therapyRoom>>;
  const dir = mkdtempSync(join(tmpdir(), 'talkroom-export-'));
  beforeAll(async () => {
    s = await startTestServer({ backend, clock: new ManualClock('2026-12-01T10:00:00Z') });
    r = await therapyRoom(s);
  });
  afterAll(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const download = async (userId: string, token: string) => {
    const res = await fetch(`${s.url}/v1/users/${userId}/export`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      body: Buffer.from(await res.arrayBuffer()),
    };
  };

  it('the user themself gets a zip of export.json (profile, plan, rooms and messages, bookings, ledger) and their recordings', async () => {
    await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'c1', kind: 'text', text: 'my first message' },
      }),
    );
    await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.providerToken,
        body: { clientMsgId: 'p1', kind: 'text', text: 'the reply' },
      }),
    );
    // Three chunks and a bit.
    const recording = Buffer.concat([EBML, randomBytes(3 * 256 * 1024 + 1000)]);
    const up = await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/attachments`, {
        token: r.clientToken,
        raw: recording,
        type: 'audio/webm',
      }),
    );
    await ok(
      s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
        token: r.clientToken,
        body: { clientMsgId: 'c2', kind: 'voice', attachmentId: up.attachmentId },
      }),
    );
    const booking = await ok(
      s.api('POST', '/v1/bookings', {
        token: r.clientToken,
        body: { roomId: r.roomId, modality: 'video', startsAt: '2026-12-24T15:00:00Z' },
      }),
    );

    const got = await download(r.client, r.clientToken);
    expect(got.status).toBe(200);
    expect(got.type).toBe('application/zip');
    const file = join(dir, `${backend.name}.zip`);
    writeFileSync(file, got.body);
    const listing = execFileSync('unzip', ['-Z1', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toEqual(['export.json', `recordings/${up.attachmentId}.weba`]);
    const data = JSON.parse(execFileSync('unzip', ['-p', file, 'export.json'], { encoding: 'utf8' }));
    expect(data.profile).toMatchObject({ id: r.client, role: 'client' });
    expect(data.plan).toMatchObject({ kind: 'out_of_pocket' });
    expect(data.rooms).toHaveLength(1);
    expect(data.rooms[0].messages.map((m: any) => m.text ?? m.kind)).toEqual(
      expect.arrayContaining(['my first message', 'the reply', 'voice']),
    );
    expect(data.bookings.map((b: any) => b.id)).toEqual([booking.booking.id]);
    expect(data.creditLedger.length).toBeGreaterThan(0);
    expect(data.recordings).toEqual([
      expect.objectContaining({
        id: up.attachmentId,
        sizeBytes: recording.length,
        file: `recordings/${up.attachmentId}.weba`,
      }),
    ]);
    const bytes = execFileSync('unzip', ['-p', file, `recordings/${up.attachmentId}.weba`], {
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(Buffer.compare(bytes, recording)).toBe(0);
  });

  it('an admin may export anyone (audited); nobody else may', async () => {
    expect((await download(r.client, r.providerToken)).status).toBe(403);
    expect((await download('nobody', r.admin)).status).toBe(404);
    const got = await download(r.provider, r.admin);
    expect(got.status).toBe(200);
    const entries = (await ok(s.api('GET', `/v1/audit?subjectId=${r.provider}`, { token: r.admin }))).entries;
    expect(entries.at(-1)).toMatchObject({ action: 'user.export', actorId: 'platform' });
  });
});

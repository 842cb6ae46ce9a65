import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { processClient, spawnServer } from '../helpers/processes.ts';
import { TEST_ENCRYPTION_KEYS, TEST_SECRET } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);

/** Every regular file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

describe.each(backends)('encryption at rest, on the $name store', (backend) => {
  it('marked message text, meta and a marked recording are nowhere in clear in the stored data, and read back whole', {
    timeout: 120_000,
  }, async () => {
    const db = await backend.create();
    const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-enc-'));
    const marker = `MARK${randomBytes(8).toString('hex')}`;
    const server = await spawnServer({
      name: `encryption-${backend.name}`,
      env: {
        PORT: '0',
        DATA_DIR: dataDir,
        AUTH_JWT_SECRET: TEST_SECRET,
        LOG_LEVEL: 'info',
        MEDIA_WORKERS: '0',
        HTTP_RATE_LIMIT: '1000',
        ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl, ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS } : {}),
      },
    });
    try {
      const { token, api } = processClient(server);
      const r = await therapyRoom({ token: (sub, role) => token(sub, role), api });
      const text = `I told nobody before: ${marker}-text`;
      await ok(
        api('POST', `/v1/rooms/${r.roomId}/messages`, {
          token: r.clientToken,
          body: { clientMsgId: 'c1', kind: 'text', text },
        }),
      );
      const bot = token('care-bot', 'bot', { rooms: [r.roomId] });
      const meta = { note: `${marker}-meta`, nested: { deep: [`${marker}-deep`] } };
      await ok(
        api('POST', `/v1/rooms/${r.roomId}/messages`, {
          token: bot,
          body: { clientMsgId: 'b1', kind: 'system', text: `${marker}-system`, meta },
        }),
      );
      // A recording of 600 KiB (three chunks), the marker repeated through it.
      const recording = Buffer.concat([
        EBML,
        Buffer.from(`${marker}-audio `.repeat(Math.ceil((600 * 1024) / (marker.length + 7)))),
      ]);
      const up = await ok(
        api('POST', `/v1/rooms/${r.roomId}/attachments`, {
          token: r.clientToken,
          raw: recording,
          type: 'audio/webm',
        }),
      );
      await ok(
        api('POST', `/v1/rooms/${r.roomId}/messages`, {
          token: r.clientToken,
          body: { clientMsgId: 'c2', kind: 'voice', attachmentId: up.attachmentId },
        }),
      );

      // Everything reads back as it was sent.
      const history = await ok(api('GET', `/v1/rooms/${r.roomId}/messages`, { token: r.providerToken }));
      expect(history.messages.map((m: any) => [m.text, m.meta])).toEqual([
        [text, undefined],
        [`${marker}-system`, meta],
        [undefined, undefined],
      ]);
      const got = await api('GET', `/v1/rooms/${r.roomId}/attachments/${up.attachmentId}`, {
        token: r.providerToken,
      });
      expect(got.status).toBe(200);
      expect(Buffer.compare(got.body as Buffer, recording)).toBe(0);

      // What a copy of the database holds.
      let stored: { name: string; bytes: Buffer }[];
      if (db.databaseUrl) {
        const dump = execFileSync('pg_dump', ['--no-owner', db.databaseUrl], {
          maxBuffer: 256 * 1024 * 1024,
        });
        // The dump is of the right database: the room is in it.
        expect(dump.includes(Buffer.from(r.roomId))).toBe(true);
        stored = [{ name: 'pg_dump', bytes: dump }];
      } else {
        await server.stop();
        stored = filesUnder(dataDir).map((f) => ({ name: f, bytes: readFileSync(f) }));
        // The embedded store is there, with its rows: the room's id is on disk.
        expect(stored.some((f) => f.bytes.includes(Buffer.from(r.roomId)))).toBe(true);
        // Its key was generated beside it, readable by the server's user only.
        expect(statSync(join(dataDir, 'encryption-key')).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(dataDir, 'encryption-key'), 'utf8')).toMatch(/^local:[A-Za-z0-9+/]{43}=\n$/);
      }
      const found = stored.filter((f) => f.bytes.includes(Buffer.from(marker))).map((f) => f.name);
      expect(found).toEqual([]);
      // Nor in anything the process wrote (its log at info, and stderr).
      const output = server.output();
      expect(output).toContain('talkroom listening');
      expect([marker, r.clientToken, r.providerToken, bot].filter((x) => output.includes(x))).toEqual([]);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  });
});

describe('the encryption setting', () => {
  it('with DATABASE_URL and no ENCRYPTION_KEYS the start stops (exit 78) with a message naming the setting', async () => {
    const err: Error | null = await spawnServer({
      name: 'no-encryption-keys',
      env: {
        PORT: '0',
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
        AUTH_JWT_SECRET: TEST_SECRET,
        MEDIA_WORKERS: '0',
      },
    }).then(
      async (s) => {
        await s.stop();
        return null;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/code 78/);
    expect(err?.message).toMatch(/ENCRYPTION_KEYS: is required with DATABASE_URL/);
  });
});

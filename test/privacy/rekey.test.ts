import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import type { TypedJob } from '../../src/jobs/kinds.ts';
import { createLogger } from '../../src/log.ts';
import { Keyring } from '../../src/privacy/keyring.ts';
import { RekeyService } from '../../src/services/rekey.ts';
import { openDb } from '../../src/store/db.ts';
import { JobStore } from '../../src/store/jobs.ts';
import { MessagesRepo } from '../../src/store/messages.ts';
import { backends, postgres } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { processClient, spawnServer } from '../helpers/processes.ts';
import { startTestServer, TEST_SECRET } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);
const key = () => randomBytes(32).toString('base64');

describe.each(backends)('key rotation, on the $name store', (backend) => {
  it('POST /v1/admin/rekey re-seals every message, meta and recording chunk (and rows stored in clear) under the first key; the old key can then go', {
    timeout: 180_000,
  }, async () => {
    const db = await backend.create();
    const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-rekey-'));
    const oldKey = `old:${key()}`;
    const newKey = `new:${key()}`;
    const start = (keys: string, name: string) =>
      spawnServer({
        name: `rekey-${backend.name}-${name}`,
        env: {
          PORT: '0',
          DATA_DIR: dataDir,
          AUTH_JWT_SECRET: TEST_SECRET,
          LOG_LEVEL: 'info',
          MEDIA_WORKERS: '0',
          HTTP_RATE_LIMIT: '1000',
          ENCRYPTION_KEYS: keys,
          ...(db.databaseUrl ? { DATABASE_URL: db.databaseUrl } : {}),
        },
      });
    const inStore = async <T>(fn: (q: Awaited<ReturnType<typeof openDb>>) => Promise<T>): Promise<T> => {
      const d = await openDb({ databaseUrl: db.databaseUrl, dataDir });
      try {
        return await fn(d);
      } finally {
        await d.close();
      }
    };
    let server = await start(oldKey, 'old');
    try {
      // Written under the old key.
      let c = processClient(server);
      const r = await therapyRoom(c);
      const texts = Array.from({ length: 30 }, (_, i) => `before rotation ${i}`);
      for (const [i, text] of texts.entries()) {
        await ok(
          c.api('POST', `/v1/rooms/${r.roomId}/messages`, {
            token: i % 2 ? r.providerToken : r.clientToken,
            body: { clientMsgId: `m${i}`, kind: 'text', text },
          }),
        );
      }
      const meta = { step: 'rotation', n: 1 };
      await ok(
        c.api('POST', `/v1/rooms/${r.roomId}/messages`, {
          token: c.token('care-bot', 'bot', { rooms: [r.roomId] }),
          body: { clientMsgId: 'b1', kind: 'system', meta },
        }),
      );
      const recording = Buffer.concat([EBML, randomBytes(700 * 1024)]);
      const up = await ok(
        c.api('POST', `/v1/rooms/${r.roomId}/attachments`, {
          token: r.clientToken,
          raw: recording,
          type: 'audio/webm',
        }),
      );
      await server.stop();

      // One row as a store from before encryption left it: in clear, no key id.
      await inStore((d) =>
        d.query(`UPDATE messages SET text = 'stored in clear', kid = NULL WHERE client_msg_id = 'm0'`),
      );
      texts[0] = 'stored in clear';

      // The new key first, the old one still there to open what it sealed.
      server = await start(`${newKey},${oldKey}`, 'both');
      c = processClient(server);
      const started = await c.api('POST', '/v1/admin/rekey', {
        token: c.token('platform', 'admin'),
        body: {},
      });
      expect(started).toMatchObject({
        status: 202,
        body: { key: 'new', remaining: { messages: 31, chunks: 3 } },
      });
      expect((await c.api('POST', '/v1/admin/rekey', { token: r.clientToken, body: {} })).status).toBe(403);
      await server.waitForLog((l) => l.msg === 'rekey pass finished', 'the end of the rekey pass', 60_000);
      await server.stop();

      const kids = await inStore(async (d) => ({
        messages: await d.query<{ kid: string | null; n: number }>(
          'SELECT kid, count(*)::int AS n FROM messages WHERE text IS NOT NULL OR meta IS NOT NULL GROUP BY kid',
        ),
        chunks: await d.query<{ kid: string | null; n: number }>(
          'SELECT kid, count(*)::int AS n FROM attachment_chunks GROUP BY kid',
        ),
      }));
      expect(kids).toEqual({ messages: [{ kid: 'new', n: 31 }], chunks: [{ kid: 'new', n: 3 }] });

      // The old key is gone from the settings: everything still reads.
      server = await start(newKey, 'new');
      c = processClient(server);
      const history = await ok(
        c.api('GET', `/v1/rooms/${r.roomId}/messages?limit=100`, { token: r.providerToken }),
      );
      expect(history.messages.map((m: any) => m.text ?? m.meta)).toEqual([...texts, meta]);
      const got = await c.api('GET', `/v1/rooms/${r.roomId}/attachments/${up.attachmentId}`, {
        token: r.providerToken,
      });
      expect(Buffer.compare(got.body as Buffer, recording)).toBe(0);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
      await db.drop();
    }
  });
});

describe('a rekey pass in steps', () => {
  it('goes batch by batch in a chain of jobs; a step run again after a crash hands on to the same next step and changes nothing', {
    timeout: 120_000,
  }, async () => {
    const oldKeys = [{ kid: 'old', key: randomBytes(32) }];
    const s = await startTestServer({
      backend: postgres,
      env: { ENCRYPTION_KEYS: oldKeys.map((k) => `${k.kid}:${k.key.toString('base64')}`).join(',') },
      runScheduler: false,
    });
    const db = await openDb({
      databaseUrl: s.config.databaseUrl,
      keyring: new Keyring([{ kid: 'new', key: randomBytes(32) }, ...oldKeys]),
    });
    try {
      const r = await therapyRoom(s);
      for (let i = 0; i < 9; i++) {
        await ok(
          s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
            token: r.clientToken,
            body: { clientMsgId: `m${i}`, kind: 'text', text: `text ${i}` },
          }),
        );
      }
      const clock = new ManualClock('2026-12-01T10:00:00Z');
      const rekey = new RekeyService(
        { db, clock, log: createLogger('silent'), wakeScheduler: () => {} },
        { messages: 2, chunks: 1, perRun: 2 },
      );
      await rekey.start({ id: 'platform', role: 'admin' });
      const jobs = new JobStore(db);
      const steps: string[] = [];
      let crashed = false;
      for (;;) {
        const [claimed] = await jobs.claim('test-node', clock.now(), 60_000, 1);
        if (!claimed) break;
        // Only rekey steps are queued here: the claimed row is one.
        const job = claimed as TypedJob<'privacy.rekey'>;
        steps.push(job.id);
        await rekey.run(job);
        if (!crashed && steps.length === 2) {
          // The node dies before completing the step: it runs again, from the same cursor.
          crashed = true;
          await rekey.run(job);
        }
        await jobs.complete(job.id, 'test-node');
      }
      // 9 messages at 2 a batch and 2 batches a step: the third step ends the messages and finds no chunks.
      expect(steps.map((id) => id.split(':')[2])).toEqual(['0', '1', '2']);
      const kids = await db.query('SELECT kid, count(*)::int AS n FROM messages GROUP BY kid');
      expect(kids).toEqual([{ kid: 'new', n: 9 }]);
      const page = await new MessagesRepo(db, db.keyring).page(r.roomId, undefined, 20);
      expect(page.messages.map((m) => m.text)).toEqual(Array.from({ length: 9 }, (_, i) => `text ${i}`));
    } finally {
      await db.close();
      await s.stop();
    }
  });
});

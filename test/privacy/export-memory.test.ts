import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { postgres } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { processClient, spawnServer } from '../helpers/processes.ts';
import { TEST_ENCRYPTION_KEYS, TEST_SECRET } from '../helpers/server.ts';

const EBML = Buffer.from([0x1a, 0x45, 0xdf, 0xa3]);
const MiB = 1024 * 1024;
const RECORDINGS = 4;
const RECORDING_BYTES = 32 * MiB;
/** What the export may add to the server's resident memory: half of what it sends (a buffering export would hold all of it). */
const BOUND = 64 * MiB;

/** Resident memory of a process (VmRSS) or its peak since the last reset (VmHWM), in bytes. */
const memory = (pid: number, field: 'VmRSS' | 'VmHWM'): number => {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))!;
  return Number(line.split(/\s+/)[1]) * 1024;
};

/**
 * Each request on a connection of its own: on a busy machine a pooled keep-alive
 * connection may be closed by the server (idle past its keepAliveTimeout) just
 * as the next request goes out on it, which fails that request with EPIPE.
 */
function send(url: string, token: string, body?: Buffer | object): Promise<IncomingMessage> {
  const json = body !== undefined && !Buffer.isBuffer(body);
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: body ? 'POST' : 'GET',
      agent: false,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': json ? 'application/json' : 'audio/webm' } : {}),
      },
    });
    req.on('response', resolve).on('error', reject);
    req.end(json ? JSON.stringify(body) : body);
  });
}

async function answer(res: IncomingMessage, status: number): Promise<any> {
  let text = '';
  for await (const chunk of res) text += chunk;
  if (res.statusCode !== status) throw new Error(`${res.statusCode}: ${text}`);
  return JSON.parse(text);
}

/**
 * Issue 12: "streamed, so a user with gigabytes of recordings does not load
 * them into memory". A spawned server (its memory is its own) holds 128 MiB of
 * a user's recordings; the export of all of them raises its peak resident
 * memory by far less than half of them (measured: 3 MiB for 80 MiB).
 */
describe('exporting a user with very large recordings', () => {
  it('streams them: the peak resident memory of the server grows by far less than the recordings it sends', {
    timeout: 600_000,
  }, async () => {
    const db = await postgres.create();
    const server = await spawnServer({
      name: 'export-memory',
      env: {
        PORT: '0',
        DATABASE_URL: db.databaseUrl!,
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
        AUTH_JWT_SECRET: TEST_SECRET,
        LOG_LEVEL: 'info',
        MEDIA_WORKERS: '0',
        HTTP_RATE_LIMIT: '1000',
        ATTACHMENT_MAX_BYTES: String(RECORDING_BYTES + MiB),
      },
    });
    try {
      const r = await therapyRoom(processClient(server));
      const recording = Buffer.concat([EBML, randomBytes(RECORDING_BYTES - EBML.length)]);
      for (let i = 0; i < RECORDINGS; i++) {
        const up = await answer(
          await send(`${server.url}/v1/rooms/${r.roomId}/attachments`, r.clientToken, recording),
          201,
        );
        await answer(
          await send(`${server.url}/v1/rooms/${r.roomId}/messages`, r.clientToken, {
            clientMsgId: `v${i}`,
            kind: 'voice',
            attachmentId: up.attachmentId,
          }),
          201,
        );
      }

      const before = memory(server.pid, 'VmRSS');
      writeFileSync(`/proc/${server.pid}/clear_refs`, '5'); // the peak counts from here
      const res = await send(`${server.url}/v1/users/${r.client}/export`, r.clientToken);
      expect(res.statusCode).toBe(200);
      let bytes = 0;
      for await (const chunk of res) bytes += (chunk as Buffer).byteLength;
      const peak = memory(server.pid, 'VmHWM');

      // Recordings are random bytes: the zip stores them whole, so everything went through the server.
      expect(bytes).toBeGreaterThan(RECORDINGS * RECORDING_BYTES);
      expect(
        peak - before,
        `peak ${Math.round(peak / MiB)} MiB against ${Math.round(before / MiB)} MiB before the export`,
      ).toBeLessThan(BOUND);
    } finally {
      await server.stop();
      await db.drop();
    }
  });
});

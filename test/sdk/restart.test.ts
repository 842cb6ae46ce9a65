import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Message, TalkroomClient } from '@talkroom/client';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { postgres } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { processEnv, type ServerProcess, spawnServer } from '../helpers/processes.ts';
import { TEST_SECRET, transports } from '../helpers/server.ts';
import { closeAll, oneTo, sdk, seqsOf, stream, until } from './helpers.ts';

/**
 * The outbox across a crash: a real server process on PostgreSQL is killed
 * (SIGKILL) while many sends are in flight, and started again on the same
 * port. The SDK reconnects on its own, sends again what was not acknowledged,
 * and catches up: every message is stored exactly once, and each application
 * (the sender's and the other side's) saw each message once, in seq order.
 */
describe.each(transports)('the outbox across a server restart ($transport transports)', ({ transport }) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  const opened: TalkroomClient[] = [];
  afterEach(async () => {
    closeAll(opened);
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('a send killed between store and ack is stored once and seen once', async () => {
    const db = await postgres.create();
    cleanups.push(() => db.drop());
    const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-sdk-restart-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = (port: string) => processEnv({ databaseUrl: db.databaseUrl!, dataDir, port });
    let node: ServerProcess = await spawnServer({ name: 'first', env: env('0') });
    cleanups.push(() => void node.stop());
    const target = {
      token: (sub: string, role: string) => mintToken(TEST_SECRET, { sub, role }, { expiresInSec: 3600 }),
      async api(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
        const res = await fetch(node.url + path, {
          method,
          headers: {
            ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
            ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        });
        return { status: res.status, body: await res.json() };
      },
    };
    const room = await therapyRoom(target);
    const reconnectFast = { reconnectionDelay: 100, reconnectionDelayMax: 500 };
    const client = sdk(
      node.url,
      transport,
      { token: room.clientToken, rooms: { [room.roomId]: 0 }, socket: reconnectFast },
      opened,
    );
    const provider = sdk(
      node.url,
      transport,
      { token: room.providerToken, rooms: { [room.roomId]: 0 }, socket: reconnectFast },
      opened,
    );
    const clientSaw = stream(client);
    const providerSaw = stream(provider);
    await Promise.all([
      until(client, () => client.socket.connected),
      until(provider, () => provider.socket.connected),
    ]);

    const N = 60;
    let acked = 0;
    let ackedBeforeKill = -1;
    let killed: Promise<unknown> | undefined;
    const sends: Promise<Message>[] = oneTo(N).map((i) =>
      client
        .send({ roomId: room.roomId, kind: 'text', text: `outbox ${i}`, clientMsgId: `c-${i}` })
        .then((m) => {
          acked++;
          // The first acknowledgement: the rest are in flight (some stored, some not yet). Kill now.
          if (!killed) {
            ackedBeforeKill = acked;
            killed = node.kill();
          }
          return m;
        }),
    );
    await until(client, () => killed !== undefined);
    await killed;
    expect(client.pending().length).toBeGreaterThan(0);
    // What the dead server had stored: at least what it acknowledged, often more (stored, never acknowledged).
    const pgc = new pg.Client({ connectionString: db.databaseUrl });
    await pgc.connect();
    const storedAtKill = Number(
      (await pgc.query('SELECT count(*) AS n FROM messages WHERE room_id = $1', [room.roomId])).rows[0].n,
    );
    await pgc.end();
    expect(storedAtKill).toBeGreaterThanOrEqual(ackedBeforeKill);
    console.info(
      `outbox restart (${transport}): ${ackedBeforeKill} acknowledged, ${storedAtKill} stored at the kill`,
    );

    const port = String(node.port);
    node = await spawnServer({ name: 'second', env: env(port) });
    expect(node.port).toBe(Number(port));

    const messages = await Promise.all(sends);
    expect(ackedBeforeKill).toBeLessThan(N);
    expect(new Set(messages.map((m) => m.id)).size).toBe(N);
    await until(client, () => clientSaw.length >= N);
    await until(provider, () => providerSaw.length >= N);

    // Stored exactly once: N messages, seq gapless, one per clientMsgId.
    const stored = await target.api('GET', `/v1/rooms/${room.roomId}/messages?limit=200`, {
      token: room.providerToken,
    });
    const all = stored.body.messages as Message[];
    expect(all.map((m) => m.seq)).toEqual(oneTo(N));
    expect(new Set(all.map((m) => m.clientMsgId)).size).toBe(N);
    expect(all.map((m) => m.clientMsgId).sort()).toEqual(
      oneTo(N)
        .map((i) => `c-${i}`)
        .sort(),
    );
    // Seen exactly once, in order, by both applications.
    expect(seqsOf(clientSaw, room.roomId)).toEqual(oneTo(N));
    expect(seqsOf(providerSaw, room.roomId)).toEqual(oneTo(N));
    expect(client.pending()).toEqual([]);
  });
});

import { request as httpRequest } from 'node:http';
import { io as connectSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/tokens.ts';
import { postgres } from '../helpers/backends.ts';
import { type ServerProcess, spawnServer } from '../helpers/processes.ts';
import { TEST_ENCRYPTION_KEYS, TEST_SECRET } from '../helpers/server.ts';

/**
 * What reaches /socket.io/ from outside: real clients with default options
 * (HTTP long-polling first, then the upgrade) and raw, malformed engine.io
 * requests. A real server process, so a crash shows as an exit.
 */

/** One raw HTTP request; resolves with status and body (or the socket error's code). */
function raw(
  url: string,
  o: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: o.method ?? 'GET', headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, body: e.code ?? e.message }));
    req.end(o.body);
  });
}

describe('the engine.io endpoint from outside', () => {
  let node: ServerProcess;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await postgres.create();
    drop = db.drop;
    node = await spawnServer({
      name: 'transports',
      env: {
        PORT: '0',
        DATABASE_URL: db.databaseUrl!,
        ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
        AUTH_JWT_SECRET: TEST_SECRET,
        MEDIA_WORKERS: '0',
      },
    });
  });
  afterAll(async () => {
    await node?.stop();
    await drop?.();
  });

  const healthy = async () => {
    const r = await raw(`${node.url}/healthz`);
    expect(r, node.output()).toEqual({ status: 200, body: '{"status":"ok"}' });
  };
  const polling = (q = '') => `${node.url}/socket.io/?EIO=4&transport=polling${q}`;

  it('answers plain long-polling handshakes again and again (it used to crash on the third)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await raw(polling());
      expect(r.status).toBe(200);
      expect(r.body).toMatch(/^0\{"sid":"[^"]+","upgrades":\["websocket"\]/);
    }
    await healthy();
  });

  it('connects a socket.io-client with default options, upgrades it, and carries requests', async () => {
    const token = mintToken(TEST_SECRET, { sub: 'poller', role: 'client' }, { expiresInSec: 600 });
    const s = connectSocket(node.url, { auth: { token }, reconnection: false, forceNew: true });
    let first = '';
    s.io.once('open', () => {
      first = s.io.engine.transport.name;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
      expect(first).toBe('polling');
      const rooms = await s.emitWithAck('rooms:list');
      expect(rooms).toEqual({ ok: true, data: { rooms: [] } });
      if (s.io.engine.transport.name !== 'websocket') {
        await new Promise<void>((resolve) => s.io.engine.once('upgrade', () => resolve()));
      }
      expect(await s.emitWithAck('rooms:list')).toEqual({ ok: true, data: { rooms: [] } });
    } finally {
      s.disconnect();
    }
    await healthy();
  });

  it('refuses a connect packet without a token with unauthenticated', async () => {
    const open = await raw(polling());
    const sid = JSON.parse(open.body.slice(1)).sid as string;
    const sent = await raw(polling(`&sid=${sid}`), { method: 'POST', body: '40' });
    expect(sent).toEqual({ status: 200, body: 'ok' });
    const answer = await raw(polling(`&sid=${sid}`));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatch(/^44\{"message":"unauthenticated","data":\{"code":"unauthenticated"/);
    await healthy();
  });

  it('answers malformed engine.io requests with a client error and stays healthy', async () => {
    const open = await raw(polling());
    const sid = JSON.parse(open.body.slice(1)).sid as string;
    const cases: { what: string; url: string; method?: string; body?: string | Buffer; status: number[] }[] =
      [
        { what: 'an unknown sid', url: polling('&sid=nope'), status: [400] },
        {
          what: 'a POST to an unknown sid',
          url: polling('&sid=nope'),
          method: 'POST',
          body: '40',
          status: [400],
        },
        {
          what: 'an old protocol (EIO=3)',
          url: `${node.url}/socket.io/?EIO=3&transport=polling`,
          status: [400],
        },
        { what: 'no protocol version', url: `${node.url}/socket.io/?transport=polling`, status: [400] },
        {
          what: 'an unknown transport',
          url: `${node.url}/socket.io/?EIO=4&transport=carrier-pigeon`,
          status: [400],
        },
        {
          what: 'garbage in a POST',
          url: polling(`&sid=${sid}`),
          method: 'POST',
          body: '\u0000\u00ff%%%{{{',
          status: [200, 400],
        },
        {
          what: 'a binary POST',
          url: polling(`&sid=${sid}`),
          method: 'POST',
          body: Buffer.from([0, 1, 2, 255]),
          status: [200, 400],
        },
        {
          what: 'a bad socket.io packet',
          url: polling(`&sid=${sid}`),
          method: 'POST',
          body: '42["x",',
          status: [200, 400],
        },
        { what: 'an oversized query string', url: polling(`&x=${'a'.repeat(20_000)}`), status: [431] },
        {
          what: 'a body over the size limit',
          url: polling(),
          method: 'POST',
          body: 'a'.repeat(300 * 1024),
          status: [400, 413],
        },
        { what: 'a PUT', url: polling(), method: 'PUT', body: '', status: [400] },
      ];
    for (const c of cases) {
      const r = await raw(c.url, { method: c.method, body: c.body });
      expect(c.status, `${c.what}: ${r.status} ${r.body.slice(0, 200)}`).toContain(r.status);
    }
    await healthy();
    // A fresh handshake still works after all of that.
    expect((await raw(polling())).status).toBe(200);
    expect(node.logs().filter((l) => l.level >= 50)).toEqual([]);
  });
});

import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedded } from '../helpers/backends.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * A load balancer learns that a node is going away from /readyz: it must say
 * 503 from the first moment of a shutdown, not once the node has finished
 * its other closing steps. Here the scheduler is held in the middle of a
 * webhook delivery (the receiver does not answer yet), which holds the
 * shutdown right after it begins; a request already on its connection then
 * asks /readyz.
 */
describe('graceful shutdown', () => {
  let receiver: Server;
  let s: TestServer;
  let held: ServerResponse | undefined;
  let delivering!: Promise<void>;

  beforeAll(async () => {
    let arrived!: () => void;
    delivering = new Promise((resolve) => {
      arrived = resolve;
    });
    receiver = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        held = res;
        arrived();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    s = await startTestServer({
      backend: embedded,
      env: {
        WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`,
        WEBHOOK_SECRET: 'webhook-secret-0123456789',
      },
    });
  });
  afterAll(async () => {
    if (held && !held.headersSent) held.writeHead(204).end();
    await s?.stop();
    receiver.closeAllConnections();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('answers /readyz 503 from the moment draining starts', async () => {
    const r = await therapyRoom(s);
    const sent = await s.api('POST', `/v1/rooms/${r.roomId}/messages`, {
      token: r.clientToken,
      body: { clientMsgId: 'before', kind: 'text', text: 'hello' },
    });
    expect(sent.status).toBe(201);
    await delivering; // the scheduler is inside the message.created delivery

    // A request on its way when the shutdown begins: its headers are read (100 Continue), its body is not.
    const conn = connect(s.port, '127.0.0.1');
    let received = '';
    const waitFor = (pattern: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(received)) return;
          conn.off('data', onData);
          conn.off('close', onClose);
          resolve();
        };
        const onData = (chunk: Buffer) => {
          received += chunk.toString('utf8');
          check();
        };
        const onClose = () => reject(new Error(`connection closed; got ${JSON.stringify(received)}`));
        conn.on('data', onData);
        conn.on('close', onClose);
        check();
      });
    const body = JSON.stringify({ clientMsgId: 'in-flight', kind: 'text', text: 'hello again' });
    conn.write(
      [
        `POST /v1/rooms/${r.roomId}/messages HTTP/1.1`,
        'Host: talkroom',
        `Authorization: Bearer ${r.clientToken}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Expect: 100-continue',
        '',
        '',
      ].join('\r\n'),
    );
    await waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);

    const closing = s.close();
    conn.write(`${body}GET /readyz HTTP/1.1\r\nHost: talkroom\r\n\r\n`);
    await waitFor(/HTTP\/1\.1 \d{3}[\s\S]*HTTP\/1\.1 \d{3}[\s\S]*\r\n\r\n[\s\S]*"status"[\s\S]*\}/);
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses[0]).toBe(100);
    expect(statuses[1]).toBe(201); // read before draining began: finished, not dropped
    expect(statuses[2]).toBe(503);
    expect(received.slice(received.lastIndexOf('\r\n\r\n'))).toContain('"status":"down"');

    held!.writeHead(204).end(); // the delivery finishes; the shutdown goes on
    await closing;
    conn.destroy();
  });
});

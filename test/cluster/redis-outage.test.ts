import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { therapyRoom } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { collect, nextEvent } from '../helpers/server.ts';

/**
 * Redis going away and coming back under a running two-node cluster. The
 * cluster runs on a private redis-server (never the shared one other tests
 * use), which this test kills and restarts on the same port.
 */

/** A TCP port nobody listens on right now. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface PrivateRedis {
  url: string;
  /** Starts redis-server on the port and resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL, as a crashed or unreachable Redis; resolves once it has exited. */
  kill(): Promise<void>;
}

function privateRedis(port: number): PrivateRedis {
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const killOnExit = () => child?.kill('SIGKILL');
  return {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = proc;
      process.once('exit', killOnExit);
      exited = new Promise<void>((resolve) => {
        proc.once('exit', () => {
          process.removeListener('exit', killOnExit);
          resolve();
        });
      });
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`redis-server on ${port} not ready within 10 s:\n${output}`)),
          10_000,
        );
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) {
            clearTimeout(timer);
            resolve();
          }
        };
        proc.stdout!.on('data', onData);
        proc.stderr!.on('data', onData);
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`redis-server exited (code ${code}, signal ${signal}):\n${output}`));
        });
      });
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
    },
  };
}

/** An acknowledged request, bounded so that a lost ack fails instead of hanging. */
async function ask(socket: Socket, event: string, payload: unknown, timeoutMs = 5000): Promise<any> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload);
}

/** Polls until the check holds (every ~100 ms) or fails after the deadline with the last value seen. */
async function until<T>(
  what: string,
  probe: () => Promise<T>,
  holds: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (holds(last)) return last;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${what} did not happen within ${timeoutMs} ms; last seen: ${JSON.stringify(last)} ${lastError ?? ''}`,
  );
}

describe('a two-node cluster through a Redis outage', () => {
  let redis: PrivateRedis;
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  let roomId: string;
  const client = 'client-1';
  const provider = 'provider-1';

  const readyz = (node: ServerProcess) => c.api(node, 'GET', '/readyz');

  beforeAll(async () => {
    redis = privateRedis(await freePort());
    await redis.start();
    c = await startCluster({ nodes: 2, env: { REDIS_URL: redis.url } });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];

    ({ roomId } = await therapyRoom(onNode(c, a), { client, provider }));
  });
  afterAll(async () => {
    await c?.stop();
    await redis?.kill();
  });

  it('keeps serving locally while Redis is down and converges when it returns', async () => {
    const clientToken = c.token(client, 'client');
    const clientOnA = await c.connect(a, clientToken);
    const secondClientOnA = await c.connect(a, clientToken);
    const providerOnB = await c.connect(b, c.token(provider, 'provider'));
    const seenOnB = collect(providerOnB, 'message:new');
    const exits: string[] = [];
    for (const node of [a, b]) void node.exited.then((e) => exits.push(`${node.name}: ${JSON.stringify(e)}`));

    for (const node of [a, b]) {
      const r = await readyz(node);
      expect(r.status).toBe(200);
      expect(r.body.checks.redis).toBe('ok');
    }

    // Baseline: a message crosses from A to B through Redis.
    const baselineOnB = nextEvent(providerOnB, 'message:new');
    const baseline = await ask(clientOnA, 'message:send', {
      roomId,
      clientMsgId: 'before-outage',
      kind: 'text',
      text: 'Before the outage',
    });
    if (!baseline.ok) throw new Error(JSON.stringify(baseline));
    expect(await baselineOnB).toEqual(baseline.data.message);
    const lastSeenOnB = baseline.data.message.seq as number;

    await redis.kill();

    // Both nodes notice and say so; neither goes down (the store still answers).
    for (const node of [a, b]) {
      const r = await until(
        `${node.name} reporting redis degraded`,
        () => readyz(node),
        (r) => r.body?.checks?.redis === 'degraded',
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'degraded', checks: { store: 'ok', redis: 'degraded' } });
    }

    // Node A keeps serving its own sockets: the write is durable and acknowledged,
    // and the client's other socket on the same node hears it.
    const onSecondSocket = nextEvent(secondClientOnA, 'message:new');
    const during = await ask(clientOnA, 'message:send', {
      roomId,
      clientMsgId: 'during-outage',
      kind: 'text',
      text: 'While Redis is down',
    });
    if (!during.ok) throw new Error(JSON.stringify(during));
    expect(during.data.message).toMatchObject({ roomId, senderId: client, seq: lastSeenOnB + 1 });
    expect(await onSecondSocket).toEqual(during.data.message);
    // Node B cannot hear it live.
    expect(seenOnB.map((m) => m.clientMsgId)).toEqual(['before-outage']);

    await redis.start();
    for (const node of [a, b]) {
      await until(
        `${node.name} reporting redis ok again`,
        () => readyz(node),
        (r) => r.body?.checks?.redis === 'ok',
      );
    }

    // Converged without a restart: a new message crosses nodes live again.
    const afterOnB = nextEvent(providerOnB, 'message:new');
    const after = await ask(clientOnA, 'message:send', {
      roomId,
      clientMsgId: 'after-outage',
      kind: 'text',
      text: 'After the outage',
    });
    if (!after.ok) throw new Error(JSON.stringify(after));
    expect(await afterOnB).toEqual(after.data.message);
    // What was published during the outage is not replayed late; the store has it.
    expect(seenOnB.map((m) => m.clientMsgId)).toEqual(['before-outage', 'after-outage']);

    // The provider catches up on what it missed through rooms:sync.
    const sync = await ask(providerOnB, 'rooms:sync', { cursors: { [roomId]: lastSeenOnB } });
    expect(sync.ok).toBe(true);
    expect(sync.data.hasMore[roomId]).toBe(false);
    expect(sync.data.messages[roomId].map((m: any) => m.clientMsgId)).toEqual([
      'during-outage',
      'after-outage',
    ]);
    expect(sync.data.messages[roomId][0]).toEqual(during.data.message);

    // Neither node crashed or restarted along the way.
    expect(exits).toEqual([]);
  });
});

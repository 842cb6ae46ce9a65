import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { nextEvent } from '../helpers/server.ts';

const TTL_MS = 2000;

/**
 * Presence across two nodes: a member connected to node B reads as online
 * from node A, and once B dies its members read as offline within the
 * heartbeat TTL (no ghosts).
 */
describe('presence across two nodes', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  const client = 'client-1';
  const provider = 'provider-1';
  let roomId: string;
  let clientToken: string;
  let providerToken: string;

  /** The provider's `online` in the client's room list, as node A answers it. */
  const providerOnline = async (): Promise<boolean> => {
    const { rooms } = await ok(c.api(a, 'GET', '/v1/rooms', { token: clientToken }));
    const room = rooms.find((r: { id: string }) => r.id === roomId);
    return room.members.find((m: { userId: string }) => m.userId === provider).online;
  };

  /** Polls until the provider reads as `want` from node A; resolves with how long it took. */
  const until = async (want: boolean, deadlineMs: number): Promise<number> => {
    const start = Date.now();
    while (Date.now() - start < deadlineMs) {
      if ((await providerOnline()) === want) return Date.now() - start;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the provider did not read as ${want ? 'online' : 'offline'} within ${deadlineMs} ms`);
  };

  beforeAll(async () => {
    c = await startCluster({ nodes: 2, env: { CLUSTER_HEARTBEAT_TTL: '2s' } });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
    // Provisioned on node A only; the client has no plan: presence does not depend on one.
    ({ roomId } = await therapyRoom(onNode(c, a), { client, provider, plan: null }));
    clientToken = c.token(client, 'client');
    providerToken = c.token(provider, 'provider');
  });
  afterAll(() => c?.stop());

  it('a member connected to node B is online from node A; closing the socket tells node A’s sockets', async () => {
    expect(await providerOnline()).toBe(false);
    const clientOnA = await c.connect(a, clientToken);
    const online = nextEvent(clientOnA, 'presence');
    const providerOnB = await c.connect(b, providerToken);
    expect(await online).toEqual({ userId: provider, online: true });
    await until(true, 5000);
    const offline = nextEvent(clientOnA, 'presence');
    providerOnB.disconnect();
    expect(await offline).toEqual({ userId: provider, online: false });
    expect(await providerOnline()).toBe(false);
  });

  it('a member of a node that is killed reads as offline within the heartbeat TTL', async () => {
    await c.connect(b, providerToken);
    await until(true, 5000);
    await b.kill();
    const took = await until(false, TTL_MS + 3000);
    expect(took).toBeLessThanOrEqual(TTL_MS + 1000);
  });
});

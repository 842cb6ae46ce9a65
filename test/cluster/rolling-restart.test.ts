import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { bookableRoom, bookNextSlot } from '../helpers/cluster.ts';
import { type Cluster, onNode, startCluster } from '../helpers/processes.ts';
import { RotatingClient } from '../helpers/rotating-client.ts';
import { freePortBase } from '../media/helpers.ts';

/**
 * A rolling restart, as a deployment does one: each of three nodes in turn
 * gets SIGTERM and is started again, while clients keep messaging. The
 * clients are plain socket.io-clients with reconnection on, moving to another
 * node when theirs goes away (what a load balancer does). Nothing
 * acknowledged may be lost or stored twice, and every client must recover by
 * itself: resend what was not acknowledged, catch up with rooms:sync. The
 * members of the first room are also in a live video session, which must go
 * on as the same booking, on whichever node is left to carry it.
 */

const ROOMS = 3;
describe('rolling restart of three nodes under live messaging', () => {
  let c: Cluster;
  const clients: RotatingClient[] = [];
  const rooms: string[] = [];
  let mediaPorts: number[] = [];
  let bookingId = '';

  beforeAll(async () => {
    const base = await freePortBase(3);
    mediaPorts = [base, base + 1, base + 2];
    c = await startCluster({
      nodes: 3,
      env: {
        MEDIA_WORKERS: '1',
        CLUSTER_HEARTBEAT_TTL: '2s',
        POLICY_JOIN_OPENS: '24h',
        POLICY_SLOT_STEP: '1m',
      },
      // One media port per node, the same for the node started in its place.
      nodeEnv: (i) => ({
        MEDIA_RTC_MIN_PORT: String(mediaPorts[i]),
        MEDIA_RTC_MAX_PORT: String(mediaPorts[i]),
      }),
    });
    const node = onNode(c, c.nodes[0]!);
    for (let i = 0; i < ROOMS; i++) {
      const r = await bookableRoom(node, { client: `rc${i}`, provider: `rp${i}` });
      if (i === 0) bookingId = await bookNextSlot(node, r);
      rooms.push(r.roomId);
      // The client starts on node i, the provider on node i+1: every node has sockets to lose.
      clients.push(
        new RotatingClient({
          name: `client ${i}`,
          getToken: () => c.token(r.client, 'client'),
          rooms: [r.roomId],
          urls: () => c.nodes.map((n) => n.url),
          start: i,
        }),
        new RotatingClient({
          name: `provider ${i}`,
          getToken: () => c.token(r.provider, 'provider'),
          rooms: [r.roomId],
          urls: () => c.nodes.map((n) => n.url),
          start: i + 1,
        }),
      );
    }
  }, 180_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 180_000);

  it('loses nothing acknowledged, stores nothing twice, and every client recovers by itself', async () => {
    onTestFailed(() => {
      for (const n of c.nodes) {
        const bad = n.logs().filter((l) => l.level >= 50);
        if (bad.length) console.error(n.name, JSON.stringify(bad.slice(0, 5)));
      }
    });
    await Promise.all(clients.map((x) => x.until('connected', () => x.connections.length > 0)));

    // Room 0's members meet in a live video session, and stay in it through every restart.
    const [liveClient, liveProvider] = clients as [RotatingClient, RotatingClient];
    const inSession = (x: RotatingClient) => !!x.joins.at(-1)?.ok && x.liveStatus === 'in_progress';
    liveClient.live(bookingId, ['send']);
    await liveClient.until('waiting in the session', () => !!liveClient.joins.at(-1)?.ok);
    liveProvider.live(bookingId, ['send']);
    await Promise.all(
      [liveClient, liveProvider].map((p) => p.until('in the live session', () => inSession(p))),
    );
    const db = new pg.Client({ connectionString: c.databaseUrl });
    await db.connect();
    const booking = async () =>
      (await db.query('SELECT status, started_at, credit_id FROM bookings WHERE id = $1', [bookingId]))
        .rows[0];
    const started = await booking();
    expect(started).toMatchObject({ status: 'in_progress' });
    /** Both are in the session on a node that is up: a join answer in progress, and media asked of it works. */
    const sessionGoesOn = async (when: string) => {
      for (const p of [liveClient, liveProvider]) {
        await p.until(`in the live session ${when}`, () => inSession(p) && p.socket.connected);
        const port = p.joins.at(-1)!.ok && (p.joins.at(-1) as any).data.transports.send.iceCandidates[0].port;
        expect(mediaPorts, `${p.name}'s media port ${when}`).toContain(port);
        const recv = await p.ack('live:transport', { bookingId, direction: 'recv' }, 20_000);
        expect(recv, `${p.name} asks for a transport ${when}`).toMatchObject({ ok: true });
      }
    };

    // Every client sends one message after another, each as soon as the one before is acknowledged.
    let sending = true;
    const sent = new Map<RotatingClient, number>(clients.map((x) => [x, 0]));
    const loops = clients.map(async (x, i) => {
      const roomId = rooms[Math.floor(i / 2)]!;
      while (sending) {
        const n = sent.get(x)!;
        sent.set(x, n + 1);
        await x.send(roomId, `${x.name}:${n}`, `message ${n} from ${x.name}`);
      }
    });
    const progress = () => clients.map((x) => x.acked.size);
    const moreThan = async (before: number[], what: string) => {
      await Promise.all(
        clients.map((x, i) =>
          x.until(
            `${what} (acked ${x.acked.size}, before ${before[i]})`,
            () => x.acked.size > before[i]! + 2,
          ),
        ),
      );
    };
    await moreThan(progress(), 'messaging before the restarts');

    const exits: Array<number | null> = [];
    for (let i = 0; i < 3; i++) {
      const old = c.nodes[i]!;
      const onOld = clients.filter((x) => x.connections.at(-1) === old.url);
      const connectionsBefore = new Map(onOld.map((x) => [x, x.connections.length]));
      const { exit } = await c.restart(old);
      exits.push(exit.code);
      // Those that were on it are connected elsewhere again without anyone doing anything…
      await Promise.all(
        onOld.map((x) =>
          x.until(
            `reconnected after ${old.name} stopped`,
            () => x.connections.length > connectionsBefore.get(x)! && x.socket.connected,
          ),
        ),
      );
      // …and everybody's messages go on, and the live session.
      await moreThan(progress(), `messaging after restarting ${old.name}`);
      await sessionGoesOn(`after restarting ${old.name}`);
    }
    expect(exits).toEqual([0, 0, 0]);

    sending = false;
    await Promise.all(loops); // every send that was started is acknowledged
    expect(clients.map((x) => x.pending)).toEqual(clients.map(() => 0));

    // The same booking all along: started once, its one credit consumed once.
    expect(await booking()).toEqual(started);
    const consumed = await db.query(
      `SELECT credit_id FROM credit_ledger WHERE booking_id = $1 AND kind = 'consume'`,
      [bookingId],
    );
    expect(consumed.rows).toEqual([{ credit_id: started.credit_id }]);

    // The store: each acknowledged clientMsgId exactly once, at the seq its ack said, seqs gapless.
    try {
      for (const roomId of rooms) {
        const { rows } = await db.query<{ seq: number; client_msg_id: string }>(
          'SELECT seq, client_msg_id FROM messages WHERE room_id = $1 ORDER BY seq',
          [roomId],
        );
        expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
        // The clients' messages (the room also has the server's notices of the booking).
        const theirs = rows.filter((r) => !r.client_msg_id.startsWith('booking:'));
        const stored = new Map(theirs.map((r) => [r.client_msg_id, r.seq]));
        expect(stored.size).toBe(theirs.length);
        const ackedHere = clients.flatMap((x) => [...x.acked].filter(([, a]) => a.roomId === roomId));
        expect(ackedHere.length).toBe(theirs.length);
        for (const [clientMsgId, a] of ackedHere) expect(stored.get(clientMsgId)).toBe(a.seq);

        // Both members have seen all of their room, whatever they missed while moving.
        for (const x of clients.filter((y) => y.seen.has(roomId))) {
          await x.until(`caught up with room ${roomId}`, () => x.seen.get(roomId)!.size >= rows.length);
          expect([...x.seen.get(roomId)!.keys()].sort((a, b) => a - b)).toEqual(rows.map((r) => r.seq));
        }
      }
    } finally {
      await db.end();
    }
    // Each client moved at least once (each was on a node that restarted).
    for (const x of clients) expect(x.connections.length).toBeGreaterThan(1);
  }, 300_000);
});

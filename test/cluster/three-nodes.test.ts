import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, SCREENSHOT_DIR, type TestBrowser } from '../helpers/browser.ts';
import {
  answer,
  bookableRoom,
  Inbox,
  joinUrlsOf,
  reportWarningsOnFailure,
  until,
} from '../helpers/cluster.ts';
import { ok } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';
import { freePortBase } from '../media/helpers.ts';

/**
 * The horizontal proof: three real server processes on different ports, one
 * PostgreSQL database and one Redis. Clients spread over the three nodes
 * exchange messages; a booking's reminder is delivered exactly once whichever
 * node's scheduler runs it; a live video session has its two parties (real
 * Chromium pages) on different nodes with media flowing; and a node killed
 * outright leaves the other two talking.
 */

const REMINDER_MS = 4000;
const SLOT_LEAD_MS = 8000;

const ENV = {
  MEDIA_WORKERS: '1',
  POLICY_SLOT_STEP: '5s',
  POLICY_REMINDERS: '4s',
  POLICY_JOIN_OPENS: '1h',
  POLICY_NO_SHOW_GRACE: '10m',
  POLICY_CONFIRM_DEADLINE: '1s',
  SCHEDULER_MAX_IDLE: '2s',
  CLUSTER_HEARTBEAT_TTL: '2s',
};

describe('three talkroom processes on one PostgreSQL and one Redis', () => {
  let c: Cluster;
  let nodes: [ServerProcess, ServerProcess, ServerProcess];
  let db: pg.Client;
  let browser: TestBrowser | undefined;
  const mediaPorts: number[] = [];
  // Room i: client-i and provider-i; the client on node i, the provider on node i+1.
  const rooms: { roomId: string; clientId: string; providerId: string }[] = [];
  const tokens = new Map<string, string>();
  /** The booking of test 2, its reminder's join links for test 3. */
  let booking: { id: string; roomId: string; clientId: string; providerId: string } | undefined;
  let joinUrls: Record<string, string> | undefined;

  const reportWarnings = () => reportWarningsOnFailure(() => nodes);

  beforeAll(async () => {
    const base = await freePortBase(3);
    mediaPorts.push(base, base + 1, base + 2);
    [c, browser] = await Promise.all([
      startCluster({
        nodes: 3,
        env: ENV,
        nodeEnv: (i) => ({
          MEDIA_RTC_MIN_PORT: String(mediaPorts[i]),
          MEDIA_RTC_MAX_PORT: String(mediaPorts[i]),
        }),
      }),
      launchBrowser(),
    ]);
    nodes = c.nodes as [ServerProcess, ServerProcess, ServerProcess];
    expect(new Set(nodes.map((n) => n.port)).size).toBe(3);
    for (const n of nodes) expect(n.listening).toMatchObject({ redis: true, store: 'postgres' });
    db = new pg.Client({ connectionString: c.databaseUrl });
    await db.connect();

    // Provisioned through all three nodes in turn: each knows of the others' writes through the database.
    for (let i = 0; i < 3; i += 1) {
      const r = await bookableRoom(onNode(c, nodes[i]!), {
        client: `client-${i}`,
        provider: `provider-${i}`,
        roomVia: onNode(c, nodes[(i + 1) % 3]!),
      });
      rooms.push({ roomId: r.roomId, clientId: r.client, providerId: r.provider });
      tokens.set(r.client, r.clientToken);
      tokens.set(r.provider, r.providerToken);
    }
  });
  afterAll(async () => {
    await browser?.close();
    await db?.end();
    await c?.stop();
  });

  it('messaging: members of each room on different nodes hear each other exactly once, with a gapless history', async () => {
    reportWarnings();
    // Room i: the client on node i, the provider on node i+1 — every node serves two members of different rooms.
    const parties = await Promise.all(
      rooms.map(async (r, i) => {
        const client = new Inbox(
          `${r.clientId} on ${nodes[i]!.name}`,
          await c.connect(nodes[i]!, tokens.get(r.clientId)!),
        );
        const provider = new Inbox(
          `${r.providerId} on ${nodes[(i + 1) % 3]!.name}`,
          await c.connect(nodes[(i + 1) % 3]!, tokens.get(r.providerId)!),
        );
        return { ...r, client, provider };
      }),
    );

    // Each member sends a few, interleaved across rooms and nodes.
    const PER_SIDE = 5;
    const sent = new Map<string, string[]>(); // roomId → clientMsgIds in send order per side
    for (let k = 0; k < PER_SIDE; k += 1) {
      await Promise.all(
        parties.flatMap((p) =>
          (['client', 'provider'] as const).map(async (side) => {
            const clientMsgId = `${p.roomId}-${side}-${k}`;
            const res = await answer(p[side].socket, 'message:send', {
              roomId: p.roomId,
              clientMsgId,
              kind: 'text',
              text: `${side} ${k}`,
            });
            expect(res).toBeDefined();
            const list = sent.get(p.roomId) ?? [];
            list.push(clientMsgId);
            sent.set(p.roomId, list);
          }),
        ),
      );
    }

    for (const p of parties) {
      const fromClient = Array.from({ length: PER_SIDE }, (_, k) => `${p.roomId}-client-${k}`);
      const fromProvider = Array.from({ length: PER_SIDE }, (_, k) => `${p.roomId}-provider-${k}`);
      await Promise.all([p.provider.until(fromClient, 10_000), p.client.until(fromProvider, 10_000)]);
    }
    // Barrier: one more message per room, sent by each side; once both see both, the counts are final.
    for (const p of parties) {
      const markers = [`${p.roomId}-marker-client`, `${p.roomId}-marker-provider`];
      await answer(p.client.socket, 'message:send', {
        roomId: p.roomId,
        clientMsgId: markers[0]!,
        kind: 'text',
        text: 'marker',
      });
      await answer(p.provider.socket, 'message:send', {
        roomId: p.roomId,
        clientMsgId: markers[1]!,
        kind: 'text',
        text: 'marker',
      });
      await Promise.all([p.client.until(markers, 10_000), p.provider.until(markers, 10_000)]);
    }

    for (const p of parties) {
      const all = [...sent.get(p.roomId)!, `${p.roomId}-marker-client`, `${p.roomId}-marker-provider`];
      expect(all).toHaveLength(2 * PER_SIDE + 2);
      for (const inbox of [p.client, p.provider]) {
        for (const id of all) expect(inbox.count(id), `${inbox.name}: ${id}`).toBe(1);
        // Nothing from another room.
        expect(inbox.messages.filter((m) => m.roomId !== p.roomId)).toEqual([]);
        // Sent by one sender, in that sender's order.
        for (const side of ['client', 'provider']) {
          const mine = inbox.messages
            .filter((m) => m.clientMsgId?.startsWith(`${p.roomId}-${side}-`))
            .map((m) => m.clientMsgId);
          expect(mine, `${inbox.name}: ${side}'s in order`).toEqual(
            Array.from({ length: PER_SIDE }, (_, k) => `${p.roomId}-${side}-${k}`),
          );
        }
      }
      // The stored history, read through the third node: every message once, seqs without gaps.
      const third = nodes[(rooms.findIndex((r) => r.roomId === p.roomId) + 2) % 3]!;
      const reader = await c.connect(third, tokens.get(p.clientId)!);
      const history = await answer(reader, 'message:history', { roomId: p.roomId, limit: 200 });
      reader.disconnect();
      const stored = history.messages as any[];
      for (const id of all) expect(stored.filter((m) => m.clientMsgId === id).length, id).toBe(1);
      const seqs = stored.map((m) => Number(m.seq)).sort((x, y) => x - y);
      expect(seqs, 'gapless seqs').toEqual(seqs.map((_, k) => seqs[0]! + k));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
  }, 30_000);

  it('a booking made through node C and confirmed through node A: its reminder reaches the client on node B and the provider on node C exactly once', async () => {
    reportWarnings();
    const [a, b, cNode] = nodes;
    const room = rooms[1]!; // client-1, provider-1
    const clientToken = tokens.get(room.clientId)!;
    const providerToken = tokens.get(room.providerId)!;
    const clientOnB = new Inbox('client on node-b', await c.connect(b, clientToken));
    const providerOnC = new Inbox('provider on node-c', await c.connect(cNode, providerToken));
    const inboxes = [clientOnB, providerOnC];

    const now = Date.now();
    const slots = await ok(
      c.api(
        cNode,
        'GET',
        `/v1/providers/${room.providerId}/slots?durationMin=15&from=${new Date(now).toISOString()}&to=${new Date(now + 16 * 60_000).toISOString()}`,
        { token: clientToken },
      ),
    );
    const slot = slots.slots.find((s: any) => Date.parse(s.startsAt) >= Date.now() + SLOT_LEAD_MS);
    expect(slot).toBeDefined();
    const startsAt = Date.parse(slot.startsAt);

    const booked = await c.api(cNode, 'POST', '/v1/bookings', {
      token: clientToken,
      body: { roomId: room.roomId, modality: 'video', startsAt: slot.startsAt, durationMin: 15 },
    });
    expect(booked.status, JSON.stringify(booked.body)).toBe(201);
    const bookingId = booked.body.booking.id as string;
    const confirmed = await c.api(a, 'POST', `/v1/bookings/${bookingId}/confirm`, {
      token: providerToken,
      body: {},
    });
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body.booking).toMatchObject({ id: bookingId, status: 'confirmed' });
    expect(Date.now(), 'confirmed before the reminder fell due').toBeLessThan(startsAt - REMINDER_MS);

    const reminderId = `booking:${bookingId}:reminder:${REMINDER_MS}`;
    await Promise.all(inboxes.map((i) => i.until([reminderId], SLOT_LEAD_MS + 10_000)));

    // The job row gone, no node can run it again; a marker through each node is the barrier for the counts.
    await until(
      'the reminder job row gone',
      async () => (await db.query('SELECT 1 FROM jobs WHERE id = $1', [reminderId])).rowCount === 0,
      5000,
    );
    const markers = ['reminder-marker-via-b', 'reminder-marker-via-c'];
    await answer(clientOnB.socket, 'message:send', {
      roomId: room.roomId,
      clientMsgId: markers[0]!,
      kind: 'text',
      text: 'marker',
    });
    await answer(providerOnC.socket, 'message:send', {
      roomId: room.roomId,
      clientMsgId: markers[1]!,
      kind: 'text',
      text: 'marker',
    });
    await Promise.all(inboxes.map((i) => i.until(markers, 5000)));

    for (const inbox of inboxes) {
      expect(inbox.count(reminderId), `${inbox.name}: the reminder`).toBe(1);
      for (const id of markers) expect(inbox.count(id), `${inbox.name}: ${id}`).toBe(1);
      expect(inbox.messages.filter((m) => m.meta?.event === 'reminder')).toHaveLength(1);
    }
    const reminder = clientOnB.find(reminderId);
    expect(reminder).toMatchObject({
      roomId: room.roomId,
      senderRole: 'bot',
      kind: 'system',
      bookingId,
      meta: { event: 'reminder', bookingId, startsAt: slot.startsAt, offsetMs: REMINDER_MS },
    });
    expect(providerOnC.messages.find((m) => m.clientMsgId === reminderId)).toEqual(reminder);
    const dueAt = startsAt - REMINDER_MS;
    expect(Date.parse(reminder.createdAt)).toBeGreaterThanOrEqual(dueAt);
    expect(Date.parse(reminder.createdAt) - dueAt).toBeLessThan(5000);

    // Stored once as well.
    const history = await answer(clientOnB.socket, 'message:history', { roomId: room.roomId, limit: 200 });
    expect((history.messages as any[]).filter((m) => m.clientMsgId === reminderId)).toHaveLength(1);

    // Its join links, for the live session of the next test.
    const urls = joinUrlsOf(reminder);
    expect(Object.keys(urls).sort()).toEqual([room.clientId, room.providerId].sort());
    booking = { id: bookingId, ...room };
    joinUrls = urls;
    for (const n of nodes) {
      const failures = n.logs().filter((l) => l.msg === 'job failed' || l.msg === 'scheduler loop failed');
      expect(failures, n.name).toEqual([]);
    }
  }, 40_000);

  it('a live video session with the client on node A and the provider on node B: media flows both ways', async () => {
    reportWarnings();
    expect(booking, 'the booking of the previous test').toBeDefined();
    const [a, b] = nodes;
    const { id: bookingId, clientId, providerId } = booking!;
    // The links carry the issuing node's origin; each party opens theirs on a node of its own.
    const clientLink = a.url + new URL(joinUrls![clientId]!).pathname;
    const providerLink = b.url + new URL(joinUrls![providerId]!).pathname;

    const client = await browser!.participant('three-nodes-client');
    const provider = await browser!.participant('three-nodes-provider');
    await client.open(clientLink, tokens.get(clientId)!);
    await client.waitForPhase(['waiting', 'in_progress']);
    await provider.open(providerLink, tokens.get(providerId)!);
    for (const p of [client, provider]) {
      const st = await p.waitForPhase('in_progress');
      expect(st.bookingId).toBe(bookingId);
    }
    await client.waitForState((st) => st.participants.length === 2, 'both participants listed');

    for (const p of [client, provider]) {
      // Sent and received counters each show up in their own stats report: wait for both.
      const stats = await p.waitForStats(
        (x) =>
          x.inboundAudioPackets > 0 &&
          x.inboundVideoPackets > 0 &&
          x.outboundAudioPackets > 0 &&
          x.outboundVideoPackets > 0,
        'audio and video packets both ways',
        20_000,
      );
      expect(stats.outboundAudioPackets).toBeGreaterThan(0);
      expect(stats.outboundVideoPackets).toBeGreaterThan(0);
      const st = await p.state();
      expect(st.consumers.map((x) => x.kind).sort()).toEqual(['audio', 'video']);
    }
    // Each page talks to its own node.
    expect(new URL(client.page.url()).origin).toBe(a.url);
    expect(new URL(provider.page.url()).origin).toBe(b.url);
    await client.screenshot(join(SCREENSHOT_DIR, 'three-nodes-client.png'));
    await provider.screenshot(join(SCREENSHOT_DIR, 'three-nodes-provider.png'));
  }, 60_000);

  it('node C killed outright: members on nodes A and B still message each other', async () => {
    reportWarnings();
    const [a, b, cNode] = nodes;
    const room = rooms[0]!; // client-0 on node A, provider-0 on node B
    const clientOnA = new Inbox('client on node-a', await c.connect(a, tokens.get(room.clientId)!));
    const providerOnB = new Inbox('provider on node-b', await c.connect(b, tokens.get(room.providerId)!));
    const onC = await c.connect(cNode, tokens.get(room.clientId)!);
    let cDropped = false;
    onC.on('disconnect', () => {
      cDropped = true;
    });

    const killed = await cNode.kill();
    expect(killed.signal).toBe('SIGKILL');
    await until('the socket on node C dropped', () => cDropped, 10_000);

    const ids = ['after-kill-from-a', 'after-kill-from-b'];
    await answer(clientOnA.socket, 'message:send', {
      roomId: room.roomId,
      clientMsgId: ids[0]!,
      kind: 'text',
      text: 'still here (A)',
    });
    await answer(providerOnB.socket, 'message:send', {
      roomId: room.roomId,
      clientMsgId: ids[1]!,
      kind: 'text',
      text: 'still here (B)',
    });
    await Promise.all([clientOnA.until(ids, 10_000), providerOnB.until(ids, 10_000)]);
    for (const inbox of [clientOnA, providerOnB]) for (const id of ids) expect(inbox.count(id)).toBe(1);
    // And node A and B still answer REST.
    for (const n of [a, b]) expect((await c.api(n, 'GET', '/healthz')).status).toBeLessThan(500);
  }, 30_000);
});

import type { Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ack, Message, RequestAnswer, RequestInput } from '../../protocol/index.ts';
import { answer } from '../helpers/cluster.ts';
import { therapyRoom } from '../helpers/fixtures.ts';
import { type Cluster, onNode, type ServerProcess, startCluster } from '../helpers/processes.ts';

/**
 * A node dies (SIGKILL) in the middle of a burst of sends. What was
 * acknowledged must survive; retries with the same clientMsgId on the other
 * node must get the original message back and store nothing twice.
 */

const TOTAL = 300;
/** Sends each socket keeps in flight at once. */
const WINDOW = 20;
/** Node A is killed once this many sends have been acknowledged. */
const KILL_AFTER_ACKS = 100;
const ACK_TIMEOUT_MS = 10_000;

type Outcome = { kind: 'ack'; ack: Ack<RequestAnswer<'message:send'>> } | { kind: 'lost'; reason: string };

/**
 * Sends a request and resolves with its acknowledgement, or with `lost` when
 * the connection drops (or the bound passes) before one arrives.
 */
function send(socket: Socket, payload: RequestInput<'message:send'>): Promise<Outcome> {
  if (!socket.connected) return Promise.resolve({ kind: 'lost', reason: 'not connected' });
  return new Promise((resolve) => {
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emit('message:send', payload, (err: Error | null, ack: Ack<RequestAnswer<'message:send'>>) =>
        resolve(err ? { kind: 'lost', reason: err.message } : { kind: 'ack', ack }),
      );
  });
}

/** Runs `fn` over `items` with at most `limit` running at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

interface Planned {
  clientMsgId: string;
  roomId: string;
  /** Which sender (index into the senders) posts it. */
  sender: number;
  text: string;
  /** The first attempt, on node A. */
  first?: Outcome | 'unsent';
}

describe('a node killed during a burst of messages', () => {
  let c: Cluster;
  let a: ServerProcess;
  let b: ServerProcess;
  const provider = 'provider-1';
  const clients = ['client-1', 'client-2', 'client-3'];
  const rooms: string[] = [];

  beforeAll(async () => {
    c = await startCluster({ nodes: 2 });
    [a, b] = c.nodes as [ServerProcess, ServerProcess];
    for (const id of clients) rooms.push((await therapyRoom(onNode(c, a), { client: id, provider })).roomId);
  });
  afterAll(() => c?.stop());

  it('keeps every acknowledged message exactly once, and retries on the other node get the original', async () => {
    // Senders: each client in their own room, and the provider (two sockets) in every room.
    const senders = [
      ...clients.map((id, i) => ({ token: c.token(id, 'client'), rooms: [rooms[i]!] })),
      { token: c.token(provider, 'provider'), rooms },
      { token: c.token(provider, 'provider'), rooms },
    ];
    const onA = await Promise.all(senders.map((s) => c.connect(a, s.token)));

    const planned: Planned[] = Array.from({ length: TOTAL }, (_, i) => {
      const sender = i % senders.length;
      const senderRooms = senders[sender]!.rooms;
      return {
        clientMsgId: `burst-${i}`,
        roomId: senderRooms[Math.floor(i / senders.length) % senderRooms.length]!,
        sender,
        text: `message ${i}`,
      };
    });
    const payload = (p: Planned): RequestInput<'message:send'> => ({
      roomId: p.roomId,
      clientMsgId: p.clientMsgId,
      kind: 'text',
      text: p.text,
    });

    // The burst: every socket keeps WINDOW sends in flight; once KILL_AFTER_ACKS
    // have been acknowledged, node A is killed while the rest are in flight.
    let acked = 0;
    let killing: Promise<unknown> | undefined;
    let killedAt = 0;
    await Promise.all(
      senders.map((_, si) =>
        pool(
          planned.filter((p) => p.sender === si),
          WINDOW,
          async (p) => {
            if (killing) {
              p.first = 'unsent';
              return;
            }
            p.first = await send(onA[si]!, payload(p));
            if (p.first.kind === 'ack' && p.first.ack.ok && ++acked === KILL_AFTER_ACKS) {
              killedAt = Date.now();
              killing = a.kill();
            }
          },
        ),
      ),
    );
    expect(killing, `node A was never killed: only ${acked} of ${TOTAL} acknowledged`).toBeDefined();
    expect(await killing).toMatchObject({ signal: 'SIGKILL' });

    const firstAcks = planned.filter((p) => p.first !== 'unsent' && p.first?.kind === 'ack');
    const failedAcks = firstAcks.filter(
      (p) => p.first !== 'unsent' && p.first?.kind === 'ack' && !p.first.ack.ok,
    );
    expect(failedAcks.map((p) => p.first)).toEqual([]);
    const ackedOnA = new Map(
      firstAcks.map((p) => [
        p.clientMsgId,
        (p.first as { ack: { ok: true; data: { message: Message } } }).ack.data.message,
      ]),
    );
    const lost = planned.filter((p) => p.first !== 'unsent' && p.first?.kind === 'lost');
    const unsent = planned.filter((p) => p.first === 'unsent');
    // The kill must land mid-burst: some sends were in flight and never answered.
    expect(ackedOnA.size).toBeGreaterThanOrEqual(KILL_AFTER_ACKS);
    expect(lost.length).toBeGreaterThan(0);
    expect(ackedOnA.size + lost.length + unsent.length).toBe(TOTAL);

    // The same users reconnect to node B and retry every message, acknowledged or not.
    const onB = await Promise.all(senders.map((s) => c.connect(b, s.token)));
    const retried = new Map<string, Message>();
    const retryErrors: unknown[] = [];
    await Promise.all(
      senders.map((_, si) =>
        pool(
          planned.filter((p) => p.sender === si),
          WINDOW,
          async (p) => {
            const r = await send(onB[si]!, payload(p));
            if (r.kind === 'ack' && r.ack.ok) retried.set(p.clientMsgId, r.ack.data.message);
            else retryErrors.push({ clientMsgId: p.clientMsgId, r });
          },
        ),
      ),
    );
    expect(retryErrors).toEqual([]);
    expect(retried.size).toBe(TOTAL);
    // In-flight sends that node A had stored but not acknowledged come back with their old timestamp.
    const storedUnacked = lost.filter((p) => Date.parse(retried.get(p.clientMsgId)!.createdAt) <= killedAt);
    console.info(
      `node-failure: ${ackedOnA.size} acknowledged on A, ${lost.length} in flight when it died ` +
        `(${storedUnacked.length} of them stored unacknowledged), ${unsent.length} never sent`,
    );

    // A retry of an acknowledged message is that message, unchanged.
    const mismatched = [...ackedOnA].filter(
      ([id, m]) => JSON.stringify(retried.get(id)) !== JSON.stringify(m),
    );
    expect(mismatched.map(([id, m]) => ({ original: m, retry: retried.get(id) }))).toEqual([]);
    for (const p of planned) {
      expect(retried.get(p.clientMsgId)).toMatchObject({
        roomId: p.roomId,
        clientMsgId: p.clientMsgId,
        text: p.text,
      });
    }

    // The history, read page by page from node B: every message exactly once, seqs gapless.
    const reader = onB[senders.length - 1]!;
    let total = 0;
    for (const roomId of rooms) {
      const history: Message[] = [];
      let beforeSeq: number | undefined;
      for (let pages = 0; ; pages++) {
        expect(pages, `history of ${roomId} does not end`).toBeLessThan(100);
        const page = await answer(
          reader,
          'message:history',
          { roomId, limit: 37, ...(beforeSeq ? { beforeSeq } : {}) },
          ACK_TIMEOUT_MS,
        );
        history.unshift(...page.messages);
        if (!page.hasMore || page.messages.length === 0) break;
        beforeSeq = page.messages[0]!.seq;
      }
      const expected = planned.filter((p) => p.roomId === roomId);
      const ids = history.map((m) => m.clientMsgId);
      expect(new Set(ids).size, `duplicate clientMsgIds in ${roomId}`).toBe(ids.length);
      expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
      expect([...ids].sort()).toEqual(expected.map((p) => p.clientMsgId).sort());
      const byId = new Map(history.map((m) => [m.clientMsgId, m]));
      for (const p of expected) {
        const original = ackedOnA.get(p.clientMsgId);
        if (original) expect(byId.get(p.clientMsgId)).toEqual(original);
        expect(byId.get(p.clientMsgId)).toEqual(retried.get(p.clientMsgId));
      }
      total += history.length;
    }
    expect(total).toBe(TOTAL);
  }, 90_000);
});

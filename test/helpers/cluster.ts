import type { Socket } from 'socket.io-client';
import { expect, onTestFailed } from 'vitest';
import type { Message, RequestAnswer, RequestEvent, RequestInput } from '../../protocol/index.ts';
import { type ApiTarget, ok, therapyRoom } from './fixtures.ts';
import type { ServerProcess } from './processes.ts';
import { request } from './server.ts';

/**
 * What the tests on several server processes (test/cluster/) share:
 * provisioning a room whose sessions can be booked now, booking one, reading
 * answers with a bound, collecting what a socket receives, and the nodes'
 * warnings when a test fails.
 */

/** Open every day, all day. */
export const ALL_DAY: Record<string, [string, string][]> = Object.fromEntries(
  ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]),
);

/** A zone clear of midnight now, so a session booked from now does not cross into the next working day. */
export const clearOfMidnight = () => (new Date().getUTCHours() === 23 ? 'Etc/GMT-12' : 'UTC');

/** A plan whose period is this month, so its live sessions can be booked today. */
export const planFromThisMonth = (liveSessionsPerPeriod = 4) => ({
  kind: 'out_of_pocket',
  includesMessaging: true,
  liveSessionsPerPeriod,
  periodStart: `${new Date().toISOString().slice(0, 8)}01`,
});

/**
 * A client (in UTC), a provider open around the clock in a zone clear of
 * midnight, and their therapy room: a session can be booked from a minute on.
 */
export function bookableRoom(
  target: ApiTarget,
  o: { client: string; provider: string; plan?: Record<string, unknown>; roomVia?: ApiTarget },
) {
  return therapyRoom(target, {
    client: o.client,
    provider: o.provider,
    clientTimezone: 'UTC',
    providerTimezone: clearOfMidnight(),
    workingHours: ALL_DAY,
    plan: o.plan ?? planFromThisMonth(),
    ...(o.roomVia ? { roomVia: o.roomVia } : {}),
  });
}

/** Books the room's next free 15-minute video slot as the client and confirms it as the provider. */
export async function bookNextSlot(
  target: ApiTarget,
  room: { roomId: string; provider: string; clientToken: string; providerToken: string },
  o: { confirmVia?: ApiTarget } = {},
): Promise<string> {
  const now = Date.now();
  const slots = await ok(
    target.api(
      'GET',
      `/v1/providers/${room.provider}/slots?durationMin=15&from=${new Date(now).toISOString()}&to=${new Date(now + 60 * 60_000).toISOString()}`,
      { token: room.clientToken },
    ),
  );
  const slot = slots.slots[0];
  expect(slot).toBeDefined();
  const booked = await target.api('POST', '/v1/bookings', {
    token: room.clientToken,
    body: { roomId: room.roomId, modality: 'video', startsAt: slot.startsAt, durationMin: 15 },
  });
  expect(booked.status, JSON.stringify(booked.body)).toBe(201);
  const bookingId = booked.body.booking.id as string;
  await ok(
    (o.confirmVia ?? target).api('POST', `/v1/bookings/${bookingId}/confirm`, {
      token: room.providerToken,
      body: {},
    }),
  );
  return bookingId;
}

/** A request's answer data; fails (bounded) on an error answer or none. */
export async function answer<E extends RequestEvent>(
  socket: Socket,
  event: E,
  payload: RequestInput<E>,
  timeoutMs = 10_000,
): Promise<RequestAnswer<E>> {
  let timer: NodeJS.Timeout | undefined;
  const ack = await Promise.race([
    request(socket, event, payload),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to ${event} within ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (!ack.ok) throw new Error(`${event} failed: ${JSON.stringify(ack)}`);
  return ack.data;
}

/** The join links a reminder carries, by user id. */
export const joinUrlsOf = (m: Message) => (m.meta?.joinUrls ?? {}) as Record<string, string>;

/** Polls (every 50 ms, bounded) until the check holds: for state outside any socket (Redis keys, job rows). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const by = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > by) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every message:new a socket receives, with a bounded, event-driven wait for what should arrive. */
export class Inbox {
  readonly name: string;
  readonly socket: Socket;
  readonly messages: Message[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(name: string, socket: Socket) {
    this.name = name;
    this.socket = socket;
    socket.on('message:new', (m: Message) => {
      this.messages.push(m);
      for (const w of [...this.#waiters]) w();
    });
  }

  count(clientMsgId: string): number {
    return this.messages.filter((m) => m.clientMsgId === clientMsgId).length;
  }

  /** The first message with that clientMsgId; throws if none has arrived. */
  find(clientMsgId: string): Message {
    const m = this.messages.find((x) => x.clientMsgId === clientMsgId);
    if (!m) throw new Error(`${this.name}: no message ${clientMsgId}`);
    return m;
  }

  until(ids: string[], timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!ids.every((id) => this.count(id) > 0)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.messages.map((m) => m.clientMsgId);
        reject(
          new Error(
            `${this.name}: not all of ${ids.join(', ')} within ${timeoutMs} ms; saw ${seen.join(', ')}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }
}

/** A node's warnings and errors, and what it wrote that is not a log line. */
export function warnings(node: ServerProcess): string {
  return node
    .logs()
    .filter((l) => (l.level ?? 0) >= 40 || l.raw)
    .map((l) => JSON.stringify(l))
    .join('\n');
}

/** Prints each node's warnings if the running test fails (and what `more` adds, e.g. job rows). */
export function reportWarningsOnFailure(nodes: () => ServerProcess[], more?: () => Promise<string>): void {
  onTestFailed(async () => {
    const extra = more ? `${await more()}\n` : '';
    console.error(
      extra +
        nodes()
          .map((n) => `${n.name} warnings:\n${warnings(n)}`)
          .join('\n'),
    );
  });
}

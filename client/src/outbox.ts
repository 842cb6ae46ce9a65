import type { Message } from '../../protocol/answers.ts';
import type { RequestInput } from '../../protocol/events.ts';
import { RETRYABLE, TalkroomError } from './errors.ts';

type SendPayload = RequestInput<'message:send'>;
/** What `send` takes: a `message:send` payload; the SDK picks the `clientMsgId` unless the application does. */
export type SendInput = Omit<SendPayload, 'clientMsgId'> & { clientMsgId?: string };

interface OutboxEntry {
  input: SendPayload;
  inflight: boolean;
  resolve: (m: Message) => void;
  reject: (e: TalkroomError) => void;
}

/** What the outbox needs of the connection it sends over. */
export interface OutboxLink {
  /** `message:send`, answered with the stored message or a TalkroomError. */
  send(input: SendPayload): Promise<Message>;
  /** Connected and not closed: a send goes out now, else at the next connect. */
  open(): boolean;
  closed(): boolean;
  /** A stored message, handed to the message stream before its sender hears. */
  stored(message: Message): void;
}

/**
 * The sends not yet acknowledged, by `clientMsgId`. Each goes out while
 * connected and again after every reconnect; the server answers the stored
 * message for a repeated `clientMsgId`, so it is stored once.
 */
export class Outbox {
  readonly #entries = new Map<string, OutboxEntry>();
  readonly #link: OutboxLink;

  constructor(link: OutboxLink) {
    this.#link = link;
  }

  /** Resolves once the server stored the message; rejects when it refuses it or the client closes. */
  add(input: SendInput): Promise<Message> {
    const clientMsgId = input.clientMsgId ?? newId();
    const full = { ...input, clientMsgId } as SendPayload;
    return new Promise((resolve, reject) => {
      if (this.#link.closed()) return reject(new TalkroomError('unavailable', 'the client is closed'));
      const existing = this.#entries.get(clientMsgId);
      if (existing) {
        // The same message again: one entry, both callers answered.
        const { resolve: r0, reject: j0 } = existing;
        existing.resolve = (m) => {
          r0(m);
          resolve(m);
        };
        existing.reject = (e) => {
          j0(e);
          reject(e);
        };
        return;
      }
      this.#entries.set(clientMsgId, { input: full, inflight: false, resolve, reject });
      this.#flush(clientMsgId);
    });
  }

  /** Oldest first. */
  pending(): SendPayload[] {
    return [...this.#entries.values()].map((e) => e.input);
  }

  /** After a (re)connect: everything not yet acknowledged goes out again. */
  flushAll(): void {
    for (const id of this.#entries.keys()) this.#flush(id);
  }

  /** The client closed: every waiting caller is rejected (`pending()` still lists them). */
  rejectAll(): void {
    for (const e of this.#entries.values())
      e.reject(new TalkroomError('unavailable', 'the client is closed'));
  }

  #flush(clientMsgId: string): void {
    const e = this.#entries.get(clientMsgId);
    if (!e || e.inflight || !this.#link.open()) return;
    e.inflight = true;
    this.#link.send(e.input).then(
      (message) => {
        this.#entries.delete(clientMsgId);
        this.#link.stored(message);
        e.resolve(message);
      },
      (err: TalkroomError) => {
        e.inflight = false;
        if (!RETRYABLE.has(err.code)) {
          this.#entries.delete(clientMsgId);
          e.reject(err);
          return;
        }
        // Still connected (slow or busy server): try again shortly; otherwise the next connect does.
        if (this.#link.open()) {
          setTimeout(() => this.#flush(clientMsgId), err.code === 'rate_limited' ? 1000 : 200);
        }
      },
    );
  }
}

/** A clientMsgId: random, so two devices of one user never collide. */
function newId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

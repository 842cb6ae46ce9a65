import { deserialize, serialize } from 'node:v8';
import { z } from 'zod';
import { MEDIA_ERROR_CODES, MediaError } from '../../../media/errors.ts';
import type { Logger } from '../../log.ts';
import type { RedisConnections } from '../redis.ts';
import { type CallArgs, type CallResult, SESSION_CALL_NAMES, type SessionCall } from './calls.ts';

/** Another node's request, checked before it is run. */
const Request = z.object({
  id: z.string(),
  from: z.string().min(1),
  sessionId: z.string().min(1),
  call: z.enum(SESSION_CALL_NAMES),
  args: z.array(z.unknown()),
});
type Request = z.infer<typeof Request>;

/** The answer: the session's result, or its error as MediaError carries it (the app's acknowledgement shape). */
const Reply = z.discriminatedUnion('ok', [
  z.object({ id: z.string(), ok: z.literal(true), value: z.unknown() }),
  z.object({
    id: z.string(),
    ok: z.literal(false),
    error: z.object({ code: z.enum(MEDIA_ERROR_CODES), message: z.string() }),
  }),
]);
type Reply = z.infer<typeof Reply>;

/** The holder did not answer in time (it may be dead, or cut off from Redis). A MediaError like any other. */
export class RelayTimeout extends MediaError {
  constructor() {
    super('media_unavailable', 'the node holding this session did not answer in time');
  }
}

export interface MediaRelayOptions {
  redis: Pick<RedisConnections, 'pub' | 'sub'>;
  prefix: string;
  nodeId: string;
  log: Logger;
  /** How long a call waits for the holder's answer. */
  timeoutMs: number;
  /** Runs a call another node relays here (its arguments as they were passed there). */
  serve(sessionId: string, call: SessionCall, args: unknown[]): Promise<unknown>;
}

/**
 * Typed request/reply between nodes over Redis pub/sub, for the media session
 * port: a request goes to the holder's own channel, its answer to the caller's.
 * Messages are in Node's structured-clone format (`node:v8`), the one
 * worker_threads use, so arguments arrive exactly as passed — an omitted
 * optional argument stays undefined — and nothing is rebuilt by hand. Errors
 * travel as a MediaError's code and message and are thrown again as
 * MediaError, so a relayed call fails exactly as a local one.
 */
export class MediaRelay {
  readonly #o: MediaRelayOptions;
  readonly #pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #seq = 0;

  constructor(o: MediaRelayOptions) {
    this.#o = o;
  }

  async start(): Promise<void> {
    const { sub } = this.#o.redis;
    const bytes = true; // buffer mode: the messages are binary
    await sub.subscribe(this.#requests(this.#o.nodeId), (raw: Buffer) => void this.#serve(raw), bytes);
    await sub.subscribe(this.#replies(this.#o.nodeId), (raw: Buffer) => this.#answer(raw), bytes);
  }

  /** Calls a session method on the node holding the session; rejects with its MediaError, or RelayTimeout. */
  call<C extends SessionCall>(
    holder: string,
    sessionId: string,
    call: C,
    args: CallArgs<C>,
  ): Promise<CallResult<C>> {
    const id = `${this.#o.nodeId}:${++this.#seq}`;
    const request: Request = { id, from: this.#o.nodeId, sessionId, call, args };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new RelayTimeout());
      }, this.#o.timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#o.redis.pub.publish(this.#requests(holder), serialize(request)).catch(() => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new MediaError('media_unavailable', 'could not reach the node holding this session'));
      });
    });
  }

  /** Stops serving; calls still waiting fail at once. */
  async close(): Promise<void> {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new MediaError('media_unavailable', 'this node is shutting down'));
    }
    this.#pending.clear();
    const { sub } = this.#o.redis;
    await Promise.allSettled([
      sub.unsubscribe(this.#requests(this.#o.nodeId)),
      sub.unsubscribe(this.#replies(this.#o.nodeId)),
    ]);
  }

  async #serve(raw: Buffer): Promise<void> {
    const request = Request.safeParse(decode(raw));
    if (!request.success) {
      this.#o.log.warn({ err: request.error.message }, 'malformed relayed media call dropped');
      return;
    }
    const { id, from, sessionId, call, args } = request.data;
    let reply: Reply;
    try {
      reply = { id, ok: true, value: await this.#o.serve(sessionId, call, args) };
    } catch (e) {
      if (!(e instanceof MediaError))
        this.#o.log.error({ err: (e as Error)?.message, sessionId, call }, 'relayed media call failed');
      reply = {
        id,
        ok: false,
        error:
          e instanceof MediaError
            ? { code: e.code, message: e.message }
            : { code: 'media_unavailable', message: 'media request failed' },
      };
    }
    await this.#o.redis.pub
      .publish(this.#replies(from), serialize(reply))
      .catch((e) => this.#o.log.warn({ err: (e as Error).message, sessionId, call }, 'relay reply not sent'));
  }

  #answer(raw: Buffer): void {
    const reply = Reply.safeParse(decode(raw));
    if (!reply.success) return;
    const p = this.#pending.get(reply.data.id);
    if (!p) return; // answered after its timeout
    this.#pending.delete(reply.data.id);
    clearTimeout(p.timer);
    if (reply.data.ok) p.resolve(reply.data.value);
    else p.reject(new MediaError(reply.data.error.code, reply.data.error.message));
  }

  #requests(nodeId: string): string {
    return `${this.#o.prefix}:media-call:${nodeId}`;
  }

  #replies(nodeId: string): string {
    return `${this.#o.prefix}:media-reply:${nodeId}`;
  }
}

function decode(raw: Buffer): unknown {
  try {
    return deserialize(raw);
  } catch {
    return undefined;
  }
}

import { createHmac } from 'node:crypto';
import type { Config } from '../config.ts';
import type { JobQueue, TypedJob } from '../jobs/kinds.ts';

const WHSEC = 'whsec_';

/**
 * The signing key: a `whsec_<base64>` secret (Standard Webhooks' format) is
 * the bytes it encodes; any other secret is its own UTF-8 bytes, as before.
 */
export function webhookKey(secret: string): Buffer {
  return secret.startsWith(WHSEC) ? Buffer.from(secret.slice(WHSEC.length), 'base64') : Buffer.from(secret);
}

/**
 * The legacy `X-Talkroom-Signature`: hex HMAC-SHA256 of the body alone.
 * Deprecated: it binds neither an id nor a time, so a captured delivery can be
 * replayed; kept for receivers written before `webhook-signature`.
 */
export const signBody = (secret: string, body: string): string =>
  createHmac('sha256', webhookKey(secret)).update(body).digest('hex');

/**
 * Standard Webhooks (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
 * the timestamp in unix seconds, as the `webhook-signature` header carries it.
 */
export const signStandard = (secret: string, id: string, timestampSec: number, body: string): string =>
  `v1,${createHmac('sha256', webhookKey(secret)).update(`${id}.${timestampSec}.${body}`).digest('base64')}`;

/**
 * Webhooks go through the durable job table: an event is written in the same
 * transaction as the change it reports (an outbox), and delivered, signed and
 * retried with backoff, by the scheduler. A failing receiver never slows a request.
 */
export class Webhooks {
  readonly #config: Config['webhook'];
  readonly #now: () => number;
  /**
   * `now` stamps each attempt's `webhook-timestamp`: the wall clock, not the
   * services' Clock, since receivers check it against theirs (within minutes)
   * to refuse replays.
   */
  constructor(config: Config['webhook'], now: () => number = Date.now) {
    this.#config = config;
    this.#now = now;
  }

  get enabled(): boolean {
    return !!this.#config.url;
  }

  /** Records an event for delivery, inside the caller's transaction. Payloads carry ids, never message text. */
  async enqueue(jobs: JobQueue, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    if (this.enabled) await jobs.webhook(type, data, now);
  }

  /** The job handler: one delivery attempt; throwing makes the scheduler retry later. */
  deliver = async (job: TypedJob<'webhook.deliver'>): Promise<void> => {
    const { url, secret } = this.#config;
    if (!url || !secret) return;
    const { event } = job.payload;
    const body = JSON.stringify(event);
    // The event's id is the message id: the same on every retry, so receivers can drop duplicates.
    const timestamp = Math.floor(this.#now() / 1000);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': event.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandard(secret, event.id, timestamp, body),
        'x-talkroom-signature': signBody(secret, body),
      },
      body,
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`webhook receiver answered ${res.status}`);
  };
}

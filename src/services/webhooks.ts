import { createHmac, randomUUID } from 'node:crypto';
import type { Config } from '../config.ts';
import type { Queryable } from '../store/db.ts';
import type { Job } from '../store/jobs.ts';
import { JobStore } from '../store/jobs.ts';

export interface WebhookEvent {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

export const signBody = (secret: string, body: string): string =>
  createHmac('sha256', secret).update(body).digest('hex');

/**
 * Webhooks go through the durable job table: an event is written in the same
 * transaction as the change it reports (an outbox), and delivered, signed and
 * retried with backoff, by the scheduler. A failing receiver never slows a request.
 */
export class Webhooks {
  readonly #config: Config['webhook'];
  constructor(config: Config['webhook']) {
    this.#config = config;
  }

  get enabled(): boolean {
    return !!this.#config.url;
  }

  /** Records an event for delivery, inside the caller's transaction. Payloads carry ids, never message text. */
  async enqueue(q: Queryable, type: string, data: Record<string, unknown>, now: Date): Promise<void> {
    if (!this.enabled) return;
    const event: WebhookEvent = { id: randomUUID(), type, createdAt: now.toISOString(), data };
    await new JobStore(q).schedule(`webhook:${event.id}`, 'webhook.deliver', now, { event }, now);
  }

  /** The job handler: one delivery attempt; throwing makes the scheduler retry later. */
  deliver = async (job: Job): Promise<void> => {
    const { url, secret } = this.#config;
    if (!url || !secret) return;
    const body = JSON.stringify(job.payload.event);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-talkroom-signature': signBody(secret, body) },
      body,
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`webhook receiver answered ${res.status}`);
  };
}

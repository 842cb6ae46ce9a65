import { randomUUID } from 'node:crypto';
import type { Queryable } from './db.ts';

/** What a webhook receiver gets: the one envelope every event goes out in. */
export interface WebhookEvent {
  id: string;
  type: string;
  createdAt: string;
  data: Record<string, unknown>;
}

/** The job kind that delivers a webhook (an outbox row in the job table). */
export const WEBHOOK_DELIVER = 'webhook.deliver';

/**
 * A webhook event in its envelope, and the job that delivers it. Built here
 * only: the message store's one-statement append fills in `data` inside its
 * SQL, around this same envelope.
 */
export function webhookJob(
  type: string,
  data: Record<string, unknown>,
  now: Date,
): { jobId: string; kind: typeof WEBHOOK_DELIVER; event: WebhookEvent } {
  const event: WebhookEvent = { id: randomUUID(), type, createdAt: now.toISOString(), data };
  return { jobId: `webhook:${event.id}`, kind: WEBHOOK_DELIVER, event };
}

export interface Job {
  id: string;
  kind: string;
  runAt: Date;
  payload: Record<string, unknown>;
  attempts: number;
}

interface JobRow {
  id: string;
  kind: string;
  run_at: Date;
  payload: Record<string, unknown>;
  attempts: number;
}

const toJob = (r: JobRow): Job => ({
  id: r.id,
  kind: r.kind,
  runAt: r.run_at,
  payload: r.payload,
  attempts: r.attempts,
});

/** A job that used up its attempts: kept, listed for an operator, and run again on request. */
export interface FailedJob {
  id: string;
  kind: string;
  attempts: number;
  lastError: string | null;
  failedAt: Date;
  createdAt: Date;
}

interface FailedRow {
  id: string;
  kind: string;
  attempts: number;
  last_error: string | null;
  dead_at: Date;
  created_at: Date;
}

/** The durable job table. Scheduling is idempotent by job id. */
export class JobStore {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  /** Adds a job; if one with that id exists it keeps it (its run time and progress). */
  async schedule(
    id: string,
    kind: string,
    runAt: Date,
    payload: Record<string, unknown>,
    now: Date,
  ): Promise<void> {
    await this.q.query(
      `INSERT INTO jobs (id, kind, run_at, payload, created_at) VALUES ($1, $2, $3, $4::jsonb, $5)
       ON CONFLICT (id) DO NOTHING`,
      [id, kind, runAt, JSON.stringify(payload), now],
    );
  }

  async cancel(ids: readonly string[]): Promise<void> {
    if (ids.length)
      await this.q.query('DELETE FROM jobs WHERE id = ANY($1::text[]) AND locked_by IS NULL', [ids]);
  }

  async cancelByPrefix(prefix: string): Promise<void> {
    await this.q.query(`DELETE FROM jobs WHERE id LIKE $1 AND locked_by IS NULL`, [
      `${prefix.replace(/[%_]/g, '\\$&')}%`,
    ]);
  }

  /**
   * Claims up to `limit` due jobs for this node under a lease. SKIP LOCKED lets
   * nodes claim side by side without waiting on each other; an expired lease
   * (its node died) makes a job claimable again. The ids come as one array
   * (= ANY(ARRAY(…))) so the update finds its rows by primary key: with `IN`,
   * PostgreSQL joined them against a scan of the whole table (8.6 → 5.8 ms with
   * 10,000 due rows).
   */
  async claim(node: string, now: Date, leaseMs: number, limit: number): Promise<Job[]> {
    const rows = await this.q.query<JobRow>(
      `UPDATE jobs SET locked_by = $1, locked_until = $3, attempts = attempts + 1
        WHERE id = ANY(ARRAY(
          SELECT id FROM jobs
           WHERE dead_at IS NULL AND run_at <= $2 AND (locked_until IS NULL OR locked_until < $2)
           ORDER BY run_at LIMIT $4 FOR UPDATE SKIP LOCKED))
        RETURNING id, kind, run_at, payload, attempts`,
      [node, now, new Date(now.getTime() + leaseMs), limit],
    );
    return rows.map(toJob).sort((a, b) => a.runAt.getTime() - b.runAt.getTime());
  }

  /**
   * Done: removes the jobs this node still holds, in one statement however
   * many; returns the ids removed (one missing lost its lease to another node).
   */
  async complete(ids: string | readonly string[], node: string): Promise<string[]> {
    const list = typeof ids === 'string' ? [ids] : ids;
    if (list.length === 0) return [];
    const rows = await this.q.query<{ id: string }>(
      'DELETE FROM jobs WHERE id = ANY($1::text[]) AND locked_by = $2 RETURNING id',
      [list, node],
    );
    return rows.map((r) => r.id);
  }

  /** Failed: tries again at retryAt, or gives up (dead) when retryAt is null. */
  async fail(id: string, node: string, error: string, retryAt: Date | null, now: Date): Promise<void> {
    await this.q.query(
      `UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $3,
              run_at = COALESCE($4, run_at), dead_at = CASE WHEN $4::timestamptz IS NULL THEN $5::timestamptz END
        WHERE id = $1 AND locked_by = $2`,
      [id, node, error.slice(0, 1000), retryAt, now],
    );
  }

  /** When the next job falls due (claimable), or null if there is none. */
  async nextDue(): Promise<Date | null> {
    // Two index-friendly minimums rather than one expression over every row:
    // an unclaimed job is due at run_at; a claimed one only when its lease runs out.
    const [row] = await this.q.query<{ at: Date | null }>(
      `SELECT LEAST(
         (SELECT min(run_at) FROM jobs WHERE dead_at IS NULL AND locked_until IS NULL),
         (SELECT min(locked_until) FROM jobs WHERE dead_at IS NULL AND locked_until IS NOT NULL)) AS at`,
    );
    return row?.at ?? null;
  }

  /** Jobs due now and not yet claimed, or claimed under a lease that ran out (the backlog). */
  async countDue(now: Date): Promise<number> {
    const [row] = await this.q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM jobs
        WHERE dead_at IS NULL AND run_at <= $1 AND (locked_until IS NULL OR locked_until < $1)`,
      [now],
    );
    return row?.n ?? 0;
  }

  /** Failed jobs, oldest failure first, after the (failedAt, id) position given. */
  async failed(after: { at: Date; id: string } | undefined, limit: number): Promise<FailedJob[]> {
    const rows = await this.q.query<FailedRow>(
      `SELECT id, kind, attempts, last_error, dead_at, created_at FROM jobs
        WHERE dead_at IS NOT NULL AND ($1::timestamptz IS NULL OR (dead_at, id) > ($1::timestamptz, $2::text))
        ORDER BY dead_at, id LIMIT $3`,
      [after?.at ?? null, after?.id ?? '', limit],
    );
    return rows.map((r) => ({
      id: r.id,
      kind: r.kind,
      attempts: r.attempts,
      lastError: r.last_error,
      failedAt: r.dead_at,
      createdAt: r.created_at,
    }));
  }

  /**
   * Runs a failed job again from now, with a fresh set of attempts and its
   * payload untouched (a webhook keeps its event id). False if no failed job
   * has that id (null).
   */
  async retry(id: string, now: Date): Promise<Job | null> {
    const [row] = await this.q.query<JobRow>(
      `UPDATE jobs SET dead_at = NULL, attempts = 0, run_at = $2, locked_by = NULL, locked_until = NULL
        WHERE id = $1 AND dead_at IS NOT NULL RETURNING id, kind, run_at, payload, attempts`,
      [id, now],
    );
    return row ? toJob(row) : null;
  }
}

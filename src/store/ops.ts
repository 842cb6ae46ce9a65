import type { Queryable } from './db.ts';

/** What operators read about the whole deployment (metrics): counts over shared state, cheap through partial indexes. */
export class OpsQueries {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  /**
   * Live sessions (video, audio, chat) open now: `waiting` once a participant
   * is present and the other is not yet, `in_progress` once both have joined.
   */
  async liveSessions(): Promise<{ waiting: number; in_progress: number }> {
    const [row] = await this.q.query<{ waiting: number; in_progress: number }>(
      `SELECT
         (SELECT count(DISTINCT p.booking_id)::int FROM live_participants p
            JOIN bookings b ON b.id = p.booking_id
           WHERE p.present AND b.status = 'confirmed' AND b.modality <> 'messaging') AS waiting,
         (SELECT count(*)::int FROM bookings
           WHERE status = 'in_progress' AND modality <> 'messaging') AS in_progress`,
    );
    return { waiting: row?.waiting ?? 0, in_progress: row?.in_progress ?? 0 };
  }
}

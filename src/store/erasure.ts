import type { Queryable } from './db.ts';

/**
 * Destroying content: a message becomes a tombstone (text, meta, attachment,
 * availability and booking link gone, `erased` set; id, room, seq, sender,
 * kind and time kept so seq stays gapless), a recording is deleted with its
 * chunks. Nothing else stores message text or recording bytes: webhook
 * events and job payloads carry ids only.
 */
export class ErasureStore {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async onHold(userId: string, forUpdate = false): Promise<boolean | null> {
    const [r] = await this.q.query<{ legal_hold: boolean }>(
      `SELECT legal_hold FROM users WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [userId],
    );
    return r ? r.legal_hold : null;
  }

  async setHold(userId: string, hold: boolean): Promise<boolean> {
    const rows = await this.q.query('UPDATE users SET legal_hold = $2 WHERE id = $1 RETURNING id', [
      userId,
      hold,
    ]);
    return rows.length === 1;
  }

  /** Everything the user sent and uploaded; how many messages and recordings were destroyed. */
  async eraseUser(userId: string): Promise<{ messages: number; recordings: number }> {
    const messages = await this.q.query(
      `UPDATE messages SET text = NULL, meta = NULL, attachment = NULL, availability = NULL, booking_id = NULL,
              kid = NULL, erased = true
        WHERE sender_id = $1 AND NOT erased RETURNING id`,
      [userId],
    );
    // Recordings they uploaded, and any recording in a message of theirs.
    const recordings = await this.q.query('DELETE FROM attachments WHERE uploader_id = $1 RETURNING id', [
      userId,
    ]);
    // A cancellation reason is their own words; the booking itself stays for accounting.
    await this.q.query(
      'UPDATE bookings SET cancel_reason = NULL WHERE client_id = $1 AND cancel_reason IS NOT NULL',
      [userId],
    );
    return { messages: messages.length, recordings: recordings.length };
  }

  /**
   * Retention: messages of rooms of `kind` older than `before` become
   * tombstones, unless a member (client, provider or requester) of the room is
   * on hold, with the recordings they carried; at most `limit` at a time.
   */
  async expire(
    kind: 'therapy' | 'support',
    before: Date,
    limit: number,
  ): Promise<{ messages: number; recordings: number }> {
    const rows = await this.q.query<{ attachment_id: string | null }>(
      `WITH old AS (
         SELECT m.id FROM messages m JOIN rooms r ON r.id = m.room_id
          WHERE r.kind = $1 AND m.created_at < $2 AND NOT m.erased
            AND NOT EXISTS (SELECT 1 FROM users u WHERE u.legal_hold
                              AND u.id IN (r.client_id, r.provider_id, r.requester_id, m.sender_id))
          ORDER BY m.created_at LIMIT $3
          FOR UPDATE OF m SKIP LOCKED
       ), gone AS (
         SELECT m.id, m.attachment ->> 'id' AS attachment_id FROM messages m JOIN old ON old.id = m.id
       ), upd AS (
         UPDATE messages m SET text = NULL, meta = NULL, attachment = NULL, availability = NULL, booking_id = NULL,
                kid = NULL, erased = true
           FROM old WHERE m.id = old.id
       )
       SELECT attachment_id FROM gone`,
      [kind, before, limit],
    );
    const ids = rows.map((r) => r.attachment_id).filter((x): x is string => x !== null);
    const recordings = ids.length
      ? await this.q.query('DELETE FROM attachments WHERE id = ANY($1::text[]) RETURNING id', [ids])
      : [];
    return { messages: rows.length, recordings: recordings.length };
  }
}

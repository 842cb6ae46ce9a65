import { randomUUID } from 'node:crypto';
import type { Queryable } from './db.ts';

export type CreditType = 'live' | 'messaging';
export type LedgerKind = 'grant' | 'purchase' | 'reserve' | 'consume' | 'restore' | 'forfeit' | 'expire';

export interface LedgerEntry {
  seq: number;
  creditId: string;
  creditType: CreditType;
  kind: LedgerKind;
  bookingId: string | null;
  expiresAt: string | null;
  paymentRef: string | null;
  reason: string | null;
  createdAt: string;
}

interface LedgerRow {
  seq: number;
  credit_id: string;
  credit_type: CreditType;
  kind: LedgerKind;
  booking_id: string | null;
  expires_at: Date | null;
  payment_ref: string | null;
  reason: string | null;
  created_at: Date;
}

const toEntry = (r: LedgerRow): LedgerEntry => ({
  seq: Number(r.seq),
  creditId: r.credit_id,
  creditType: r.credit_type,
  kind: r.kind,
  bookingId: r.booking_id,
  expiresAt: r.expires_at?.toISOString() ?? null,
  paymentRef: r.payment_ref,
  reason: r.reason,
  createdAt: r.created_at.toISOString(),
});

/** The latest entry of every credit of a client: the credit's state. */
const LATEST = `SELECT DISTINCT ON (credit_id) * FROM credit_ledger WHERE client_id = $1 ORDER BY credit_id, seq DESC`;

/**
 * The append-only credit ledger. Callers that change credits hold the
 * client's row lock (BookingStore.lockUsers) so two bookings cannot take the
 * same last credit.
 */
export class CreditLedger {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  /** Grants a period's allowance; idempotent per (type, period, n). Returns how many were new. */
  async grant(
    clientId: string,
    type: CreditType,
    periodStart: string,
    count: number,
    expiresAt: Date,
    now: Date,
  ) {
    let added = 0;
    for (let n = 1; n <= count; n++) {
      const rows = await this.q.query(
        `INSERT INTO credit_ledger (credit_id, client_id, credit_type, kind, expires_at, origin_key, reason, created_at)
         VALUES ($1, $2, $3, 'grant', $4, $5, 'period allowance', $6) ON CONFLICT (origin_key) DO NOTHING RETURNING seq`,
        [randomUUID(), clientId, type, expiresAt, `grant:${clientId}:${type}:${periodStart}:${n}`, now],
      );
      added += rows.length;
    }
    return added;
  }

  /** Adds purchased credits; a repeated paymentRef adds nothing. Returns the purchased credit ids. */
  async purchase(
    clientId: string,
    count: number,
    paymentRef: string,
    now: Date,
  ): Promise<{ creditIds: string[]; added: number }> {
    let added = 0;
    for (let n = 1; n <= count; n++) {
      const rows = await this.q.query(
        `INSERT INTO credit_ledger (credit_id, client_id, credit_type, kind, origin_key, payment_ref, reason, created_at)
         VALUES ($1, $2, 'live', 'purchase', $3, $4, 'purchased', $5) ON CONFLICT (origin_key) DO NOTHING RETURNING seq`,
        [randomUUID(), clientId, `purchase:${clientId}:${paymentRef}:${n}`, paymentRef, now],
      );
      added += rows.length;
    }
    const ids = await this.q.query<{ credit_id: string }>(
      `SELECT credit_id FROM credit_ledger WHERE client_id = $1 AND kind = 'purchase' AND payment_ref = $2 ORDER BY seq`,
      [clientId, paymentRef],
    );
    return { creditIds: ids.map((r) => r.credit_id), added };
  }

  /** Credits that can be reserved now, soonest-expiring first (purchases, which never expire, last). */
  async available(
    clientId: string,
    type: CreditType,
    now: Date,
  ): Promise<Array<{ creditId: string; expiresAt: Date | null }>> {
    const rows = await this.q.query<{ credit_id: string; expires_at: Date | null }>(
      `SELECT credit_id, expires_at FROM (${LATEST}) latest
        WHERE credit_type = $2 AND kind IN ('grant', 'purchase', 'restore') AND (expires_at IS NULL OR expires_at > $3)
        ORDER BY expires_at NULLS LAST, credit_id`,
      [clientId, type, now],
    );
    return rows.map((r) => ({ creditId: r.credit_id, expiresAt: r.expires_at }));
  }

  /** Available grants whose period has ended: what a rollover marks expired. */
  async lapsed(clientId: string, now: Date): Promise<string[]> {
    const rows = await this.q.query<{ credit_id: string }>(
      `SELECT credit_id FROM (${LATEST}) latest
        WHERE kind IN ('grant', 'restore') AND expires_at IS NOT NULL AND expires_at <= $2`,
      [clientId, now],
    );
    return rows.map((r) => r.credit_id);
  }

  async latest(creditId: string): Promise<LedgerEntry | null> {
    const [row] = await this.q.query<LedgerRow>(
      'SELECT * FROM credit_ledger WHERE credit_id = $1 ORDER BY seq DESC LIMIT 1',
      [creditId],
    );
    return row ? toEntry(row) : null;
  }

  /**
   * Appends a state change of one credit, carrying its type and latest expiry
   * forward, or setting a new expiry (`undefined` keeps it; `null` never expires).
   */
  async record(
    creditId: string,
    kind: LedgerKind,
    bookingId: string | null,
    reason: string,
    now: Date,
    expiresAt?: Date | null,
  ): Promise<LedgerEntry> {
    const [row] = await this.q.query<LedgerRow>(
      `INSERT INTO credit_ledger (credit_id, client_id, credit_type, kind, booking_id, expires_at, reason, created_at)
       SELECT credit_id, client_id, credit_type, $2, $3, CASE WHEN $6::boolean THEN $7::timestamptz ELSE expires_at END, $4, $5
         FROM credit_ledger WHERE credit_id = $1 ORDER BY seq DESC LIMIT 1
       RETURNING *`,
      [creditId, kind, bookingId, reason, now, expiresAt !== undefined, expiresAt ?? null],
    );
    if (!row) throw new Error(`credit ${creditId} has no ledger entries`);
    return toEntry(row);
  }

  /** Of the allowance granted for the period ending at `periodEnd`: how many credits are reserved, used or lost. */
  async usedOfPeriod(clientId: string, periodEnd: Date): Promise<{ live: number; messaging: number }> {
    const rows = await this.q.query<{ credit_type: CreditType; n: number }>(
      `SELECT latest.credit_type, count(*)::int AS n FROM (${LATEST}) latest
        WHERE latest.kind IN ('reserve', 'consume', 'forfeit')
          AND latest.credit_id IN (SELECT credit_id FROM credit_ledger
                                    WHERE client_id = $1 AND kind = 'grant' AND expires_at = $2)
        GROUP BY latest.credit_type`,
      [clientId, periodEnd],
    );
    const n = (type: CreditType) => rows.find((r) => r.credit_type === type)?.n ?? 0;
    return { live: n('live'), messaging: n('messaging') };
  }

  /** The newest `limit` entries (before `beforeSeq`, if given), oldest first. */
  async entries(clientId: string, limit = 500, beforeSeq?: number): Promise<LedgerEntry[]> {
    const rows = await this.q.query<LedgerRow>(
      `SELECT * FROM credit_ledger WHERE client_id = $1 AND ($3::bigint IS NULL OR seq < $3)
        ORDER BY seq DESC LIMIT $2`,
      [clientId, limit, beforeSeq ?? null],
    );
    return rows.reverse().map(toEntry);
  }
}

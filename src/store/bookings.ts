import type { z } from 'zod';
import type { Charge as ChargeSchema } from '../../protocol/answers.ts';
import type { BookingStatus, Modality } from '../domain/bookings.ts';
import type { Queryable } from './db.ts';

export interface Booking {
  id: string;
  roomId: string;
  clientId: string;
  providerId: string;
  modality: Modality;
  startsAt: string;
  endsAt: string;
  status: BookingStatus;
  creditId: string | null;
  confirmBy?: string;
  rescheduledFrom?: string;
  rescheduledTo?: string;
  startedAt?: string;
  endedAt?: string;
  outcome?: string;
  cancelReason?: string;
  createdBy: string;
  createdAt: string;
}

interface BookingRow {
  id: string;
  room_id: string;
  client_id: string;
  provider_id: string;
  modality: Modality;
  starts_at: Date;
  ends_at: Date;
  status: BookingStatus;
  credit_id: string | null;
  confirm_by: Date | null;
  rescheduled_from: string | null;
  rescheduled_to: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  outcome: string | null;
  cancel_reason: string | null;
  created_by: string;
  created_at: Date;
}

function toBooking(r: BookingRow): Booking {
  const b: Booking = {
    id: r.id,
    roomId: r.room_id,
    clientId: r.client_id,
    providerId: r.provider_id,
    modality: r.modality,
    startsAt: r.starts_at.toISOString(),
    endsAt: r.ends_at.toISOString(),
    status: r.status,
    creditId: r.credit_id,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
  };
  if (r.confirm_by) b.confirmBy = r.confirm_by.toISOString();
  if (r.rescheduled_from) b.rescheduledFrom = r.rescheduled_from;
  if (r.rescheduled_to) b.rescheduledTo = r.rescheduled_to;
  if (r.started_at) b.startedAt = r.started_at.toISOString();
  if (r.ended_at) b.endedAt = r.ended_at.toISOString();
  if (r.outcome) b.outcome = r.outcome;
  if (r.cancel_reason) b.cancelReason = r.cancel_reason;
  return b;
}

export interface NewBooking {
  id: string;
  roomId: string;
  clientId: string;
  providerId: string;
  modality: Modality;
  startsAt: Date;
  endsAt: Date;
  status: BookingStatus;
  creditId: string | null;
  confirmBy: Date | null;
  rescheduledFrom: string | null;
  createdBy: string;
  now: Date;
}

export class BookingStore {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  /**
   * Locks the users' rows for the rest of the transaction, in id order (so two
   * transactions never wait on each other in a cycle). Every change to a
   * provider's schedule or a client's credits holds these locks: that is what
   * makes "two bookings race for the last credit/slot, one wins" true.
   */
  async lockUsers(ids: readonly string[]): Promise<void> {
    await this.q.query('SELECT id FROM users WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [
      [...new Set(ids)],
    ]);
  }

  async insert(b: NewBooking): Promise<Booking> {
    const [row] = await this.q.query<BookingRow>(
      `INSERT INTO bookings (id, room_id, client_id, provider_id, modality, starts_at, ends_at, status, credit_id,
                             confirm_by, rescheduled_from, created_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING *`,
      [
        b.id,
        b.roomId,
        b.clientId,
        b.providerId,
        b.modality,
        b.startsAt,
        b.endsAt,
        b.status,
        b.creditId,
        b.confirmBy,
        b.rescheduledFrom,
        b.createdBy,
        b.now,
      ],
    );
    return toBooking(row!);
  }

  async get(id: string, forUpdate = false): Promise<Booking | null> {
    const [row] = await this.q.query<BookingRow>(
      `SELECT * FROM bookings WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
      [id],
    );
    return row ? toBooking(row) : null;
  }

  /**
   * Moves a booking from one of `from` to `to`, setting the given fields.
   * Returns null if it was no longer in one of `from` (someone else moved it first).
   */
  async transition(
    id: string,
    from: readonly BookingStatus[],
    to: BookingStatus,
    now: Date,
    set: Partial<{
      startedAt: Date;
      endedAt: Date;
      outcome: string;
      cancelReason: string;
      rescheduledTo: string;
      creditId: string | null;
    }> = {},
  ): Promise<Booking | null> {
    const [row] = await this.q.query<BookingRow>(
      `UPDATE bookings SET status = $3, updated_at = $4,
              started_at = COALESCE($5, started_at), ended_at = COALESCE($6, ended_at),
              outcome = COALESCE($7, outcome), cancel_reason = COALESCE($8, cancel_reason),
              rescheduled_to = COALESCE($9, rescheduled_to),
              credit_id = CASE WHEN $10::boolean THEN $11 ELSE credit_id END
        WHERE id = $1 AND status = ANY($2::text[]) RETURNING *`,
      [
        id,
        from,
        to,
        now,
        set.startedAt ?? null,
        set.endedAt ?? null,
        set.outcome ?? null,
        set.cancelReason ?? null,
        set.rescheduledTo ?? null,
        'creditId' in set,
        set.creditId ?? null,
      ],
    );
    return row ? toBooking(row) : null;
  }

  /** The provider's live bookings that hold time between from and to. */
  async busy(
    providerId: string,
    from: Date,
    to: Date,
    exceptId?: string,
  ): Promise<Array<{ start: Date; end: Date }>> {
    const rows = await this.q.query<{ starts_at: Date; ends_at: Date }>(
      `SELECT starts_at, ends_at FROM bookings
        WHERE provider_id = $1 AND modality <> 'messaging'
          AND status IN ('pending_confirmation', 'confirmed', 'in_progress')
          AND starts_at < $3 AND ends_at > $2 AND id <> COALESCE($4, '')`,
      [providerId, from, to, exceptId ?? null],
    );
    return rows.map((r) => ({ start: r.starts_at, end: r.ends_at }));
  }

  /** Bookings of the rooms in start order, `limit` of them after the position `after` (exclusive). */
  async list(filter: {
    roomIds: readonly string[];
    status?: string | undefined;
    after?: { startsAt: Date; id: string } | undefined;
    limit: number;
  }): Promise<Booking[]> {
    const rows = await this.q.query<BookingRow>(
      `SELECT * FROM bookings WHERE room_id = ANY($1::text[]) AND ($2::text IS NULL OR status = $2)
          AND ($3::timestamptz IS NULL OR (starts_at, id) > ($3::timestamptz, $4::text))
        ORDER BY starts_at, id LIMIT $5`,
      [
        filter.roomIds,
        filter.status ?? null,
        filter.after?.startsAt ?? null,
        filter.after?.id ?? '',
        filter.limit,
      ],
    );
    return rows.map(toBooking);
  }

  /** Whether a messaging session is in progress in the room at that moment. */
  async messagingSessionOpen(roomId: string, at: Date): Promise<boolean> {
    const rows = await this.q.query(
      `SELECT 1 FROM bookings WHERE room_id = $1 AND modality = 'messaging'
          AND status IN ('confirmed', 'in_progress') AND starts_at <= $2 AND ends_at > $2 LIMIT 1`,
      [roomId, at],
    );
    return rows.length > 0;
  }

  /** Whether the client holds another messaging session that overlaps [from, to). */
  async messagingOverlaps(clientId: string, from: Date, to: Date, exceptId: string | null): Promise<boolean> {
    const rows = await this.q.query(
      `SELECT 1 FROM bookings WHERE client_id = $1 AND modality = 'messaging'
          AND status IN ('pending_confirmation', 'confirmed', 'in_progress')
          AND starts_at < $3 AND ends_at > $2 AND ($4::text IS NULL OR id <> $4) LIMIT 1`,
      [clientId, from, to, exceptId],
    );
    return rows.length > 0;
  }

  async recordCharge(
    id: string,
    clientId: string,
    bookingId: string,
    reason: string,
    now: Date,
  ): Promise<boolean> {
    const rows = await this.q.query(
      `INSERT INTO charge_events (id, client_id, booking_id, reason, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (booking_id, reason) DO NOTHING RETURNING id`,
      [id, clientId, bookingId, reason, now],
    );
    return rows.length > 0;
  }

  /** Marks a booking's charges waived; answers whether any was (a second waiver changes nothing). */
  async waiveCharges(bookingId: string, by: string, now: Date): Promise<boolean> {
    const rows = await this.q.query(
      `UPDATE charge_events SET waived_at = $2, waived_by = $3 WHERE booking_id = $1 AND waived_at IS NULL RETURNING id`,
      [bookingId, now, by],
    );
    return rows.length > 0;
  }

  /** A client's charges, newest first. */
  async charges(clientId: string, limit: number): Promise<Charge[]> {
    const rows = await this.q.query<{
      booking_id: string;
      created_at: Date;
      reason: string;
      waived_at: Date | null;
    }>(
      `SELECT booking_id, created_at, reason, waived_at FROM charge_events WHERE client_id = $1
        ORDER BY created_at DESC, id LIMIT $2`,
      [clientId, limit],
    );
    return rows.map((r) => ({
      bookingId: r.booking_id,
      at: r.created_at.toISOString(),
      reason: r.reason as Charge['reason'],
      waived: r.waived_at !== null,
    }));
  }
}

/** A lost credit that costs the client the session (PROTOCOL.md, "Fair bookings"). */
export type Charge = z.infer<typeof ChargeSchema>;

export interface LiveParticipant {
  userId: string;
  role: 'client' | 'provider';
  present: boolean;
  firstJoinedAt: string;
  /** The node the participant was last present through (null: recorded before nodes were). */
  nodeId: string | null;
}

/** Who is in each live session (see migration 003). */
export class LiveParticipants {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async mark(
    bookingId: string,
    userId: string,
    role: 'client' | 'provider',
    present: boolean,
    now: Date,
    nodeId: string | null = null,
  ): Promise<void> {
    await this.q.query(
      `INSERT INTO live_participants (booking_id, user_id, role, present, first_joined_at, last_change_at, node_id)
       VALUES ($1, $2, $3, $4, $5, $5, $6)
       ON CONFLICT (booking_id, user_id) DO UPDATE SET present = EXCLUDED.present,
         last_change_at = EXCLUDED.last_change_at, node_id = EXCLUDED.node_id`,
      [bookingId, userId, role, present, now, nodeId],
    );
  }

  async list(bookingId: string): Promise<LiveParticipant[]> {
    const rows = await this.q.query<{
      user_id: string;
      role: 'client' | 'provider';
      present: boolean;
      first_joined_at: Date;
      node_id: string | null;
    }>(
      'SELECT user_id, role, present, first_joined_at, node_id FROM live_participants WHERE booking_id = $1 ORDER BY role',
      [bookingId],
    );
    return rows.map((r) => ({
      userId: r.user_id,
      role: r.role,
      present: r.present,
      firstJoinedAt: r.first_joined_at.toISOString(),
      nodeId: r.node_id ?? null,
    }));
  }
}

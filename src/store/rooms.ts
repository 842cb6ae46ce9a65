import type { EscalationTarget, Plan, Room, TicketStatus } from '../domain/types.ts';
import type { Queryable } from './db.ts';
import { toPlan } from './users.ts';

interface RoomRow {
  id: string;
  kind: Room['kind'];
  service: Room['service'];
  client_id: string | null;
  provider_id: string | null;
  requester_id: string | null;
  last_seq: number;
  awaiting_reply_since: Date | null;
  created_at: Date;
  escalations: EscalationTarget[] | null;
  ticket_status: TicketStatus | null;
  ticket_assignee_id: string | null;
}

const toRoom = (r: RoomRow): Room => ({
  id: r.id,
  kind: r.kind,
  service: r.service,
  clientId: r.client_id,
  providerId: r.provider_id,
  requesterId: r.requester_id,
  escalations: r.escalations ?? [],
  lastSeq: r.last_seq,
  awaitingReplySince: r.awaiting_reply_since,
  createdAt: r.created_at,
  ...(r.kind === 'support'
    ? { ticket: { status: r.ticket_status ?? 'open', assigneeId: r.ticket_assignee_id } }
    : {}),
});

const ROOM_COLUMNS = `r.*, ARRAY(SELECT e.target FROM escalations e WHERE e.room_id = r.id ORDER BY e.created_at) AS escalations`;

export interface RoomWithPlan {
  room: Room;
  clientPlan: Plan | null;
}

export class RoomsRepo {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async get(id: string): Promise<Room | null> {
    const [row] = await this.q.query<RoomRow>(`SELECT ${ROOM_COLUMNS} FROM rooms r WHERE r.id = $1`, [id]);
    return row ? toRoom(row) : null;
  }

  /** The room and its client's plan in one round trip: the message hot path needs both. */
  async getWithPlan(id: string): Promise<RoomWithPlan | null> {
    const [row] = await this.q.query<
      RoomRow & {
        plan_kind: Plan['kind'] | null;
        includes_messaging: boolean;
        live_sessions_per_period: number;
        messaging_sessions_per_period: number;
        period_start: string;
      }
    >(
      `SELECT ${ROOM_COLUMNS}, p.kind AS plan_kind, p.includes_messaging, p.live_sessions_per_period,
              p.messaging_sessions_per_period, p.period_start::text
         FROM rooms r LEFT JOIN plans p ON p.user_id = r.client_id WHERE r.id = $1`,
      [id],
    );
    if (!row) return null;
    return {
      room: toRoom(row),
      clientPlan: row.plan_kind ? toPlan({ ...row, kind: row.plan_kind }) : null,
    };
  }

  async findTherapyRoom(clientId: string, providerId: string, service: string): Promise<Room | null> {
    const [row] = await this.q.query<RoomRow>(
      `SELECT ${ROOM_COLUMNS} FROM rooms r
        WHERE r.kind = 'therapy' AND r.client_id = $1 AND r.provider_id = $2 AND r.service = $3`,
      [clientId, providerId, service],
    );
    return row ? toRoom(row) : null;
  }

  async insert(room: Room): Promise<void> {
    await this.q.query(
      `INSERT INTO rooms (id, kind, service, client_id, provider_id, requester_id, created_at, ticket_status)
       VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $2 = 'support' THEN 'open' END)`,
      [room.id, room.kind, room.service, room.clientId, room.providerId, room.requesterId, room.createdAt],
    );
  }

  /**
   * Rooms the user can see, by role: members of therapy rooms; the support
   * team sees support rooms. In creation order; a page of `limit` after the
   * position `after` (exclusive) when given.
   */
  async listVisibleTo(
    userId: string,
    role: string,
    page: { after?: { createdAt: Date; id: string } | undefined; limit?: number | undefined } = {},
  ): Promise<Room[]> {
    const rows = await this.q.query<RoomRow>(
      `SELECT ${ROOM_COLUMNS} FROM rooms r
        WHERE (($2 = 'client' AND r.client_id = $1)
           OR ($2 = 'provider' AND r.provider_id = $1)
           OR r.requester_id = $1
           OR ($2 = 'support' AND r.kind = 'support')
           OR ($2 = 'clinical' AND r.kind = 'support'
               AND EXISTS (SELECT 1 FROM escalations e WHERE e.room_id = r.id AND e.target = 'clinical')))
          AND ($3::timestamptz IS NULL OR (r.created_at, r.id) > ($3::timestamptz, $4::text))
        ORDER BY r.created_at, r.id LIMIT $5::int`,
      [userId, role, page.after?.createdAt ?? null, page.after?.id ?? '', page.limit ?? null],
    );
    return rows.map(toRoom);
  }

  /**
   * Per room for one user: unread messages (from others, after their read
   * cursor) and the last seq they can see. A support room's requester sees no
   * internal note, so none counts for them and `lastSeq` is their last visible one.
   */
  async unreadCounts(
    userId: string,
    roomIds: readonly string[],
  ): Promise<Map<string, { unread: number; lastRead: number; lastSeq: number }>> {
    if (roomIds.length === 0) return new Map();
    const rows = await this.q.query<{ room_id: string; unread: number; last_read: number; last_seq: number }>(
      `SELECT r.id AS room_id, COALESCE(c.seq, 0) AS last_read,
              (SELECT count(*) FROM messages m
                WHERE m.room_id = r.id AND m.seq > COALESCE(c.seq, 0) AND m.sender_id <> $1
                  AND NOT (m.internal AND r.requester_id = $1))::int AS unread,
              CASE WHEN r.requester_id = $1
                THEN COALESCE((SELECT max(m.seq) FROM messages m WHERE m.room_id = r.id AND NOT m.internal), 0)
                ELSE r.last_seq END AS last_seq
         FROM rooms r LEFT JOIN read_cursors c ON c.room_id = r.id AND c.user_id = $1
        WHERE r.id = ANY($2::text[])`,
      [userId, roomIds],
    );
    return new Map(
      rows.map((r) => [r.room_id, { unread: r.unread, lastRead: r.last_read, lastSeq: r.last_seq }]),
    );
  }

  /** Moves a read cursor forward only; returns the cursor after the update. */
  async markRead(roomId: string, userId: string, seq: number, now: Date): Promise<number> {
    const [row] = await this.q.query<{ seq: number }>(
      `INSERT INTO read_cursors (room_id, user_id, seq, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (room_id, user_id) DO UPDATE
         SET seq = GREATEST(read_cursors.seq, EXCLUDED.seq), updated_at = EXCLUDED.updated_at
       RETURNING seq`,
      [roomId, userId, seq, now],
    );
    return row!.seq;
  }

  /**
   * Changes a ticket: `status` and `assigneeId` when given (`assigneeId: null`
   * unassigns). A supervisor escalation hands the ticket over: it leaves its
   * rep unassigned for the supervisors to take.
   */
  async setTicket(
    roomId: string,
    change: { status?: TicketStatus | undefined; assigneeId?: string | null | undefined },
  ): Promise<void> {
    await this.q.query(
      `UPDATE rooms SET ticket_status = COALESCE($2, ticket_status, 'open'),
              ticket_assignee_id = CASE WHEN $3::boolean THEN $4 ELSE ticket_assignee_id END
        WHERE id = $1 AND kind = 'support'`,
      [roomId, change.status ?? null, change.assigneeId !== undefined, change.assigneeId ?? null],
    );
  }

  /** Records an escalation; false if the room was already escalated to that target. */
  async escalate(
    id: string,
    roomId: string,
    target: EscalationTarget,
    by: string,
    now: Date,
  ): Promise<boolean> {
    const rows = await this.q.query(
      `INSERT INTO escalations (id, room_id, target, escalated_by, created_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (room_id, target) DO NOTHING RETURNING id`,
      [id, roomId, target, by, now],
    );
    return rows.length > 0;
  }
}

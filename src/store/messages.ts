import type {
  AttachmentRef,
  BookingRequest,
  Message,
  MessageKind,
  Role,
  TimeRange,
} from '../domain/types.ts';
import type { Keyring } from '../privacy/keyring.ts';
import { isUniqueViolation, type Queryable } from './db.ts';
import { webhookJob } from './jobs.ts';

interface MessageRow {
  id: string;
  room_id: string;
  seq: number;
  sender_id: string;
  sender_role: Role;
  kind: MessageKind;
  text: string | null;
  attachment: Omit<AttachmentRef, 'url'> | null;
  availability: TimeRange[] | null;
  booking_id: string | null;
  request: BookingRequest | null;
  internal: boolean;
  meta: Record<string, unknown> | null;
  client_msg_id: string | null;
  created_at: Date;
  /** The key that sealed text and meta; null: both in clear. */
  kid: string | null;
  /** A tombstone: content erased. */
  erased: boolean;
}

export const attachmentUrl = (roomId: string, attachmentId: string) =>
  `/v1/rooms/${encodeURIComponent(roomId)}/attachments/${encodeURIComponent(attachmentId)}`;

/** Additional data of a sealed field: the ciphertext opens only in its own message and field. */
export const textAad = (messageId: string) => `message:${messageId}:text`;
export const metaAad = (messageId: string) => `message:${messageId}:meta`;

/** A stored row with its text and meta opened. */
function opened(r: MessageRow, keys: Keyring | undefined): MessageRow {
  if (r.kid === null || r.erased) return r;
  if (!keys) throw new Error(`message ${r.id} is sealed and this store has no keys`);
  return {
    ...r,
    text: r.text === null ? null : keys.openText(r.kid, r.text, textAad(r.id)),
    meta:
      r.meta === null ? null : JSON.parse(keys.openText(r.kid, r.meta as unknown as string, metaAad(r.id))),
  };
}

/** The public shape: absent fields are left out rather than null. */
function toMessage(r: MessageRow): Message {
  if (r.erased) {
    const { id, room_id: roomId, seq, sender_id: senderId, sender_role: senderRole, kind } = r;
    return {
      id,
      roomId,
      seq,
      senderId,
      senderRole,
      kind,
      createdAt: r.created_at.toISOString(),
      erased: true,
      // Staff still tell their notes from the requester's messages.
      ...(r.internal ? { internal: true as const } : {}),
    };
  }
  const m: Message = {
    id: r.id,
    roomId: r.room_id,
    seq: r.seq,
    senderId: r.sender_id,
    senderRole: r.sender_role,
    kind: r.kind,
    createdAt: r.created_at.toISOString(),
  };
  if (r.text !== null) m.text = r.text;
  if (r.attachment) m.attachment = { ...r.attachment, url: attachmentUrl(r.room_id, r.attachment.id) };
  if (r.availability) m.availability = r.availability;
  if (r.booking_id !== null) m.bookingId = r.booking_id;
  if (r.request !== null) m.request = r.request;
  if (r.internal) m.internal = true;
  if (r.meta) m.meta = r.meta;
  if (r.client_msg_id !== null) m.clientMsgId = r.client_msg_id;
  return m;
}

export interface NewMessage {
  id: string;
  roomId: string;
  senderId: string;
  senderRole: Role;
  kind: MessageKind;
  text?: string | undefined;
  attachment?: Omit<AttachmentRef, 'url'> | undefined;
  availability?: TimeRange[] | undefined;
  bookingId?: string | undefined;
  request?: BookingRequest | undefined;
  /** A support room's internal note (staff only). */
  internal?: boolean | undefined;
  meta?: Record<string, unknown> | undefined;
  /** Idempotency key, unique per room and sender. Server posts use deterministic ones. */
  clientMsgId?: string | undefined;
  createdAt: Date;
  /** Also queue a message.created webhook (ids only, never the text), in the same statement. */
  webhook?: boolean | undefined;
  /** The plan facts a client's post was allowed under: written only if the plan still says so. */
  plan?: { userId: string; kind: string; includesMessaging: boolean } | undefined;
}

/** The client's plan changed since the node read it: nothing was written; decide again. */
export class PlanChanged extends Error {
  override name = 'PlanChanged';
}

export type Appended = { message: Message; duplicate: boolean };

/**
 * The append is one function (migration 012, `talkroom_append_messages`) that
 * takes a batch: a message costs one statement, and so does a batch of them.
 */
const APPEND_SQL =
  'SELECT a.ord, (a.msg).*, a.duplicate, a.plan_changed FROM talkroom_append_messages($1::jsonb) a ORDER BY a.ord';

export class MessagesRepo {
  private readonly q: Queryable;
  readonly #keys: Keyring | undefined;
  constructor(q: Queryable, keys: Keyring | undefined) {
    this.q = q;
    this.#keys = keys;
  }

  #message(r: MessageRow): Message {
    return toMessage(opened(r, this.#keys));
  }

  /**
   * Appends a message, or returns the one already stored under the same
   * clientMsgId. Outside a transaction it resolves only once the row is
   * committed. `retry: false` inside a transaction, where a failed statement
   * aborts the transaction and a retry could not succeed.
   */
  async append(m: NewMessage, o: { retry?: boolean } = {}): Promise<Appended> {
    for (let attempt = 0; ; attempt++) {
      try {
        const [out] = await this.appendAll([m]);
        if (out instanceof PlanChanged) throw out;
        return out!;
      } catch (e) {
        if (attempt === 0 && (o.retry ?? true) && isUniqueViolation(e) && m.clientMsgId) continue;
        throw e;
      }
    }
  }

  /**
   * Appends several messages in one statement (all or none), answering in
   * their order. Rooms are locked in the order given: callers writing batches
   * concurrently give them in one fixed order so two batches never deadlock.
   */
  async appendAll(ms: readonly NewMessage[]): Promise<(Appended | PlanChanged)[]> {
    type Row = MessageRow & { ord: string | number; duplicate: boolean; plan_changed: boolean };
    const rows = await this.q.query<Row>(APPEND_SQL, [JSON.stringify(ms.map((m) => this.#element(m)))]);
    const out: (Appended | PlanChanged)[] = new Array(ms.length);
    for (const row of rows) {
      const i = Number(row.ord) - 1;
      const m = ms[i]!;
      if (row.plan_changed) {
        out[i] = new PlanChanged(`the plan of ${m.plan?.userId} changed`);
        continue;
      }
      // A new row holds what was just sealed: no need to open it again.
      const plain = row.duplicate
        ? opened(row, this.#keys)
        : { ...row, text: m.text ?? null, meta: m.meta ?? null };
      out[i] = { message: toMessage(plain), duplicate: row.duplicate };
    }
    const missing = ms.findIndex((_, i) => !out[i]);
    if (missing >= 0) throw new Error(`room ${ms[missing]!.roomId} vanished while appending`);
    return out;
  }

  /** One message as the append function reads it; an absent key is SQL NULL. */
  #element(m: NewMessage): Record<string, unknown> {
    // Sealed here, before the statement: the database never sees the text.
    const keys = this.#keys;
    const text = m.text === undefined ? undefined : keys ? keys.sealText(m.text, textAad(m.id)) : m.text;
    const meta =
      m.meta === undefined ? undefined : keys ? keys.sealText(JSON.stringify(m.meta), metaAad(m.id)) : m.meta;
    return {
      id: m.id,
      roomId: m.roomId,
      senderId: m.senderId,
      senderRole: m.senderRole,
      kind: m.kind,
      text,
      attachment: m.attachment ?? undefined,
      availability: m.availability ?? undefined,
      bookingId: m.bookingId ?? undefined,
      meta,
      clientMsgId: m.clientMsgId ?? undefined,
      createdAt: m.createdAt.toISOString(),
      kid: keys && (text !== undefined || meta !== undefined) ? keys.current : undefined,
      request: m.request ?? undefined,
      internal: m.internal ?? undefined,
      hook: m.webhook ? webhookJob('message.created', {}, m.createdAt) : undefined,
      plan: m.plan,
    };
  }

  async findByClientMsgId(roomId: string, senderId: string, clientMsgId: string): Promise<Message | null> {
    const [row] = await this.q.query<MessageRow>(
      'SELECT * FROM messages WHERE room_id = $1 AND sender_id = $2 AND client_msg_id = $3',
      [roomId, senderId, clientMsgId],
    );
    return row ? this.#message(row) : null;
  }

  /** A page of history, newest last; without internal notes when `hideInternal` (the requester's). */
  async page(
    roomId: string,
    beforeSeq: number | undefined,
    limit: number,
    hideInternal = false,
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    const rows = await this.q.query<MessageRow>(
      `SELECT * FROM messages WHERE room_id = $1 AND ($2::int IS NULL OR seq < $2::int)
          AND NOT ($4::boolean AND internal)
        ORDER BY seq DESC LIMIT $3`,
      [roomId, beforeSeq ?? null, limit + 1, hideInternal],
    );
    const hasMore = rows.length > limit;
    return {
      messages: rows
        .slice(0, limit)
        .reverse()
        .map((r) => this.#message(r)),
      hasMore,
    };
  }

  /**
   * For each room, the messages after the given seq, oldest first, at most
   * `limit` per room; none of the internal notes of the rooms in `hideInternal`.
   */
  async since(
    cursors: ReadonlyMap<string, number>,
    limit: number,
    hideInternal: ReadonlySet<string> = new Set(),
  ): Promise<Map<string, Message[]>> {
    const out = new Map<string, Message[]>([...cursors.keys()].map((k) => [k, []]));
    if (cursors.size === 0) return out;
    const ids = [...cursors.keys()];
    const rows = await this.q.query<MessageRow>(
      `SELECT m.* FROM unnest($1::text[], $2::int[], $4::boolean[]) AS c(room_id, after, hide)
         CROSS JOIN LATERAL (
           SELECT * FROM messages WHERE room_id = c.room_id AND seq > c.after AND NOT (c.hide AND internal)
            ORDER BY seq LIMIT $3
         ) m
        ORDER BY m.room_id, m.seq`,
      [ids, [...cursors.values()], limit, ids.map((id) => hideInternal.has(id))],
    );
    for (const r of rows) out.get(r.room_id)?.push(this.#message(r));
    return out;
  }

  /** The last seq at or below `seq` that is not an internal note: what the requester may hear of a read. */
  async lastPublicSeq(roomId: string, seq: number): Promise<number> {
    const [row] = await this.q.query<{ seq: number | null }>(
      'SELECT max(seq) AS seq FROM messages WHERE room_id = $1 AND seq <= $2 AND NOT internal',
      [roomId, seq],
    );
    return row?.seq ?? 0;
  }

  async attachmentUsed(attachmentId: string): Promise<boolean> {
    const rows = await this.q.query(`SELECT 1 FROM messages WHERE attachment ->> 'id' = $1`, [attachmentId]);
    return rows.length > 0;
  }
}

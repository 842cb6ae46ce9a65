import { randomUUID } from 'node:crypto';
import type { TicketInput } from '../../protocol/inputs.ts';
import { canRead, mayManageTicket } from '../domain/access.ts';
import { replyDueAt } from '../domain/reply-due.ts';
import type { Actor, EscalationTarget, Message, Room, TicketStatus, User } from '../domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../domain/working-hours.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../store/index.ts';
import { MessagesRepo, type NewMessage } from '../store/messages.ts';
import { RoomsRepo } from '../store/rooms.ts';
import { auditRead } from './audit.ts';
import { readCursor, writeCursor } from './cursor.ts';
import type { ServiceDeps } from './deps.ts';
import type { PresenceStore } from './presence.ts';

/** Most rooms one GET /v1/rooms answer holds. */
const MAX_ROOMS = 500;

/** The room, if the actor may read it; otherwise not_found or forbidden. */
export async function readableRoom(store: Store, actor: Actor, roomId: string): Promise<Room> {
  const room = await store.rooms.get(roomId);
  if (!room) throw new AppError('not_found', `room ${roomId} not found`);
  if (!canRead(actor, room)) throw new AppError('forbidden', `not a member of room ${roomId}`);
  return room;
}

export interface RoomMember {
  userId: string;
  role: string;
  displayName: string | null;
  /** Has a socket open on some node now (a hint: it may be a few seconds stale). */
  online: boolean;
}

export interface RoomView {
  id: string;
  kind: Room['kind'];
  service: Room['service'];
  members: RoomMember[];
  /** Support rooms: the teams that share the room with its requester. */
  teams: string[];
  escalations: EscalationTarget[];
  lastSeq: number;
  lastReadSeq: number;
  unread: number;
  replyDueAt: string | null;
  replyOverdue: boolean;
  createdAt: string;
  ticket?: {
    status: TicketStatus;
    assigneeId?: string;
    escalatedTo?: EscalationTarget;
  };
}

export class RoomService {
  private readonly d: ServiceDeps;
  private readonly presence: PresenceStore;
  constructor(d: ServiceDeps, presence: PresenceStore) {
    this.d = d;
    this.presence = presence;
  }

  requireReadable(actor: Actor, roomId: string): Promise<Room> {
    return readableRoom(this.d.store, actor, roomId);
  }

  /** Room ids the actor's sockets should be joined to. */
  async visibleRoomIds(actor: Actor): Promise<string[]> {
    if (actor.role === 'bot' || actor.role === 'admin') return [];
    return (await this.d.store.rooms.listVisibleTo(actor.id, actor.role)).map((r) => r.id);
  }

  /** Every room the actor sees (a socket's rooms:list). */
  async list(actor: Actor): Promise<RoomView[]> {
    if (actor.role === 'bot' || actor.role === 'admin') return [];
    return this.views(actor, await this.d.store.rooms.listVisibleTo(actor.id, actor.role));
  }

  /**
   * The rooms the actor sees, a page at a time (GET /v1/rooms: the support
   * team sees every support room there is): `next` is the cursor for the
   * page after, while `hasMore`.
   */
  async page(
    actor: Actor,
    q: { cursor?: string | undefined; limit?: number | undefined },
  ): Promise<{ rooms: RoomView[]; hasMore: boolean; next?: string }> {
    const position = q.cursor === undefined ? undefined : readCursor(q.cursor);
    if (actor.role === 'bot' || actor.role === 'admin') return { rooms: [], hasMore: false };
    const limit = Math.min(q.limit ?? MAX_ROOMS, MAX_ROOMS);
    const rows = await this.d.store.rooms.listVisibleTo(actor.id, actor.role, {
      after: position && { createdAt: position.at, id: position.id },
      limit: limit + 1,
    });
    const rooms = await this.views(actor, rows.slice(0, limit));
    if (rows.length <= limit) return { rooms, hasMore: false };
    const last = rooms.at(-1)!;
    return { rooms, hasMore: true, next: writeCursor(last.createdAt, last.id) };
  }

  private async views(actor: Actor, rooms: Room[]): Promise<RoomView[]> {
    // A support or clinical list of rooms is a read of them: one entry per list.
    if (rooms.length) await auditRead(this.d.store.db, actor, 'rooms.list', this.d.clock.now(), {});
    const ids = rooms.map((r) => r.id);
    const people = new Set<string>();
    for (const r of rooms) for (const id of [r.clientId, r.providerId, r.requesterId]) if (id) people.add(id);
    const [users, unread, online] = await Promise.all([
      this.d.store.users.getMany([...people]),
      this.d.store.rooms.unreadCounts(actor.id, ids),
      this.presence.online([...people]),
    ]);
    const now = this.d.clock.now();
    return rooms.map((room) => this.view(room, users, online, unread.get(room.id), now));
  }

  async get(actor: Actor, roomId: string): Promise<RoomView> {
    const room = await this.requireReadable(actor, roomId);
    await auditRead(this.d.store.db, actor, 'room.read', this.d.clock.now(), { roomId });
    const people = [room.clientId, room.providerId, room.requesterId].filter((x): x is string => !!x);
    const [users, unread, online] = await Promise.all([
      this.d.store.users.getMany(people),
      this.d.store.rooms.unreadCounts(actor.id, [room.id]),
      this.presence.online(people),
    ]);
    return this.view(room, users, online, unread.get(room.id), this.d.clock.now());
  }

  private view(
    room: Room,
    users: Map<string, User>,
    online: Set<string>,
    unread: { unread: number; lastRead: number; lastSeq: number } | undefined,
    now: Date,
  ): RoomView {
    const member = (id: string | null, role: string): RoomMember[] =>
      id
        ? [{ userId: id, role, displayName: users.get(id)?.displayName ?? null, online: online.has(id) }]
        : [];
    const members =
      room.kind === 'therapy'
        ? [...member(room.clientId, 'client'), ...member(room.providerId, 'provider')]
        : member(room.requesterId, users.get(room.requesterId ?? '')?.role ?? 'client');
    let due: Date | null = null;
    if (room.kind === 'therapy' && room.awaitingReplySince) {
      const provider = users.get(room.providerId ?? '');
      due = replyDueAt(
        room.awaitingReplySince,
        provider?.timezone ?? 'UTC',
        provider?.workingHours ?? DEFAULT_WORKING_HOURS,
      );
    }
    return {
      id: room.id,
      kind: room.kind,
      service: room.service,
      members,
      teams:
        room.kind === 'support'
          ? ['support', ...(room.escalations.includes('clinical') ? ['clinical'] : [])]
          : [],
      escalations: room.escalations,
      lastSeq: unread?.lastSeq ?? room.lastSeq,
      lastReadSeq: unread?.lastRead ?? 0,
      unread: unread?.unread ?? 0,
      replyDueAt: due?.toISOString() ?? null,
      replyOverdue: due !== null && now.getTime() > due.getTime(),
      createdAt: room.createdAt.toISOString(),
      ...(room.ticket ? { ticket: ticketView(room) } : {}),
    };
  }

  /**
   * `PUT /v1/rooms/:id/ticket`: the support team sets a ticket's status or
   * assignee (a support rep; once handed to the supervisors, a supervisor).
   */
  async updateTicket(actor: Actor, roomId: string, change: TicketInput): Promise<RoomView> {
    const room = await this.requireReadable(actor, roomId);
    if (room.kind !== 'support') throw new AppError('invalid_input', 'only support rooms are tickets');
    const handedOver = room.escalations.includes('supervisor');
    const me = handedOver ? await this.d.store.users.get(actor.id) : null;
    if (!mayManageTicket(actor, room, me?.supervisor ?? false)) {
      throw new AppError(
        'forbidden',
        handedOver
          ? 'this ticket was handed over to the supervisors: only a supervisor changes it'
          : 'only the support team changes a ticket',
      );
    }
    let assigneeName: string | null = null;
    if (change.assigneeId) {
      const assignee = await this.d.store.users.get(change.assigneeId);
      if (assignee?.role !== 'support') {
        throw new AppError('invalid_input', `assigneeId: ${change.assigneeId} is not a support rep`);
      }
      if (handedOver && !assignee.supervisor) {
        throw new AppError('invalid_input', `assigneeId: ${change.assigneeId} is not a supervisor`);
      }
      assigneeName = assignee.displayName;
    }
    // The room's timeline tells each change: a new status to everyone, a new
    // assignee to the staff only (an internal note).
    const before = room.ticket ?? { status: 'open', assigneeId: null };
    const now = this.d.clock.now();
    const notices: NewMessage[] = [];
    if (change.status !== undefined && change.status !== before.status) {
      notices.push(
        ticketNotice(roomId, now, STATUS_TEXT[change.status], { status: change.status, by: actor.id }),
      );
    }
    if (change.assigneeId !== undefined && change.assigneeId !== before.assigneeId) {
      const text = assigneeName ? `Assigned to ${assigneeName}.` : 'Unassigned.';
      notices.push({
        ...ticketNotice(roomId, now, text, { assigneeId: change.assigneeId, by: actor.id }),
        internal: true,
      });
    }
    const stored = await this.d.store.db.tx(async (q) => {
      await new RoomsRepo(q).setTicket(roomId, change);
      const messages = new MessagesRepo(q, this.d.store.db.keyring);
      const out: Message[] = [];
      for (const n of notices) out.push((await messages.append(n, { retry: false })).message);
      return out;
    });
    const except = room.requesterId ? { except: room.requesterId } : undefined;
    this.d.publish(
      ...stored.map((m) => ({
        type: 'message.stored' as const,
        message: m,
        audience: m.internal ? except : undefined,
      })),
    );
    this.d.log.info({ roomId, by: actor.id, status: change.status }, 'ticket changed');
    return this.get(actor, roomId);
  }

  /**
   * Escalates a support room to a supervisor or the clinical team. The
   * escalation is told in the room as a system message. A supervisor
   * escalation hands the ticket over (unassigned, for a supervisor to take);
   * a clinical one opens the room to clinical reviewers, who consult in
   * internal notes.
   */
  async escalate(actor: Actor, roomId: string, to: EscalationTarget): Promise<RoomView> {
    const room = await this.requireReadable(actor, roomId);
    if (room.kind !== 'support') throw new AppError('invalid_input', 'only support rooms are escalated');
    if (actor.role !== 'support' && actor.role !== 'clinical') {
      throw new AppError('forbidden', 'only the support team escalates');
    }
    const now = this.d.clock.now();
    const created = await this.d.store.db.tx(async (q) => {
      const rooms = new RoomsRepo(q);
      const added = await rooms.escalate(randomUUID(), roomId, to, actor.id, now);
      if (added && to === 'supervisor') await rooms.setTicket(roomId, { assigneeId: null });
      return added;
    });
    if (created) {
      const { message } = await this.d.store.messages.append({
        id: randomUUID(),
        roomId,
        senderId: 'talkroom',
        senderRole: 'bot',
        kind: 'system',
        text: to === 'clinical' ? 'Escalated to the clinical team.' : 'Escalated to a supervisor.',
        meta: { event: 'escalated', to, by: actor.id },
        clientMsgId: `escalation:${to}`,
        createdAt: now,
      });
      if (to === 'clinical') this.d.events.roomOpened(roomId, { roles: ['clinical'] });
      this.d.publish({ type: 'message.stored', message });
      this.d.log.info({ roomId, to, by: actor.id }, 'support room escalated');
    }
    return this.get(actor, roomId);
  }
}

/** escalatedTo names who has the ticket beyond the reps: the supervisors once handed over, else the clinical team. */
function ticketView(room: Room): NonNullable<RoomView['ticket']> {
  const t = room.ticket!;
  const escalatedTo = room.escalations.includes('supervisor')
    ? 'supervisor'
    : room.escalations.includes('clinical')
      ? 'clinical'
      : undefined;
  return {
    status: t.status,
    ...(t.assigneeId ? { assigneeId: t.assigneeId } : {}),
    ...(escalatedTo ? { escalatedTo } : {}),
  };
}

const STATUS_TEXT: Record<TicketStatus, string> = {
  open: 'The ticket is open.',
  pending: 'The ticket waits for an answer from the requester.',
  resolved: 'The ticket is resolved.',
};

function ticketNotice(roomId: string, now: Date, text: string, meta: Record<string, unknown>): NewMessage {
  return {
    id: randomUUID(),
    roomId,
    senderId: 'talkroom',
    senderRole: 'bot',
    kind: 'system',
    text,
    meta: { event: 'ticket', ...meta },
    createdAt: now,
  };
}

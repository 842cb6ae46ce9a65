import { randomUUID } from 'node:crypto';
import { canRead } from '../domain/access.ts';
import { replyDueAt } from '../domain/reply-due.ts';
import type { Actor, EscalationTarget, Room, User } from '../domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../domain/working-hours.ts';
import { AppError } from '../errors.ts';
import type { Store } from '../store/index.ts';
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
    unread: { unread: number; lastRead: number } | undefined,
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
      lastSeq: room.lastSeq,
      lastReadSeq: unread?.lastRead ?? 0,
      unread: unread?.unread ?? 0,
      replyDueAt: due?.toISOString() ?? null,
      replyOverdue: due !== null && now.getTime() > due.getTime(),
      createdAt: room.createdAt.toISOString(),
    };
  }

  /**
   * Escalates a support room to a supervisor or the clinical team. The
   * escalation is told in the room as a system message, and a clinical
   * escalation opens the room to clinical reviewers.
   */
  async escalate(actor: Actor, roomId: string, to: EscalationTarget): Promise<RoomView> {
    const room = await this.requireReadable(actor, roomId);
    if (room.kind !== 'support') throw new AppError('invalid_input', 'only support rooms are escalated');
    if (actor.role !== 'support' && actor.role !== 'clinical') {
      throw new AppError('forbidden', 'only the support team escalates');
    }
    const now = this.d.clock.now();
    const created = await this.d.store.rooms.escalate(randomUUID(), roomId, to, actor.id, now);
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

import { randomUUID } from 'node:crypto';
import type { HistoryInput, SendMessageInput } from '../../protocol/inputs.ts';
import { canPost, seesInternalNotes } from '../domain/access.ts';
import { assertMayPost } from '../domain/messaging-rules.ts';
import type { Actor, Message, Plan, Room } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import { BookingStore } from '../store/bookings.ts';
import { type Appended, PlanChanged } from '../store/messages.ts';
import { auditRead } from './audit.ts';
import type { ServiceDeps } from './deps.ts';
import { readableRoom } from './rooms.ts';

const JOBS = { type: 'jobs.scheduled' } as const;

/** How many missed messages one rooms:sync returns per room before the client must ask again. */
export const SYNC_LIMIT_PER_ROOM = 500;

const CACHE_SIZE = 50_000;

/** Remembers up to CACHE_SIZE entries, forgetting the oldest first. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): V {
  if (map.size >= CACHE_SIZE && !map.has(key)) map.delete(map.keys().next().value!);
  map.set(key, value);
  return value;
}

export class MessageService {
  private readonly d: ServiceDeps;
  readonly #therapyRooms = new Map<string, Room>();
  /** Clients' plans as last read here; the append re-checks them (see send). */
  readonly #plans = new Map<string, Plan | null>();
  constructor(d: ServiceDeps) {
    this.d = d;
  }

  /**
   * Stores a message and tells the room. Resolves only after the message is
   * durably stored; a repeated clientMsgId resolves to the stored message and
   * stores nothing.
   */
  async send(actor: Actor, input: SendMessageInput): Promise<Message> {
    return this.#send(actor, input, false);
  }

  /**
   * A client's post is decided on their plan as this node last read it, which
   * saves a read per message (a round trip: the largest cost of a send after the
   * append). The append writes only if the plan still says what the decision
   * rested on; if it does not, or if a remembered plan refuses the post, the
   * send is decided again on the stored plan (`fresh`).
   */
  async #send(actor: Actor, input: SendMessageInput, fresh: boolean): Promise<Message> {
    const started = performance.now();
    const { store } = this.d;
    const { room, clientPlan, remembered } = await this.roomForPost(actor, input.roomId, fresh);
    if (!canPost(actor, room)) throw new AppError('forbidden', `may not post in room ${room.id}`);
    const now = this.d.clock.now();

    try {
      await this.checkRules(actor, room, clientPlan, input, now);
    } catch (e) {
      if (remembered) return this.#send(actor, input, true);
      // A retry of a message that was stored before the rule changed (say a
      // messaging session ended) still gets its original message back.
      const earlier = await store.messages.findByClientMsgId(room.id, actor.id, input.clientMsgId);
      if (earlier) return earlier;
      throw e;
    }

    const attachment = input.attachmentId ? await this.attachmentFor(actor, room, input) : undefined;
    const plan =
      clientPlan && actor.role === 'client'
        ? { userId: actor.id, kind: clientPlan.kind, includesMessaging: clientPlan.includesMessaging }
        : undefined;
    let appended: Appended;
    try {
      appended = await store.appender.append({
        id: randomUUID(),
        roomId: room.id,
        senderId: actor.id,
        senderRole: actor.role,
        kind: input.kind,
        text: input.text,
        attachment,
        availability: input.availability,
        bookingId: input.bookingId,
        request: input.request,
        internal: input.internal,
        meta: input.meta,
        clientMsgId: input.clientMsgId,
        createdAt: now,
        webhook: !!this.d.config.webhook.url,
        plan,
      });
    } catch (e) {
      if (!(e instanceof PlanChanged)) throw e;
      if (fresh) throw new AppError('conflict', 'the plan changed while the message was sent; send it again');
      return this.#send(actor, input, true);
    }
    const { message, duplicate } = appended;
    if (!duplicate) {
      // Stored (and its webhook queued) in one statement: the room and the scheduler hear of it now.
      // An internal note never reaches the requester's sockets.
      const audience = message.internal && room.requesterId ? { except: room.requesterId } : undefined;
      this.d.publish(
        { type: 'message.stored', message, audience },
        ...(this.d.config.webhook.url ? [JOBS] : []),
      );
      this.d.metrics.messagesStored.inc({ kind: message.kind });
      this.d.metrics.messageAppendSeconds.observe((performance.now() - started) / 1000);
      this.d.log.debug(
        { roomId: room.id, messageId: message.id, seq: message.seq, senderId: actor.id },
        'message stored',
      );
    }
    return message;
  }

  /**
   * The room and, when a client posts, their plan. Who is in a therapy room and
   * its service never change, so those rooms are remembered and a provider's
   * or bot's post needs no read at all; a client's plan is remembered too
   * (`remembered`: it may be out of date, see #send). Support rooms change as
   * they are escalated: read each time.
   */
  private async roomForPost(
    actor: Actor,
    roomId: string,
    fresh: boolean,
  ): Promise<{ room: Room; clientPlan: Plan | null; remembered: boolean }> {
    let room = this.#therapyRooms.get(roomId);
    let read: Plan | null | undefined;
    if (!room) {
      const found = await this.d.store.rooms.getWithPlan(roomId);
      if (!found) throw new AppError('not_found', `room ${roomId} not found`);
      room = found.room;
      if (room.kind !== 'therapy') return { room, clientPlan: found.clientPlan, remembered: false };
      remember(this.#therapyRooms, roomId, room);
      read = found.clientPlan;
    }
    if (actor.role !== 'client') return { room, clientPlan: null, remembered: false };
    const clientId = room.clientId!;
    const known = fresh || read !== undefined ? undefined : this.#plans.get(clientId);
    if (known !== undefined) return { room, clientPlan: known, remembered: true };
    const plan = read !== undefined ? read : await this.d.store.users.getPlan(clientId);
    return { room, clientPlan: remember(this.#plans, clientId, plan), remembered: false };
  }

  private async checkRules(actor: Actor, room: Room, plan: Plan | null, input: SendMessageInput, now: Date) {
    if (input.kind === 'request') {
      assertMayPost({
        actor,
        room,
        kind: input.kind,
        hasMeta: input.meta !== undefined,
        plan,
        messagingSessionOpen: false,
      });
      return this.checkRequest(actor, room, input);
    }
    const needsGate =
      room.kind === 'therapy' &&
      actor.role === 'client' &&
      input.kind !== 'availability' &&
      (plan?.kind === 'eap' || plan?.kind === 'bh_insurance');
    const messagingSessionOpen = needsGate ? await this.d.gate.isOpen(room.id, actor.id, now) : false;
    // A bookingId ties a message to one session of this room: people chat under
    // it while that session is open; bots may refer to any booking of the room.
    const session =
      input.bookingId === undefined
        ? undefined
        : room.kind === 'therapy'
          ? await this.d.gate.sessionChat(room.id, input.bookingId, now)
          : 'none';
    if (session === 'none') throw new AppError('invalid_input', 'bookingId: names no booking of this room');
    if (session === 'closed' && actor.role !== 'bot') {
      throw new AppError('join_window_closed', 'bookingId: that session is not open for chat now');
    }
    assertMayPost({
      inLiveSession: session === 'open',
      actor,
      room,
      kind: input.kind,
      hasMeta: input.meta !== undefined,
      internal: input.internal === true,
      plan,
      messagingSessionOpen,
    });
  }

  /**
   * A booking request must name a booking of the sender's in this room that
   * can still be asked for: cancelled while it has not started, rescheduled
   * while it has not started (or after the provider did not show: the client
   * rebooks with the same credit).
   */
  private async checkRequest(actor: Actor, room: Room, input: SendMessageInput): Promise<void> {
    const b = await new BookingStore(this.d.store.db).get(input.bookingId!);
    if (!b || b.roomId !== room.id || b.clientId !== actor.id) {
      throw new AppError('not_found', `bookingId: no booking ${input.bookingId} of yours in this room`);
    }
    if (b.status === 'in_progress') {
      throw new AppError('session_already_started', `bookingId: booking ${b.id} is in progress`);
    }
    const askable =
      input.request === 'cancel'
        ? ['pending_confirmation', 'confirmed']
        : ['pending_confirmation', 'confirmed', 'provider_no_show'];
    if (!askable.includes(b.status)) {
      throw new AppError(
        'conflict',
        `bookingId: booking ${b.id} is ${b.status}: nothing to ${input.request}`,
      );
    }
  }

  private async attachmentFor(actor: Actor, room: Room, input: SendMessageInput) {
    const { store } = this.d;
    const a = await store.attachments.meta(input.attachmentId!);
    if (!a || a.roomId !== room.id || a.uploaderId !== actor.id) {
      throw new AppError('not_found', `attachmentId: no upload ${input.attachmentId} of yours in this room`);
    }
    const family = a.mimeType.split('/')[0];
    if ((input.kind === 'voice' && family !== 'audio') || (input.kind === 'video' && family !== 'video')) {
      throw new AppError(
        'invalid_input',
        `attachmentId: a ${input.kind} message needs ${input.kind === 'voice' ? 'an audio' : 'a video'} upload, not ${a.mimeType}`,
      );
    }
    if (await store.messages.attachmentUsed(a.id)) {
      const earlier = await store.messages.findByClientMsgId(room.id, actor.id, input.clientMsgId);
      if (!earlier) throw new AppError('conflict', `attachmentId: ${a.id} is already in another message`);
    }
    return { id: a.id, mimeType: a.mimeType, sizeBytes: a.sizeBytes };
  }

  async history(actor: Actor, q: HistoryInput): Promise<{ messages: Message[]; hasMore: boolean }> {
    const room = await this.requireReadable(actor, q.roomId);
    await auditRead(this.d.store.db, actor, 'messages.read', this.d.clock.now(), { roomId: q.roomId });
    return this.d.store.messages.page(q.roomId, q.beforeSeq, q.limit ?? 50, !seesInternalNotes(actor, room));
  }

  /**
   * What a reconnecting socket missed: for each room it names, every message
   * after its cursor (up to SYNC_LIMIT_PER_ROOM; hasMore says to ask again).
   */
  async sync(
    actor: Actor,
    cursors: Record<string, number>,
  ): Promise<{ messages: Record<string, Message[]>; hasMore: Record<string, boolean> }> {
    const ids = Object.keys(cursors);
    const hidden = new Set<string>();
    for (const id of ids) {
      if (!seesInternalNotes(actor, await this.requireReadable(actor, id))) hidden.add(id);
    }
    for (const roomId of ids) {
      await auditRead(this.d.store.db, actor, 'messages.read', this.d.clock.now(), { roomId });
    }
    const found = await this.d.store.messages.since(
      new Map(Object.entries(cursors)),
      SYNC_LIMIT_PER_ROOM + 1,
      hidden,
    );
    const messages: Record<string, Message[]> = {};
    const hasMore: Record<string, boolean> = {};
    for (const [roomId, list] of found) {
      hasMore[roomId] = list.length > SYNC_LIMIT_PER_ROOM;
      messages[roomId] = list.slice(0, SYNC_LIMIT_PER_ROOM);
    }
    return { messages, hasMore };
  }

  async markRead(
    actor: Actor,
    roomId: string,
    seq: number,
  ): Promise<{ roomId: string; userId: string; seq: number }> {
    const room = await this.requireReadable(actor, roomId);
    if (seq > room.lastSeq)
      throw new AppError('invalid_input', `seq: room ${roomId} has no message ${seq} yet`);
    const cursor = await this.d.store.rooms.markRead(roomId, actor.id, seq, this.d.clock.now());
    const ev = { roomId, userId: actor.id, seq: cursor };
    if (room.requesterId && seesInternalNotes(actor, room)) {
      // Staff may have read as far as an internal note: the requester hears
      // of the read only up to the last message they can see.
      this.d.events.messageRead(ev, { except: room.requesterId });
      const visible = await this.d.store.messages.lastPublicSeq(roomId, cursor);
      if (visible > 0) this.d.events.messageRead({ ...ev, seq: visible }, { only: room.requesterId });
    } else {
      this.d.events.messageRead(ev);
    }
    return ev;
  }

  async typing(actor: Actor, roomId: string, typing: boolean, socketId?: string): Promise<void> {
    await this.requireReadable(actor, roomId);
    this.d.events.typing({ roomId, userId: actor.id, typing }, socketId);
  }

  private requireReadable(actor: Actor, roomId: string): Promise<Room> {
    return readableRoom(this.d.store, actor, roomId);
  }
}

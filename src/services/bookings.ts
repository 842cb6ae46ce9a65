import { randomUUID } from 'node:crypto';
import type { JoinTokens } from '../auth/join-tokens.ts';
import {
  ACTIVE_STATUSES,
  BOOKING_STATUSES,
  type BookingStatus,
  confirmBy,
  isLate,
  joinWindow,
  type Modality,
  meetsNotice,
  noShowCosts,
  type Policy,
  reminderTimes,
  restoredExpiry,
  sessionChatOpen,
} from '../domain/bookings.ts';
import { isOpenSlot, slotPage, slotWindow } from '../domain/slots.ts';
import type { Actor, TimeRange } from '../domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../domain/working-hours.ts';
import { AppError } from '../errors.ts';
import type { Booking, LiveParticipant, NewBooking } from '../store/bookings.ts';
import type { Job } from '../store/jobs.ts';
import { type AuditAction, audit } from './audit.ts';
import { type Reader, reminderText, whenFor } from './booking-texts.ts';
import type { CreditService } from './credits.ts';
import { readCursor, writeCursor } from './cursor.ts';
import type { ServiceDeps } from './deps.ts';
import type { NodeLiveness } from './liveness.ts';
import type { MessagingSessionGate } from './ports.ts';
import { readableRoom } from './rooms.ts';
import { inTx, type Tx } from './tx.ts';
import type { Webhooks } from './webhooks.ts';

export const DEFAULT_SESSION_MIN = 50;
/** Most bookings one list answer holds. */
const MAX_LIST = 500;
const TERMINAL = BOOKING_STATUSES.filter((x) => !ACTIVE_STATUSES.includes(x));
export interface BookingDeps extends ServiceDeps {
  credits: CreditService;
  webhooks: Webhooks;
  joinTokens: JoinTokens;
  publicUrl: () => string;
  policy: Policy;
  /** A live session ended (completed or a no-show): the live layer closes its media and tells the participants. */
  sessionEnded: (bookingId: string, status: BookingStatus) => void;
  /**
   * Which nodes are alive: a participant is present only while the node their
   * socket is on is. Without it, the stored flags are taken as they are.
   */
  liveness?: NodeLiveness;
}

export interface CreateBookingInput {
  roomId: string;
  modality: Modality;
  startsAt: string;
  durationMin?: number | undefined;
  purchase?: boolean | undefined;
}

/**
 * The session lifecycle of DOMAIN.md: booking against open slots and credits,
 * provider confirmation, cancellation and rescheduling with the late-window
 * rules, and the timed steps the scheduler drives (deadlines, reminders,
 * no-show checks, messaging-session start and end).
 */
export class BookingService {
  private readonly d: BookingDeps;
  constructor(d: BookingDeps) {
    this.d = d;
  }

  // ---- requests -------------------------------------------------------------

  async create(actor: Actor, input: CreateBookingInput): Promise<Booking> {
    assertMayManage(actor);
    const room = await readableRoom(this.d.store, actor, input.roomId);
    if (room.kind !== 'therapy')
      throw new AppError('invalid_input', 'roomId: sessions are booked in therapy rooms');
    const now = this.d.clock.now();
    const startsAt = new Date(input.startsAt);

    if (room.service === 'psychiatry' && input.modality !== 'video') {
      throw new AppError('psychiatry_video_only', 'psychiatry sessions are live video only');
    }
    if (!meetsNotice(startsAt, now, this.d.policy)) {
      throw new AppError(
        'invalid_input',
        startsAt <= now
          ? 'startsAt: is in the past'
          : `startsAt: must be at least ${this.d.policy.minNoticeMs / 60_000} minutes ahead`,
      );
    }
    const messaging = input.modality === 'messaging';
    if (messaging && input.durationMin !== undefined) {
      throw new AppError('invalid_input', 'durationMin: a messaging session lasts the policy length');
    }
    if (messaging && input.purchase)
      throw new AppError('invalid_input', 'purchase: only live credits are bought');
    const durationMs = messaging
      ? this.d.policy.messagingSessionMs
      : (input.durationMin ?? DEFAULT_SESSION_MIN) * 60_000;
    const endsAt = new Date(startsAt.getTime() + durationMs);

    return this.tx(async (t) => {
      await t.bookings.lockUsers([room.clientId!, room.providerId!]);
      const period = await this.d.credits.ensurePeriod(t, room.clientId!, now);
      const plan = period?.plan;
      if (messaging && plan?.kind !== 'eap' && plan?.kind !== 'bh_insurance') {
        throw new AppError(
          'invalid_input',
          'modality: messaging sessions are booked on eap and bh_insurance plans; others message any time',
        );
      }
      if (!messaging) await this.assertSlotFree(t, room.providerId!, startsAt, durationMs, now, null);
      else await this.assertNoMessagingOverlap(t, room.clientId!, startsAt, endsAt, null);

      const id = randomUUID();
      const creditId = await this.takeCredit(t, room.clientId!, messaging ? 'messaging' : 'live', id, {
        purchase: !!input.purchase,
        outOfPocket: plan?.kind === 'out_of_pocket',
        now,
      });
      const booking = await this.place(t, actor, {
        id,
        roomId: room.id,
        clientId: room.clientId!,
        providerId: room.providerId!,
        modality: input.modality,
        startsAt,
        endsAt,
        creditId,
        rescheduledFrom: null,
        reason: 'booked',
        now,
      });
      await this.scheduleFor(t, booking, now);
      await this.notice(t, booking, 'booked', now);
      await this.hook(t, 'booking.created', booking, now);
      if (booking.status === 'confirmed') await this.notice(t, booking, 'confirmed', now);
      await this.audited(t, actor, 'booking.create', booking, now);
      return booking;
    });
  }

  async confirm(actor: Actor, id: string): Promise<Booking> {
    assertMayManage(actor);
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      const b = await this.loadForChange(t, actor, id);
      if (actor.id !== b.providerId)
        throw new AppError('forbidden', 'only the booking’s provider confirms it');
      if (b.status !== 'pending_confirmation')
        throw new AppError('conflict', `booking is ${b.status}, not pending_confirmation`);
      if (b.confirmBy && Date.parse(b.confirmBy) <= now.getTime()) {
        await this.expire(t, b, now);
        throw new AppError('conflict', 'the confirmation deadline has passed; the booking expired');
      }
      const confirmed = (await t.bookings.transition(id, ['pending_confirmation'], 'confirmed', now))!;
      await t.jobs.cancel([jobId(id, 'confirm-deadline')]);
      await this.scheduleFor(t, confirmed, now);
      await this.notice(t, confirmed, 'confirmed', now);
      await this.hook(t, 'booking.confirmed', confirmed, now);
      await this.audited(t, actor, 'booking.confirm', confirmed, now);
      return confirmed;
    });
  }

  async decline(actor: Actor, id: string): Promise<Booking> {
    assertMayManage(actor);
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      const b = await this.loadForChange(t, actor, id);
      if (actor.id !== b.providerId)
        throw new AppError('forbidden', 'only the booking’s provider declines it');
      const declined = await t.bookings.transition(id, ['pending_confirmation'], 'declined', now);
      if (!declined) throw new AppError('conflict', `booking is ${b.status}, not pending_confirmation`);
      await this.release(t, declined, 'restore', 'declined by provider', now, { providerCaused: true });
      await this.notice(t, declined, 'declined', now);
      await this.hook(t, 'booking.declined', declined, now);
      await this.audited(t, actor, 'booking.decline', declined, now);
      return declined;
    });
  }

  async cancel(actor: Actor, id: string, reason: string | undefined): Promise<Booking> {
    assertMayManage(actor);
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      const b = await this.loadForChange(t, actor, id);
      this.assertChangeable(b, now);
      const late = actor.role === 'client' && isLate(told(b), now, this.d.policy);
      const status: BookingStatus = late ? 'late_cancelled' : 'cancelled';
      const cancelled = (await t.bookings.transition(id, ['pending_confirmation', 'confirmed'], status, now, {
        cancelReason: reason ?? (actor.role === 'provider' ? 'cancelled by provider' : 'cancelled by client'),
      }))!;
      if (late) {
        await this.release(t, cancelled, 'forfeit', 'late cancellation', now);
        await this.charge(t, cancelled, 'late_cancellation', now);
      } else {
        const byProvider = actor.role === 'provider';
        await this.release(
          t,
          cancelled,
          'restore',
          byProvider ? 'cancelled by provider' : 'cancelled in time',
          now,
          {
            providerCaused: byProvider,
          },
        );
      }
      await this.notice(t, cancelled, late ? 'late_cancelled' : 'cancelled', now);
      await this.hook(t, late ? 'booking.late_cancelled' : 'booking.cancelled', cancelled, now);
      await this.audited(t, actor, 'booking.cancel', cancelled, now);
      return cancelled;
    });
  }

  /**
   * Moves a booking to a new time: a new booking linked to the old one. The
   * same credit moves with it, unless the client moves it inside the late
   * window (that credit is forfeited and the new booking takes another). After
   * a provider no-show the client reschedules with the credit it gave back.
   */
  async reschedule(
    actor: Actor,
    id: string,
    input: { startsAt: string; purchase?: boolean | undefined },
  ): Promise<Booking> {
    assertMayManage(actor);
    const now = this.d.clock.now();
    const startsAt = new Date(input.startsAt);
    if (!meetsNotice(startsAt, now, this.d.policy))
      throw new AppError('invalid_input', 'startsAt: is in the past or too soon');
    return this.tx(async (t) => {
      const old = await this.loadForChange(t, actor, id);
      const afterNoShow = old.status === 'provider_no_show' && !old.rescheduledTo;
      if (!afterNoShow) this.assertChangeable(old, now);
      const durationMs = Date.parse(old.endsAt) - Date.parse(old.startsAt);
      const messaging = old.modality === 'messaging';
      await t.bookings.lockUsers([old.clientId, old.providerId]);
      if (!messaging) await this.assertSlotFree(t, old.providerId, startsAt, durationMs, now, old.id);
      else {
        const endsAt = new Date(startsAt.getTime() + durationMs);
        await this.assertNoMessagingOverlap(t, old.clientId, startsAt, endsAt, old.id);
      }

      const newId = randomUUID();
      const late = !afterNoShow && actor.role === 'client' && isLate(told(old), now, this.d.policy);
      let creditId = old.creditId;
      if (late || !creditId) {
        if (creditId) {
          await this.release(t, old, 'forfeit', 'late reschedule', now);
          await this.charge(t, old, 'late_reschedule', now);
        }
        const period = await this.d.credits.ensurePeriod(t, old.clientId, now);
        creditId = await this.takeCredit(t, old.clientId, messaging ? 'messaging' : 'live', newId, {
          purchase: !!input.purchase,
          outOfPocket: period?.plan.kind === 'out_of_pocket',
          now,
        });
      } else if (afterNoShow) {
        const latest = await t.credits.latest(creditId);
        if (latest?.kind !== 'restore')
          throw new AppError('conflict', 'the credit this booking gave back has been used');
      }
      const fresh = await this.place(t, actor, {
        id: newId,
        roomId: old.roomId,
        clientId: old.clientId,
        providerId: old.providerId,
        modality: old.modality,
        startsAt,
        endsAt: new Date(startsAt.getTime() + durationMs),
        creditId,
        rescheduledFrom: old.id,
        reason: afterNoShow ? 'rescheduled after provider no-show' : 'rescheduled',
        now,
      });
      const moved = afterNoShow
        ? await t.bookings.transition(old.id, ['provider_no_show'], 'provider_no_show', now, {
            rescheduledTo: newId,
          })
        : await t.bookings.transition(old.id, ['pending_confirmation', 'confirmed'], 'rescheduled', now, {
            rescheduledTo: newId,
          });
      await t.jobs.cancelByPrefix(`booking:${old.id}:`);
      await this.scheduleFor(t, fresh, now);
      await this.notice(t, fresh, 'rescheduled', now, { from: old.id, late });
      await this.hook(t, 'booking.rescheduled', fresh, now, { rescheduledFrom: moved?.id, late });
      await this.audited(t, actor, 'booking.reschedule', fresh, now);
      return fresh;
    });
  }

  /**
   * The booking's provider waives the charge of a late cancel or a client
   * no-show (say the client asked in the room): the credit comes back and the
   * charge stays on record, marked waived.
   */
  async waive(actor: Actor, id: string): Promise<Booking> {
    assertMayManage(actor);
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      const b = await this.loadForChange(t, actor, id);
      if (actor.id !== b.providerId)
        throw new AppError('forbidden', 'only the booking’s provider waives its charge');
      if (b.status !== 'late_cancelled' && b.status !== 'client_no_show') {
        throw new AppError(
          'conflict',
          `booking is ${b.status}; only a late cancel or a client no-show is charged`,
        );
      }
      if (!(await t.bookings.waiveCharges(b.id, actor.id, now))) {
        throw new AppError('conflict', 'this booking has no charge left to waive');
      }
      const latest = b.creditId ? await t.credits.latest(b.creditId) : null;
      if (b.creditId && latest?.kind === 'forfeit' && latest.bookingId === b.id) {
        const current = latest.expiresAt === null ? null : new Date(latest.expiresAt);
        await t.credits.record(
          b.creditId,
          'restore',
          b.id,
          'charge waived',
          now,
          restoredExpiry(current, now, this.d.policy),
        );
        await this.d.webhooks.enqueue(
          t.q,
          'credit.restored',
          { clientId: b.clientId, bookingId: b.id, creditId: b.creditId },
          now,
        );
      }
      await this.d.webhooks.enqueue(
        t.q,
        'credit.charge_waived',
        { clientId: b.clientId, bookingId: b.id },
        now,
      );
      await this.notice(t, b, 'charge_waived', now);
      await this.audited(t, actor, 'booking.waive', b, now);
      return b;
    });
  }

  async get(actor: Actor, id: string): Promise<Booking> {
    const b = await inTx(
      this.d.store.db,
      (t) => t.bookings.get(id),
      () => {},
    );
    if (!b) throw new AppError('not_found', `booking ${id} not found`);
    if (actor.id !== b.clientId && actor.id !== b.providerId)
      throw new AppError('forbidden', 'not a participant of this booking');
    return b;
  }

  /**
   * The bookings of the actor's rooms (or one room) in start order, a page at
   * a time: `next` is the cursor for the page after, while `hasMore`.
   */
  async list(
    actor: Actor,
    filter: {
      roomId?: string | undefined;
      status?: string | undefined;
      cursor?: string | undefined;
      limit?: number | undefined;
    },
  ): Promise<{ bookings: Booking[]; hasMore: boolean; next?: string }> {
    const position = filter.cursor === undefined ? undefined : readCursor(filter.cursor);
    const after = position && { startsAt: position.at, id: position.id };
    const limit = Math.min(filter.limit ?? MAX_LIST, MAX_LIST);
    let roomIds: string[];
    if (filter.roomId) {
      await readableRoom(this.d.store, actor, filter.roomId);
      roomIds = [filter.roomId];
    } else {
      roomIds = (await this.d.store.rooms.listVisibleTo(actor.id, actor.role))
        .filter((r) => r.kind === 'therapy')
        .map((r) => r.id);
    }
    const rows = await inTx(
      this.d.store.db,
      (t) => t.bookings.list({ roomIds, status: filter.status, after, limit: limit + 1 }),
      () => {},
    );
    if (rows.length <= limit) return { bookings: rows, hasMore: false };
    const bookings = rows.slice(0, limit);
    const last = bookings.at(-1)!;
    return { bookings, hasMore: true, next: writeCursor(last.startsAt, last.id) };
  }

  /**
   * The provider's open slots from `from` (default now) to `to` (default two
   * weeks on). One answer is bounded (see slotPage); `hasMore` says it was cut
   * and `next` is the `from` that asks for the rest.
   */
  async slots(
    providerId: string,
    q: { from?: string | undefined; to?: string | undefined; durationMin?: number | undefined },
  ): Promise<{ slots: TimeRange[]; hasMore: boolean; next?: string }> {
    const provider = await this.d.store.users.get(providerId);
    if (provider?.role !== 'provider') throw new AppError('not_found', `provider ${providerId} not found`);
    const now = this.d.clock.now();
    const from = q.from ? new Date(q.from) : now;
    const to = q.to ? new Date(q.to) : new Date(from.getTime() + 14 * 86_400_000);
    if (to <= from) throw new AppError('invalid_input', 'to: must be after from');
    const notBefore = new Date(now.getTime() + this.d.policy.minNoticeMs);
    // Only the bookings the answer can reach, however long the range asked.
    const window = slotWindow({ from, to, notBefore });
    const busy =
      window.start < window.end
        ? await inTx(
            this.d.store.db,
            (t) => t.bookings.busy(providerId, window.start, window.end),
            () => {},
          )
        : [];
    const page = slotPage({
      from,
      to,
      durationMin: q.durationMin ?? DEFAULT_SESSION_MIN,
      stepMs: this.d.policy.slotStepMs,
      timezone: provider.timezone,
      hours: provider.workingHours ?? DEFAULT_WORKING_HOURS,
      busy,
      notBefore,
    });
    return page.next
      ? { slots: page.slots, hasMore: true, next: page.next.toISOString() }
      : { slots: page.slots, hasMore: false };
  }

  /** What a join link grants, checked against its booking (for the web client and live:join). */
  async resolveJoinToken(actor: Actor, token: string) {
    const grant = this.d.joinTokens.verify(token, this.d.clock.now());
    if (grant.userId !== actor.id)
      throw new AppError('forbidden', 'this join link is for the other participant');
    const booking = await this.get(actor, grant.bookingId);
    return { booking, opensAt: grant.opensAt.toISOString(), closesAt: grant.closesAt.toISOString() };
  }

  joinUrl(b: Pick<Booking, 'id' | 'startsAt' | 'endsAt'>, userId: string): string {
    const w = joinWindow(times(b), this.d.policy);
    return `${this.d.publicUrl()}/join/${this.d.joinTokens.sign({ bookingId: b.id, userId, ...w })}`;
  }

  /** eap and bh_insurance clients message while a messaging session is in progress. */
  readonly gate: MessagingSessionGate = {
    isOpen: (roomId, _clientId, at) =>
      inTx(
        this.d.store.db,
        (t) => t.bookings.messagingSessionOpen(roomId, at),
        () => {},
      ),
    sessionChat: async (roomId, bookingId, at) => {
      const b = await inTx(
        this.d.store.db,
        (t) => t.bookings.get(bookingId),
        () => {},
      );
      if (b?.roomId !== roomId) return 'none';
      return sessionChatOpen({ ...times(b), modality: b.modality, status: b.status }, at, this.d.policy)
        ? 'open'
        : 'closed';
    },
  };

  // ---- live sessions ----------------------------------------------------------

  /**
   * Who may join a live session now: its client or provider, inside the join
   * window, while it is confirmed or in progress.
   */
  async admit(actor: Actor, ref: { bookingId: string } | { joinToken: string }): Promise<Booking> {
    const now = this.d.clock.now();
    let bookingId: string;
    if ('joinToken' in ref) {
      const grant = this.d.joinTokens.verify(ref.joinToken, now);
      if (grant.userId !== actor.id)
        throw new AppError('forbidden', 'this join link is for the other participant');
      bookingId = grant.bookingId;
    } else {
      bookingId = ref.bookingId;
    }
    const b = await this.get(actor, bookingId);
    if (b.modality === 'messaging')
      throw new AppError('modality_mismatch', 'a messaging session has no live part');
    const w = joinWindow(times(b), this.d.policy);
    if (now < w.opensAt || now > w.closesAt) {
      throw new AppError(
        'join_window_closed',
        `the session can be joined from ${w.opensAt.toISOString()} to ${w.closesAt.toISOString()}`,
      );
    }
    if (b.status !== 'confirmed' && b.status !== 'in_progress')
      throw new AppError('conflict', `booking is ${b.status}`);
    return b;
  }

  /**
   * Records a participant arriving or leaving. The session starts at the
   * moment the second party is present, never before, and only once: the
   * credit is consumed then and the room is told.
   */
  async presence(b: Booking, userId: string, present: boolean) {
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      await t.bookings.lockUsers([b.clientId, b.providerId]);
      const role = userId === b.providerId ? 'provider' : 'client';
      await t.live.mark(b.id, userId, role, present, now, this.d.liveness?.nodeId ?? null);
      const participants = await this.presentNow(await t.live.list(b.id));
      let booking = (await t.bookings.get(b.id))!;
      let started = false;
      const bothHere = participants.filter((p) => p.present).length === 2;
      if (present && bothHere && booking.status === 'confirmed') {
        booking = (await t.bookings.transition(b.id, ['confirmed'], 'in_progress', now, { startedAt: now }))!;
        started = true;
        if (booking.creditId) {
          await t.credits.record(booking.creditId, 'consume', b.id, 'session started', now);
          await this.d.webhooks.enqueue(
            t.q,
            'credit.consumed',
            { clientId: b.clientId, bookingId: b.id, creditId: booking.creditId },
            now,
          );
        }
        await t.jobs.cancel([jobId(b.id, 'no-show-check')]);
        await this.notice(t, booking, 'session_started', now);
        await this.hook(t, 'session.started', booking, now);
      }
      return { booking, participants, started };
    });
  }

  /**
   * Present now: flagged present through a node that is still alive. A node
   * that died (no clean stop) never cleared its participants' flags; those
   * participants are not here until they join again through a live node.
   */
  private async presentNow(participants: LiveParticipant[]): Promise<LiveParticipant[]> {
    const liveness = this.d.liveness;
    if (!liveness) return participants;
    const nodes = participants.filter((p) => p.present && p.nodeId !== null).map((p) => p.nodeId!);
    const alive = nodes.length ? await liveness.alive(nodes) : new Set<string>();
    return participants.map((p) =>
      p.present && p.nodeId !== null && !alive.has(p.nodeId) ? { ...p, present: false } : p,
    );
  }

  /** The provider ends the session: completed. */
  async endSession(actor: Actor, bookingId: string): Promise<Booking> {
    const now = this.d.clock.now();
    return this.tx(async (t) => {
      const b = await this.loadForChange(t, actor, bookingId);
      if (actor.id !== b.providerId) throw new AppError('forbidden', 'only the provider ends the session');
      if (b.status !== 'in_progress')
        throw new AppError('conflict', `booking is ${b.status}, not in_progress`);
      return this.complete(t, b, now);
    });
  }

  private async complete(t: Tx, b: Booking, now: Date): Promise<Booking> {
    const done = (await t.bookings.transition(b.id, ['in_progress'], 'completed', now, {
      endedAt: now,
      outcome: 'completed',
    }))!;
    await t.jobs.cancelByPrefix(`booking:${b.id}:`);
    await this.notice(t, done, 'session_ended', now);
    await this.hook(t, 'session.ended', done, now);
    t.ended.push([done.id, done.status]);
    return done;
  }

  // ---- jobs -----------------------------------------------------------------

  readonly jobHandlers: Record<string, (job: Job) => Promise<void>> = {
    'booking.confirm_deadline': (job) =>
      this.onJob(job, async (t, b, now) => {
        if (b.status === 'pending_confirmation') await this.expire(t, b, now);
      }),
    'booking.reminder': (job) =>
      this.onJob(job, async (t, b, now) => {
        if (b.status !== 'confirmed') return;
        const offsetMs = Number(job.payload.offsetMs);
        const joinUrls = {
          [b.clientId]: this.joinUrl(b, b.clientId),
          [b.providerId]: this.joinUrl(b, b.providerId),
        };
        const { client, provider } = await this.readers(t, b);
        const text = reminderText({
          modality: b.modality,
          startsAt: b.startsAt,
          opensAt: joinWindow(times(b), this.d.policy).opensAt,
          now,
          client: { ...client, joinUrl: joinUrls[b.clientId]! },
          provider: { ...provider, joinUrl: joinUrls[b.providerId]! },
        });
        const { message, duplicate } = await t.messages.append({
          id: randomUUID(),
          roomId: b.roomId,
          senderId: 'talkroom',
          senderRole: 'bot',
          kind: 'system',
          text,
          bookingId: b.id,
          meta: {
            event: 'reminder',
            bookingId: b.id,
            startsAt: b.startsAt,
            joinUrl: joinUrls[b.clientId],
            joinUrls,
            offsetMs,
          },
          clientMsgId: `booking:${b.id}:reminder:${offsetMs}`,
          createdAt: now,
        });
        if (!duplicate) t.notices.push(message);
      }),
    'booking.no_show_check': (job) =>
      this.onJob(job, async (t, b, now) => {
        // Not started by start + grace. If the provider joined and the client
        // never did, it is the client's no-show (credit lost, charged); in every
        // other case, both absent included, it is the provider's: the client
        // keeps the credit to reschedule with.
        if (b.status !== 'confirmed' || b.modality === 'messaging') return;
        const joined = new Set((await t.live.list(b.id)).map((p) => p.role));
        const clientNoShow = joined.has('provider') && !joined.has('client');
        const status = clientNoShow ? 'client_no_show' : 'provider_no_show';
        const missed = (await t.bookings.transition(b.id, ['confirmed'], status, now, { outcome: status }))!;
        if (clientNoShow && noShowCosts(told(missed), this.d.policy)) {
          await this.release(t, missed, 'forfeit', 'client no-show', now);
          await this.charge(t, missed, 'client_no_show', now);
        } else if (clientNoShow) {
          // The provider booked it for them too close to its start to count it against them.
          await this.release(t, missed, 'restore', 'client no-show without notice', now, {
            providerCaused: true,
          });
        } else {
          await this.release(t, missed, 'restore', 'provider no-show', now, { providerCaused: true });
        }
        await this.notice(t, missed, status, now);
        await this.hook(t, 'session.no_show', missed, now, { noShow: clientNoShow ? 'client' : 'provider' });
        t.ended.push([missed.id, status]);
      }),
    'booking.session_end': (job) =>
      this.onJob(job, async (t, b, now) => {
        if (b.status !== 'in_progress' || b.modality === 'messaging') return;
        await this.complete(t, b, now);
      }),
    'booking.messaging_start': (job) =>
      this.onJob(job, async (t, b, now) => {
        const started = await t.bookings.transition(b.id, ['confirmed'], 'in_progress', now, {
          startedAt: now,
        });
        if (!started) return;
        if (started.creditId) {
          await t.credits.record(started.creditId, 'consume', b.id, 'messaging session started', now);
          await this.d.webhooks.enqueue(
            t.q,
            'credit.consumed',
            { clientId: b.clientId, bookingId: b.id, creditId: started.creditId },
            now,
          );
        }
        await this.notice(t, started, 'messaging_started', now);
        await this.hook(t, 'session.started', started, now);
      }),
    'booking.messaging_end': (job) =>
      this.onJob(job, async (t, b, now) => {
        const ended = await t.bookings.transition(b.id, ['in_progress'], 'completed', now, {
          endedAt: now,
          outcome: 'completed',
        });
        if (!ended) return;
        await this.notice(t, ended, 'messaging_ended', now);
        await this.hook(t, 'session.ended', ended, now);
      }),
  };

  private async onJob(job: Job, fn: (t: Tx, b: Booking, now: Date) => Promise<void>): Promise<void> {
    const now = this.d.clock.now();
    await this.tx(async (t) => {
      const id = String(job.payload.bookingId);
      const peek = await t.bookings.get(id);
      if (!peek) return;
      await t.bookings.lockUsers([peek.clientId, peek.providerId]);
      const b = (await t.bookings.get(id, true))!;
      await fn(t, b, now);
    });
  }

  // ---- the pieces -------------------------------------------------------------

  private async loadForChange(t: Tx, actor: Actor, id: string): Promise<Booking> {
    const peek = await t.bookings.get(id);
    if (!peek) throw new AppError('not_found', `booking ${id} not found`);
    if (actor.id !== peek.clientId && actor.id !== peek.providerId) {
      throw new AppError('forbidden', 'not a participant of this booking');
    }
    await t.bookings.lockUsers([peek.clientId, peek.providerId]);
    return (await t.bookings.get(id, true))!;
  }

  private assertChangeable(b: Booking, now: Date): void {
    const started =
      b.status === 'in_progress' ||
      (b.modality === 'messaging' && b.status === 'confirmed' && Date.parse(b.startsAt) <= now.getTime());
    if (started)
      throw new AppError('session_already_started', 'the session has started; it can no longer be changed');
    if (TERMINAL.includes(b.status)) throw new AppError('conflict', `booking is ${b.status}`);
  }

  /** Two messaging sessions of one client never overlap: each would spend a credit on the same days. */
  private async assertNoMessagingOverlap(
    t: Tx,
    clientId: string,
    from: Date,
    to: Date,
    exceptId: string | null,
  ) {
    if (await t.bookings.messagingOverlaps(clientId, from, to, exceptId)) {
      throw new AppError('conflict', 'startsAt: the client already has a messaging session in that time');
    }
  }

  private async assertSlotFree(
    t: Tx,
    providerId: string,
    startsAt: Date,
    durationMs: number,
    now: Date,
    exceptId: string | null,
  ) {
    const provider = await t.users.get(providerId);
    if (!provider) throw new AppError('not_found', `provider ${providerId} not found`);
    const slot = {
      startsAt,
      durationMin: durationMs / 60_000,
      stepMs: this.d.policy.slotStepMs,
      timezone: provider.timezone,
      hours: provider.workingHours ?? DEFAULT_WORKING_HOURS,
      notBefore: new Date(now.getTime() + this.d.policy.minNoticeMs),
    };
    if (!isOpenSlot({ ...slot, busy: [] })) {
      throw new AppError(
        'invalid_input',
        'startsAt: not one of the provider’s slots (see GET /v1/providers/:id/slots)',
      );
    }
    const end = new Date(startsAt.getTime() + durationMs);
    const busy = await t.bookings.busy(providerId, startsAt, end, exceptId ?? undefined);
    if (busy.length) throw new AppError('conflict', 'startsAt: that slot has just been taken');
  }

  private async takeCredit(
    t: Tx,
    clientId: string,
    type: 'live' | 'messaging',
    bookingId: string,
    o: { purchase: boolean; outOfPocket: boolean; now: Date },
  ): Promise<string> {
    const [first] = await t.credits.available(clientId, type, o.now);
    if (first) return first.creditId;
    if (o.purchase) {
      if (!o.outOfPocket)
        throw new AppError('no_credit', 'no credit left, and only out-of-pocket plans buy more');
      const { creditIds } = await t.credits.purchase(clientId, 1, `booking:${bookingId}`, o.now);
      await this.d.webhooks.enqueue(t.q, 'credit.purchased', { clientId, count: 1, bookingId }, o.now);
      return creditIds[0]!;
    }
    throw new AppError(
      'no_credit',
      o.outOfPocket
        ? 'no session credit left; book with purchase: true to buy one'
        : 'no session credit left this period',
    );
  }

  /**
   * Stores a new booking holding `creditId` and reserves that credit for it.
   * A provider booking for their client (say from shared availability) needs
   * no confirmation; nor does a messaging session.
   */
  private async place(
    t: Tx,
    actor: Actor,
    b: Omit<NewBooking, 'status' | 'confirmBy' | 'createdBy' | 'creditId'> & {
      creditId: string;
      reason: string;
    },
  ): Promise<Booking> {
    const status: BookingStatus =
      actor.role === 'provider' || b.modality === 'messaging' ? 'confirmed' : 'pending_confirmation';
    const booking = await t.bookings.insert({
      ...b,
      status,
      confirmBy: status === 'pending_confirmation' ? confirmBy(b, b.now, this.d.policy) : null,
      createdBy: actor.id,
    });
    await t.credits.record(b.creditId, 'reserve', b.id, b.reason, b.now);
    return booking;
  }

  /**
   * Gives a booking's credit back (restore) or takes it (forfeit), and drops the
   * booking's pending jobs. A credit the provider gave back stays usable for a
   * rebooking even if its period has ended (POLICY_RESTORE_VALIDITY).
   */
  private async release(
    t: Tx,
    b: Booking,
    kind: 'restore' | 'forfeit',
    reason: string,
    now: Date,
    o: { providerCaused?: boolean } = {},
  ) {
    if (b.creditId) {
      const latest = await t.credits.latest(b.creditId);
      if (latest?.kind === 'reserve' && latest.bookingId === b.id) {
        const current = latest.expiresAt === null ? null : new Date(latest.expiresAt);
        const expiresAt =
          kind === 'restore' && o.providerCaused ? restoredExpiry(current, now, this.d.policy) : current;
        await t.credits.record(b.creditId, kind, b.id, reason, now, expiresAt);
        await this.d.webhooks.enqueue(
          t.q,
          `credit.${kind === 'restore' ? 'restored' : 'forfeited'}`,
          { clientId: b.clientId, bookingId: b.id, creditId: b.creditId },
          now,
        );
      }
    }
    await t.jobs.cancelByPrefix(`booking:${b.id}:`);
  }

  private async charge(t: Tx, b: Booking, reason: string, now: Date) {
    if (await t.bookings.recordCharge(randomUUID(), b.clientId, b.id, reason, now)) {
      await this.d.webhooks.enqueue(
        t.q,
        'credit.charged',
        { clientId: b.clientId, bookingId: b.id, reason },
        now,
      );
    }
  }

  private async expire(t: Tx, b: Booking, now: Date) {
    const expired = await t.bookings.transition(b.id, ['pending_confirmation'], 'expired', now);
    if (!expired) return;
    await this.release(t, expired, 'restore', 'not confirmed in time', now, { providerCaused: true });
    await this.notice(t, expired, 'expired', now);
    await this.hook(t, 'booking.expired', expired, now);
  }

  /** The timed steps of a booking in its current status. Job ids are deterministic, so this is idempotent. */
  private async scheduleFor(t: Tx, b: Booking, now: Date) {
    const tm = times(b);
    const add = (name: string, kind: string, at: Date, extra: Record<string, unknown> = {}) =>
      t.jobs.schedule(jobId(b.id, name), kind, at, { bookingId: b.id, ...extra }, now);
    if (b.modality === 'messaging') {
      await add('messaging-start', 'booking.messaging_start', tm.startsAt);
      await add('messaging-end', 'booking.messaging_end', tm.endsAt);
    } else if (b.status === 'pending_confirmation' && b.confirmBy) {
      await add('confirm-deadline', 'booking.confirm_deadline', new Date(b.confirmBy));
    } else if (b.status === 'confirmed') {
      for (const r of reminderTimes(tm, now, this.d.policy)) {
        await add(`reminder:${r.offsetMs}`, 'booking.reminder', r.at, { offsetMs: r.offsetMs });
      }
      await add(
        'no-show-check',
        'booking.no_show_check',
        new Date(tm.startsAt.getTime() + this.d.policy.noShowGraceMs),
      );
      await add('session-end', 'booking.session_end', tm.endsAt);
    }
    t.scheduled = true;
  }

  /** The booking's two participants as the room's texts address them. */
  private async readers(t: Tx, b: Booking): Promise<{ client: Reader; provider: Reader }> {
    const [c, p] = await Promise.all([t.users.get(b.clientId), t.users.get(b.providerId)]);
    return {
      client: { name: c?.displayName ?? 'the client', timezone: c?.timezone ?? 'UTC' },
      provider: { name: p?.displayName ?? 'the provider', timezone: p?.timezone ?? 'UTC' },
    };
  }

  /** Tells the room, as a system message stored in the same transaction. */
  private async notice(t: Tx, b: Booking, event: string, now: Date, extra: Record<string, unknown> = {}) {
    const { client, provider } = await this.readers(t, b);
    const when = (iso: string) => whenFor(iso, client, provider);
    const { message, duplicate } = await t.messages.append({
      id: randomUUID(),
      roomId: b.roomId,
      senderId: 'talkroom',
      senderRole: 'bot',
      kind: 'system',
      text: NOTICE_TEXT[event]?.(b, when) ?? `Session ${event.replace(/_/g, ' ')}.`,
      bookingId: b.id,
      meta: {
        event,
        bookingId: b.id,
        status: b.status,
        startsAt: b.startsAt,
        modality: b.modality,
        ...extra,
      },
      clientMsgId: `booking:${b.id}:${event}`,
      createdAt: now,
    });
    if (!duplicate) t.notices.push(message);
  }

  /** A booking changed by anyone but its client is audited, in the change's transaction. */
  private async audited(t: Tx, actor: Actor, action: AuditAction, b: Booking, now: Date): Promise<void> {
    if (actor.id === b.clientId) return;
    await audit(t.q, actor, action, now, { roomId: b.roomId, subjectId: b.clientId });
  }

  private hook(t: Tx, type: string, b: Booking, now: Date, extra: Record<string, unknown> = {}) {
    return this.d.webhooks.enqueue(t.q, type, { booking: bookingForWebhook(b), ...extra }, now);
  }

  private tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    return inTx(this.d.store.db, fn, (t) => {
      for (const to of t.entered) this.d.metrics.bookingTransitions.inc({ to });
      for (const m of t.notices) this.d.events.messageNew(m);
      for (const [id, status] of t.ended) this.d.sessionEnded(id, status);
      if (t.scheduled) this.d.wakeScheduler();
    });
  }
}

/** Each notice's text; `when` gives a time in each reader's zone. */
const NOTICE_TEXT: Record<string, (b: Booking, when: (iso: string) => string) => string> = {
  booked: (b, when) => `A ${b.modality} session was booked for ${when(b.startsAt)}.`,
  confirmed: (b, when) => `The ${b.modality} session on ${when(b.startsAt)} is confirmed.`,
  declined: (b, when) => `The provider declined the session on ${when(b.startsAt)}; the credit is back.`,
  expired: (b, when) =>
    `The session on ${when(b.startsAt)} was not confirmed in time and expired; the credit is back.`,
  cancelled: (b, when) => `The session on ${when(b.startsAt)} was cancelled; the credit is back.`,
  late_cancelled: (b, when) => `The session on ${when(b.startsAt)} was cancelled late; the credit is used.`,
  rescheduled: (b, when) => `The session moved to ${when(b.startsAt)}.`,
  session_started: (b) => `The ${b.modality} session has started.`,
  session_ended: () => 'The session has ended.',
  client_no_show: (b, when) =>
    `The client did not join the session on ${when(b.startsAt)}; the session credit is used.`,
  provider_no_show: (b, when) =>
    `The provider did not join the session on ${when(b.startsAt)}. Your credit is back: reschedule with the same credit.`,
  charge_waived: (b, when) =>
    `The provider waived the charge for the session on ${when(b.startsAt)}; the credit is back.`,
  messaging_started: () => 'Messaging session in progress.',
  messaging_ended: () => 'The messaging session has ended.',
};

/**
 * A booking as it leaves the server in a webhook: ids, times and codes only.
 * Free text a person wrote (a cancel reason) stays in the room: webhooks go to
 * systems outside the therapy relationship. Listed field by field so a new
 * field is not sent until someone decides it may be.
 */
function bookingForWebhook(b: Booking) {
  return {
    id: b.id,
    roomId: b.roomId,
    clientId: b.clientId,
    providerId: b.providerId,
    modality: b.modality,
    startsAt: b.startsAt,
    endsAt: b.endsAt,
    status: b.status,
    creditId: b.creditId,
    confirmBy: b.confirmBy,
    rescheduledFrom: b.rescheduledFrom,
    rescheduledTo: b.rescheduledTo,
    startedAt: b.startedAt,
    endedAt: b.endedAt,
    outcome: b.outcome,
    hasCancelReason: b.cancelReason !== undefined,
    createdBy: b.createdBy,
    createdAt: b.createdAt,
  };
}

const jobId = (bookingId: string, name: string) => `booking:${bookingId}:${name}`;
const times = (b: Pick<Booking, 'startsAt' | 'endsAt'>) => ({
  startsAt: new Date(b.startsAt),
  endsAt: new Date(b.endsAt),
});
/** The booking's times and when the client was told of it (the room hears in the transaction that makes it). */
const told = (b: Booking) => ({
  ...times(b),
  toldAt: new Date(b.createdAt),
  providerMade: b.createdBy === b.providerId,
});

/** Support staff help with requests but never manage sessions for anyone. */
function assertMayManage(actor: Actor): void {
  if (actor.role === 'support') {
    throw new AppError(
      'support_cannot_manage_sessions',
      'support cannot schedule, reschedule or cancel sessions for anyone',
    );
  }
  if (actor.role !== 'client' && actor.role !== 'provider') {
    throw new AppError('forbidden', 'sessions are managed by their client and provider');
  }
}

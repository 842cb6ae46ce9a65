import { randomUUID } from 'node:crypto';
import type { JoinTokens } from '../../auth/join-tokens.ts';
import type { Clock } from '../../clock.ts';
import {
  type BookingEvent,
  decide,
  LIFECYCLE,
  type NoticeEvent,
  type Transition,
} from '../../domain/booking-lifecycle.ts';
import {
  type BookingStatus,
  confirmBy,
  joinWindow,
  type Policy,
  reminderTimes,
} from '../../domain/bookings.ts';
import type { Actor } from '../../domain/types.ts';
import { AppError } from '../../errors.ts';
import type { Booking, BookingStore, NewBooking } from '../../store/bookings.ts';
import type { Store } from '../../store/index.ts';
import { type AuditAction, audit } from '../audit.ts';
import { NOTICE_TEXT, type Reader, whenFor } from '../booking-texts.ts';
import type { CreditService } from '../credits.ts';
import type { Repos, Tx, UnitOfWork } from '../unit-of-work.ts';
import type { Webhooks } from '../webhooks.ts';

/** What the booking operations, their timers and live attendance share. */
export interface BookingDeps {
  uow: UnitOfWork;
  store: Store;
  clock: Clock;
  credits: CreditService;
  webhooks: Webhooks;
  joinTokens: JoinTokens;
  /** The server's public address (known once it listens): join links start with it. */
  publicUrl: () => string;
  policy: Policy;
}

type Patch = Parameters<BookingStore['transition']>[4];

/** What a row's notices and webhook carry besides the booking. */
export interface Extras {
  /** Sets these fields as the booking moves. */
  set?: Patch;
  /** Added to the notice's meta. */
  notice?: Record<string, unknown>;
  /** Added to the webhook's data. */
  hook?: Record<string, unknown>;
  /** Who acts (a waive is recorded with them). */
  by?: string;
}

/** Stable ids of a booking's jobs: scheduling again finds them, a change cancels them by prefix. */
export const jobId = (bookingId: string, name: string) => `booking:${bookingId}:${name}`;

export const times = (b: Pick<Booking, 'startsAt' | 'endsAt'>) => ({
  startsAt: new Date(b.startsAt),
  endsAt: new Date(b.endsAt),
});

/** The booking's times and when the client was told of it (the room hears in the transaction that makes it). */
export const told = (b: Booking) => ({
  ...times(b),
  toldAt: new Date(b.createdAt),
  providerMade: b.createdBy === b.providerId,
});

/**
 * Executes the lifecycle table (src/domain/booking-lifecycle.ts): a row's
 * status change, credit move, charge, jobs, notices and webhook, in one unit
 * of work, and the domain events they make. The operations only decide which
 * event a request or a timer is.
 */
export class Lifecycle {
  readonly d: BookingDeps;
  constructor(d: BookingDeps) {
    this.d = d;
  }

  /** Refuses, with the table's code, an event the booking's status does not allow. */
  assertAllowed(b: Booking, event: BookingEvent): Transition {
    const d = decide(b.status, event);
    if (!d.ok) throw new AppError(d.code, d.message);
    return d.row;
  }

  /** Moves an existing booking by `event`. */
  async apply(t: Tx, b: Booking, event: BookingEvent, now: Date, x: Extras = {}): Promise<Booking> {
    const row = this.assertAllowed(b, event);
    let moved = b;
    if (row.to !== null && row.from !== 'new') {
      const next = await t.bookings.transition(b.id, row.from, row.to, now, x.set);
      if (!next) throw new AppError('conflict', `booking ${b.id} changed meanwhile; try again`);
      moved = next;
      if (!row.from.includes(row.to)) t.emit({ type: 'booking.changed', bookingId: b.id, status: row.to });
    }
    if (row.credit) await this.d.credits.move(t, moved, row.credit, now);
    if (row.charge) await this.d.credits.charge(t, moved, row.charge, x.by ?? moved.providerId, now);
    await this.jobs(t, moved, row, now);
    await this.effects(t, moved, row, now, x);
    return moved;
  }

  /** Makes a new booking by `event` (book, rebook): stored, holding `creditId`, its jobs and notices. */
  async enter(
    t: Tx,
    actor: Actor,
    event: 'book' | 'book_confirmed' | 'rebook' | 'rebook_confirmed',
    b: Omit<NewBooking, 'status' | 'confirmBy' | 'createdBy' | 'creditId' | 'now'> & { creditId: string },
    reason: string,
    now: Date,
    x: Extras = {},
  ): Promise<Booking> {
    const row = LIFECYCLE[event];
    const status = row.to as BookingStatus;
    const booking = await t.bookings.insert({
      ...b,
      status,
      confirmBy: status === 'pending_confirmation' ? confirmBy(b, now, this.d.policy) : null,
      createdBy: actor.id,
      now,
    });
    t.emit({ type: 'booking.changed', bookingId: booking.id, status });
    await this.d.credits.reserve(t, b.creditId, b.id, reason, now);
    await this.jobs(t, booking, row, now);
    await this.effects(t, booking, row, now, x);
    return booking;
  }

  private async jobs(t: Tx, b: Booking, row: Transition, now: Date) {
    const { cancel } = row.jobs;
    if (cancel === 'all') await t.jobs.cancelByPrefix(jobId(b.id, ''));
    else if (cancel.length) await t.jobs.cancel(cancel.map((name) => jobId(b.id, name)));
    if (row.jobs.schedule) await this.scheduleFor(t, b, now);
  }

  private async effects(t: Tx, b: Booking, row: Transition, now: Date, x: Extras) {
    for (const n of row.notices) await this.notice(t, b, n, now, x.notice);
    if (row.webhook) {
      const data =
        row.webhook.data === 'booking'
          ? { booking: bookingForWebhook(b), ...x.hook }
          : { clientId: b.clientId, bookingId: b.id, ...x.hook };
      await this.d.webhooks.enqueue(t.jobs, row.webhook.type, data, now);
    }
    if (row.to === 'in_progress' && b.startedAt) {
      t.emit({ type: 'session.started', bookingId: b.id, modality: b.modality, startedAt: b.startedAt });
    }
    if (row.endsSession) t.emit({ type: 'session.ended', bookingId: b.id, status: b.status });
  }

  /** The timed steps of a booking in its current status. Job ids are deterministic, so this is idempotent. */
  private async scheduleFor(t: Tx, b: Booking, now: Date) {
    const tm = times(b);
    const bookingId = b.id;
    const p = this.d.policy;
    if (b.modality === 'messaging') {
      await t.jobs.add(
        jobId(b.id, 'messaging-start'),
        'booking.messaging_start',
        tm.startsAt,
        { bookingId },
        now,
      );
      await t.jobs.add(jobId(b.id, 'messaging-end'), 'booking.messaging_end', tm.endsAt, { bookingId }, now);
    } else if (b.status === 'pending_confirmation' && b.confirmBy) {
      const at = new Date(b.confirmBy);
      await t.jobs.add(jobId(b.id, 'confirm-deadline'), 'booking.confirm_deadline', at, { bookingId }, now);
    } else if (b.status === 'confirmed') {
      for (const r of reminderTimes(tm, now, p)) {
        const payload = { bookingId, offsetMs: r.offsetMs };
        await t.jobs.add(jobId(b.id, `reminder:${r.offsetMs}`), 'booking.reminder', r.at, payload, now);
      }
      const check = new Date(tm.startsAt.getTime() + p.noShowGraceMs);
      await t.jobs.add(jobId(b.id, 'no-show-check'), 'booking.no_show_check', check, { bookingId }, now);
      await t.jobs.add(jobId(b.id, 'session-end'), 'booking.session_end', tm.endsAt, { bookingId }, now);
    }
  }

  /** The booking's two participants as the room's texts address them. */
  async readers(t: Repos, b: Booking): Promise<{ client: Reader; provider: Reader }> {
    const [c, p] = await Promise.all([t.users.get(b.clientId), t.users.get(b.providerId)]);
    return {
      client: { name: c?.displayName ?? 'the client', timezone: c?.timezone ?? 'UTC' },
      provider: { name: p?.displayName ?? 'the provider', timezone: p?.timezone ?? 'UTC' },
    };
  }

  /** Tells the room, as a system message stored in the same transaction. */
  async notice(t: Tx, b: Booking, event: NoticeEvent, now: Date, extra: Record<string, unknown> = {}) {
    const { client, provider } = await this.readers(t, b);
    const when = (iso: string) => whenFor(iso, client, provider);
    const meta = {
      event,
      bookingId: b.id,
      status: b.status,
      startsAt: b.startsAt,
      modality: b.modality,
      ...extra,
    };
    await this.system(t, b, NOTICE_TEXT[event](b, when), meta, `booking:${b.id}:${event}`, now);
  }

  /** Stores a system message about a booking (once per clientMsgId) and tells the room after commit. */
  async system(
    t: Tx,
    b: Booking,
    text: string,
    meta: Record<string, unknown>,
    clientMsgId: string,
    now: Date,
  ) {
    const { message, duplicate } = await t.messages.append({
      id: randomUUID(),
      roomId: b.roomId,
      senderId: 'talkroom',
      senderRole: 'bot',
      kind: 'system',
      text,
      bookingId: b.id,
      meta,
      clientMsgId,
      createdAt: now,
    });
    if (!duplicate) t.emit({ type: 'message.stored', message });
  }

  /** A booking changed by anyone but its client is audited, in the change's transaction. */
  async audited(t: Tx, actor: Actor, action: AuditAction, b: Booking, now: Date): Promise<void> {
    if (actor.id === b.clientId) return;
    await audit(t.q, actor, action, now, { roomId: b.roomId, subjectId: b.clientId });
  }

  /** The booking, locked for a change by one of its participants (both users' locks first, in id order). */
  async loadForChange(t: Tx, actor: Actor, id: string): Promise<Booking> {
    const peek = await t.bookings.get(id);
    if (!peek) throw new AppError('not_found', `booking ${id} not found`);
    if (actor.id !== peek.clientId && actor.id !== peek.providerId) {
      throw new AppError('forbidden', 'not a participant of this booking');
    }
    await t.bookings.lockUsers([peek.clientId, peek.providerId]);
    return (await t.bookings.get(id, true))!;
  }

  /** A booking its participant reads: one row, no transaction. */
  async read(actor: Actor, id: string): Promise<Booking> {
    const b = await this.d.uow.read.bookings.get(id);
    if (!b) throw new AppError('not_found', `booking ${id} not found`);
    if (actor.id !== b.clientId && actor.id !== b.providerId)
      throw new AppError('forbidden', 'not a participant of this booking');
    return b;
  }

  /** A participant's join link: signed for this booking and user, valid in its join window. */
  joinUrl(b: Pick<Booking, 'id' | 'startsAt' | 'endsAt'>, userId: string): string {
    const w = joinWindow(times(b), this.d.policy);
    return `${this.d.publicUrl()}/join/${this.d.joinTokens.sign({ bookingId: b.id, userId, ...w })}`;
  }
}

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

import type { BookingEvent } from '../../domain/booking-lifecycle.ts';
import { decide } from '../../domain/booking-lifecycle.ts';
import { joinWindow, noShowCosts } from '../../domain/bookings.ts';
import type { JobHandlers, TypedJob } from '../../jobs/kinds.ts';
import type { Booking } from '../../store/bookings.ts';
import { type AuditAction, auditBySystem } from '../audit.ts';
import { reminderText } from '../booking-texts.ts';
import type { Tx } from '../unit-of-work.ts';
import { type Lifecycle, times, told } from './lifecycle.ts';

type BookingJobKind =
  | 'booking.confirm_deadline'
  | 'booking.reminder'
  | 'booking.no_show_check'
  | 'booking.session_end'
  | 'booking.messaging_start'
  | 'booking.messaging_end';

/** What each status a timer moves a booking to is audited as. */
const AUDITED: Partial<Record<Booking['status'], AuditAction>> = {
  expired: 'booking.expire',
  client_no_show: 'booking.no_show',
  provider_no_show: 'booking.no_show',
  completed: 'booking.complete',
  in_progress: 'booking.messaging_start',
};

/**
 * The timed steps the scheduler drives: confirmation deadlines, reminders,
 * no-show checks, the end of a live session and the start and end of a
 * messaging session. A timer whose booking has moved on meanwhile does nothing.
 */
export function bookingTimers(lc: Lifecycle): Pick<JobHandlers, BookingJobKind> {
  /** Runs `fn` on the job's booking, locked, if the lifecycle still allows `event`. */
  const on =
    <K extends BookingJobKind>(
      event: BookingEvent | null,
      fn: (t: Tx, b: Booking, now: Date, job: TypedJob<K>) => Promise<unknown>,
    ) =>
    async (job: TypedJob<K>): Promise<void> => {
      const now = lc.d.clock.now();
      await lc.d.uow.run(async (t) => {
        const id = job.payload.bookingId;
        const peek = await t.bookings.get(id);
        if (!peek) return;
        await t.bookings.lockUsers([peek.clientId, peek.providerId]);
        const b = (await t.bookings.get(id, true))!;
        if (event && !decide(b.status, event).ok) return;
        await fn(t, b, now, job);
        // A booking the scheduler changed is audited as the server's own change, in the same transaction.
        const after = await t.bookings.get(id);
        const action = after && after.status !== b.status ? AUDITED[after.status] : undefined;
        if (action) await auditBySystem(t.q, action, now, { roomId: b.roomId, subjectId: b.clientId });
      });
    };

  return {
    'booking.confirm_deadline': on('expire', (t, b, now) => lc.apply(t, b, 'expire', now)),
    'booking.reminder': on(null, async (t, b, now, job) => {
      if (b.status !== 'confirmed') return;
      const { offsetMs } = job.payload;
      const joinUrls = {
        [b.clientId]: lc.joinUrl(b, b.clientId),
        [b.providerId]: lc.joinUrl(b, b.providerId),
      };
      const { client, provider } = await lc.readers(t, b);
      const text = reminderText({
        modality: b.modality,
        startsAt: b.startsAt,
        opensAt: joinWindow(times(b), lc.d.policy).opensAt,
        now,
        client: { ...client, joinUrl: joinUrls[b.clientId]! },
        provider: { ...provider, joinUrl: joinUrls[b.providerId]! },
      });
      const meta = {
        event: 'reminder',
        bookingId: b.id,
        startsAt: b.startsAt,
        joinUrl: joinUrls[b.clientId],
        joinUrls,
        offsetMs,
      };
      await lc.system(t, b, text, meta, `booking:${b.id}:reminder:${offsetMs}`, now);
    }),
    // Not started by start + grace. If the provider joined and the client never
    // did, it is the client's no-show (credit lost, charged); in every other
    // case, both absent included, it is the provider's: the client keeps the
    // credit to reschedule with.
    'booking.no_show_check': on('provider_no_show', async (t, b, now) => {
      if (b.modality === 'messaging') return;
      const joined = new Set((await t.live.list(b.id)).map((p) => p.role));
      const clientNoShow = joined.has('provider') && !joined.has('client');
      const event = !clientNoShow
        ? 'provider_no_show'
        : noShowCosts(told(b), lc.d.policy)
          ? 'client_no_show'
          : 'client_no_show_excused';
      const status = clientNoShow ? 'client_no_show' : 'provider_no_show';
      await lc.apply(t, b, event, now, {
        set: { outcome: status },
        hook: { noShow: clientNoShow ? 'client' : 'provider' },
      });
    }),
    'booking.session_end': on('end', async (t, b, now) => {
      if (b.modality === 'messaging') return;
      await lc.apply(t, b, 'end', now, { set: { endedAt: now, outcome: 'completed' } });
    }),
    'booking.messaging_start': on('messaging_start', (t, b, now) =>
      lc.apply(t, b, 'messaging_start', now, { set: { startedAt: now } }),
    ),
    'booking.messaging_end': on('messaging_end', (t, b, now) =>
      lc.apply(t, b, 'messaging_end', now, { set: { endedAt: now, outcome: 'completed' } }),
    ),
  };
}

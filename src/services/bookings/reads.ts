import { sessionChatOpen } from '../../domain/bookings.ts';
import { slotPage, slotWindow } from '../../domain/slots.ts';
import type { Actor, TimeRange } from '../../domain/types.ts';
import { DEFAULT_WORKING_HOURS } from '../../domain/working-hours.ts';
import { AppError } from '../../errors.ts';
import type { Booking } from '../../store/bookings.ts';
import { readCursor, writeCursor } from '../cursor.ts';
import type { MessagingSessionGate } from '../ports.ts';
import { readableRoom } from '../rooms.ts';
import { DEFAULT_SESSION_MIN } from './create.ts';
import { type Lifecycle, times } from './lifecycle.ts';

/** Most bookings one list answer holds. */
const MAX_LIST = 500;

/**
 * The bookings of the actor's rooms (or one room) in start order, a page at
 * a time: `next` is the cursor for the page after, while `hasMore`.
 */
export async function listBookings(
  lc: Lifecycle,
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
    await readableRoom(lc.d.store, actor, filter.roomId);
    roomIds = [filter.roomId];
  } else {
    roomIds = (await lc.d.store.rooms.listVisibleTo(actor.id, actor.role))
      .filter((r) => r.kind === 'therapy')
      .map((r) => r.id);
  }
  const rows = await lc.d.uow.read.bookings.list({ roomIds, status: filter.status, after, limit: limit + 1 });
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
export async function openSlots(
  lc: Lifecycle,
  providerId: string,
  q: { from?: string | undefined; to?: string | undefined; durationMin?: number | undefined },
): Promise<{ slots: TimeRange[]; hasMore: boolean; next?: string }> {
  const { policy } = lc.d;
  const provider = await lc.d.store.users.get(providerId);
  if (provider?.role !== 'provider') throw new AppError('not_found', `provider ${providerId} not found`);
  const now = lc.d.clock.now();
  const from = q.from ? new Date(q.from) : now;
  const to = q.to ? new Date(q.to) : new Date(from.getTime() + 14 * 86_400_000);
  if (to <= from) throw new AppError('invalid_input', 'to: must be after from');
  const notBefore = new Date(now.getTime() + policy.minNoticeMs);
  // Only the bookings the answer can reach, however long the range asked.
  const window = slotWindow({ from, to, notBefore });
  const busy =
    window.start < window.end ? await lc.d.uow.read.bookings.busy(providerId, window.start, window.end) : [];
  const page = slotPage({
    from,
    to,
    durationMin: q.durationMin ?? DEFAULT_SESSION_MIN,
    stepMs: policy.slotStepMs,
    timezone: provider.timezone,
    hours: provider.workingHours ?? DEFAULT_WORKING_HOURS,
    busy,
    notBefore,
  });
  return page.next
    ? { slots: page.slots, hasMore: true, next: page.next.toISOString() }
    : { slots: page.slots, hasMore: false };
}

/** eap and bh_insurance clients message while a messaging session is in progress. */
export function messagingGate(lc: Lifecycle): MessagingSessionGate {
  const bookings = lc.d.uow.read.bookings;
  return {
    isOpen: (roomId, _clientId, at) => bookings.messagingSessionOpen(roomId, at),
    sessionChat: async (roomId, bookingId, at) => {
      const b = await bookings.get(bookingId);
      if (b?.roomId !== roomId) return 'none';
      const open = sessionChatOpen({ ...times(b), modality: b.modality, status: b.status }, at, lc.d.policy);
      return open ? 'open' : 'closed';
    },
  };
}

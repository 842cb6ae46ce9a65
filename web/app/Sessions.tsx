/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Booking, PlanView, Room } from './api.ts';
import { AskProvider } from './BookingRequest.tsx';
import { BookPanel } from './BookPanel.tsx';
import { ErrorLine } from './ErrorLine.tsx';
import { isLate, joinOpensAt } from './policy.ts';
import { SlotPicker } from './SlotPicker.tsx';
import type { AppStore } from './store.ts';
import { clock, joinUrlFor, MODALITY_WORDS, STATUS_WORDS, when } from './time.ts';

const UPCOMING: Booking['status'][] = ['pending_confirmation', 'confirmed', 'in_progress'];

/** The viewer's join link from the booking's latest reminder in the room, if one came. */
export function joinLink(store: AppStore, b: Booking): string | null {
  const msgs = store.timeline(b.roomId).messages;
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.kind === 'system' && m.bookingId === b.id) {
      const url = joinUrlFor(m, store.me.userId);
      if (url) return url;
    }
  }
  return null;
}

export function Sessions({
  store,
  room,
  plan,
  mayMessage,
  onMessagingNow,
}: {
  store: AppStore;
  room: Room;
  plan: PlanView | null;
  /** Whether the client may write to the provider here; if not, they ask about a booking instead. */
  mayMessage: boolean;
  onMessagingNow: (on: boolean) => void;
}) {
  const [bookings, setBookings] = useState<Booking[]>([]);
  const [booking, setBooking] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const isClient = store.me.role === 'client';

  const load = () =>
    store.loadBookings(room.id).then(
      (all) => {
        setBookings(all);
        onMessagingNow(all.some((b) => b.modality === 'messaging' && b.status === 'in_progress'));
      },
      () => {},
    );
  // Every system message in the room may be a booking's change: load again on each.
  useEffect(() => {
    void load();
  }, [room.id, room.lastSeq]);

  const messaging = bookings.find((b) => b.modality === 'messaging' && b.status === 'in_progress');
  const upcoming = bookings
    .filter((b) => UPCOMING.includes(b.status) && b !== messaging)
    .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));

  return (
    <div class="sessions">
      {messaging && (
        <p class="banner progress" role="status">
          <strong>Messaging session in progress</strong> — until {when(messaging.endsAt)}.
        </p>
      )}
      {note && (
        <p class="banner" role="status">
          {note}
        </p>
      )}
      {upcoming.length > 0 && (
        <ul class="upcoming" aria-label="Upcoming sessions">
          {upcoming.map((b) => (
            <BookingItem
              key={b.id}
              store={store}
              b={b}
              mayMessage={mayMessage}
              onChanged={(n) => {
                setNote(n);
                void load();
              }}
            />
          ))}
        </ul>
      )}
      {isClient &&
        (booking ? (
          <BookPanel
            store={store}
            room={room}
            plan={plan}
            onClose={(booked) => {
              setBooking(false);
              if (booked) setNote('Booked. Your provider confirms it before the session.');
              void load();
            }}
          />
        ) : (
          <button type="button" class="primary book-open" onClick={() => setBooking(true)}>
            Book a session
          </button>
        ))}
    </div>
  );
}

type Pending = { action: 'cancel' } | { action: 'reschedule'; startsAt: string | null };

function BookingItem({
  store,
  b,
  mayMessage,
  onChanged,
}: {
  store: AppStore;
  b: Booking;
  mayMessage: boolean;
  onChanged: (note: string) => void;
}) {
  const [pending, setPending] = useState<Pending | null>(null);
  const [error, setError] = useState<string | null>(null);
  const isClient = store.me.role === 'client';
  const isProvider = store.me.role === 'provider';
  const late = isClient && isLate(b);
  const card = useRef<HTMLLIElement>(null);

  // The provider chose to act on a booking request in the timeline: open that action here.
  const acting = store.acting?.bookingId === b.id ? store.acting.action : null;
  useEffect(() => {
    if (!acting) return;
    store.acting = null;
    setPending(acting === 'cancel' ? { action: 'cancel' } : { action: 'reschedule', startsAt: null });
    card.current?.scrollIntoView({ block: 'nearest' });
  }, [acting]);
  const link = joinLink(store, b);
  const opensAt = joinOpensAt(b);

  const run = async (fn: () => Promise<unknown>, done: string) => {
    setError(null);
    try {
      await fn();
      setPending(null);
      onChanged(done);
    } catch (e) {
      setError((e as TalkroomError).message);
    }
  };

  return (
    <li class="booking card" data-booking={b.id} ref={card}>
      <p>
        <strong class="cap">{MODALITY_WORDS[b.modality]}</strong> · {when(b.startsAt)}–{clock(b.endsAt)}
      </p>
      <p class="muted">
        {STATUS_WORDS[b.status]}
        {b.status === 'pending_confirmation' && b.confirmBy ? ` (by ${when(b.confirmBy)})` : ''}
      </p>
      <div class="actions">
        {b.modality !== 'messaging' &&
          (b.status === 'confirmed' || b.status === 'in_progress') &&
          (link ? (
            <a class="button primary" href={link} target="_blank" rel="noopener">
              Join
            </a>
          ) : (
            <span class="muted">Join opens {when(opensAt)}</span>
          ))}
        {isProvider && b.status === 'pending_confirmation' && (
          <>
            <button
              type="button"
              class="primary"
              onClick={() => run(() => store.api.act(b.id, 'confirm'), 'Confirmed.')}
            >
              Confirm
            </button>
            <button
              type="button"
              onClick={() => run(() => store.api.act(b.id, 'decline'), 'Declined; the credit is back.')}
            >
              Decline
            </button>
          </>
        )}
        {b.status !== 'in_progress' && !pending && (
          <>
            <button type="button" onClick={() => setPending({ action: 'reschedule', startsAt: null })}>
              Reschedule
            </button>
            <button type="button" class="danger" onClick={() => setPending({ action: 'cancel' })}>
              Cancel
            </button>
          </>
        )}
      </div>
      {pending && (
        <div class="confirm" role="alertdialog" aria-labelledby={`confirm-${b.id}`}>
          <p id={`confirm-${b.id}`}>
            {pending.action === 'cancel' ? 'Cancel this session?' : 'Move this session to another time?'}
          </p>
          {late && (
            <p class="warning">
              It is less than 24 hours before the session: if you {pending.action} now, the credit is lost and
              the session is charged.
            </p>
          )}
          {pending.action === 'reschedule' && (
            <SlotPicker
              store={store}
              providerId={b.providerId}
              chosen={pending.startsAt}
              onChoose={(startsAt) => setPending({ action: 'reschedule', startsAt })}
            />
          )}
          <div class="actions">
            {pending.action === 'cancel' ? (
              <button
                type="button"
                class="danger"
                onClick={() => run(() => store.api.act(b.id, 'cancel'), 'Cancelled.')}
              >
                {late ? 'Cancel and lose the credit' : 'Yes, cancel'}
              </button>
            ) : (
              <button
                type="button"
                class="primary"
                disabled={!pending.startsAt}
                onClick={() =>
                  pending.startsAt &&
                  run(
                    () => store.api.reschedule(b.id, pending.startsAt!),
                    `Moved to ${when(pending.startsAt)}.`,
                  )
                }
              >
                {pending.startsAt ? `Move to ${when(pending.startsAt)}` : 'Choose a new time'}
              </button>
            )}
            <button type="button" onClick={() => setPending(null)}>
              Keep it
            </button>
          </div>
        </div>
      )}
      {isClient && !pending && (!mayMessage || late) && b.status !== 'in_progress' && (
        <AskProvider store={store} b={b} onSent={onChanged} />
      )}
      <ErrorLine error={error} />
    </li>
  );
}

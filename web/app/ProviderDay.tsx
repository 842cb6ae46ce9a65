/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import type { Booking } from './api.ts';
import { joinOpensAt } from './policy.ts';
import { orderRooms, roomTitle } from './RoomList.tsx';
import { joinLink } from './Sessions.tsx';
import type { AppStore } from './store.ts';
import { clock, dayKey, MODALITY_WORDS, relative, when } from './time.ts';

/**
 * A provider's day: bookings to confirm before their deadline, today's
 * sessions with who is here now, and the rooms waiting for a reply, most
 * urgent first.
 */
export function ProviderDay({ store, onOpen }: { store: AppStore; onOpen: (roomId: string) => void }) {
  const [pending, setPending] = useState<Booking[] | null>(null);
  const [today, setToday] = useState<Booking[] | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const activity = store.rooms.reduce((n, r) => n + r.lastSeq, 0);

  const load = async () => {
    const [p, c, i] = await Promise.all([
      store.api.bookings({ status: 'pending_confirmation' }),
      store.api.bookings({ status: 'confirmed' }),
      store.api.bookings({ status: 'in_progress' }),
    ]);
    setPending(
      p.sort((a, b) => Date.parse(a.confirmBy ?? a.startsAt) - Date.parse(b.confirmBy ?? b.startsAt)),
    );
    const todayKey = dayKey(new Date());
    const todays = [...i, ...c]
      .filter((b) => b.modality !== 'messaging' && dayKey(b.startsAt) === todayKey)
      .sort((a, b) => Date.parse(a.startsAt) - Date.parse(b.startsAt));
    setToday(todays);
    // The reminders carry the join links: the rooms of today's sessions are loaded to find them.
    for (const b of todays) if (!store.timeline(b.roomId).loaded) void store.loadOlder(b.roomId);
  };
  useEffect(() => {
    load().catch((e: TalkroomError) => setNote(e.message));
  }, [activity]);

  const act = (b: Booking, action: 'confirm' | 'decline') =>
    store.api.act(b.id, action).then(
      () => {
        setNote(action === 'confirm' ? `Confirmed ${when(b.startsAt)}.` : `Declined ${when(b.startsAt)}.`);
        void load();
      },
      (e: TalkroomError) => setNote(e.message),
    );

  const clientOf = (b: Booking) => store.room(b.roomId)?.members.find((m) => m.userId === b.clientId);
  const needReply = orderRooms(
    store.rooms.filter((r) => r.replyDueAt),
    'provider',
  );

  return (
    <div class="day-view">
      {note && (
        <p class="banner" role="status">
          {note}
        </p>
      )}
      <section class="card" aria-labelledby="pending-title">
        <h2 id="pending-title">To confirm</h2>
        {pending === null && <p class="muted">Loading…</p>}
        {pending?.length === 0 && <p class="muted">Nothing waits for your confirmation.</p>}
        <ul class="plain">
          {pending?.map((b) => (
            <li key={b.id} class="row-item" data-booking={b.id}>
              <span>
                <strong>{clientOf(b)?.displayName ?? 'A client'}</strong> · {MODALITY_WORDS[b.modality]} ·{' '}
                {when(b.startsAt)}
                {b.confirmBy && <span class="muted"> — confirm by {when(b.confirmBy)}</span>}
              </span>
              <span class="actions">
                <button type="button" class="primary" onClick={() => act(b, 'confirm')}>
                  Confirm
                </button>
                <button type="button" onClick={() => act(b, 'decline')}>
                  Decline
                </button>
              </span>
            </li>
          ))}
        </ul>
      </section>
      <section class="card" aria-labelledby="today-title">
        <h2 id="today-title">Today</h2>
        {today === null && <p class="muted">Loading…</p>}
        {today?.length === 0 && <p class="muted">No sessions today.</p>}
        <ul class="plain">
          {today?.map((b) => {
            const client = clientOf(b);
            const open = Date.now() >= joinOpensAt(b).getTime() && Date.now() <= Date.parse(b.endsAt);
            const waiting = open && client?.online;
            const link = joinLink(store, b);
            return (
              <li key={b.id} class={`row-item${waiting ? ' waiting' : ''}`} data-booking={b.id}>
                <span>
                  <strong>{clock(b.startsAt)}</strong> {client?.displayName ?? 'A client'} ·{' '}
                  {MODALITY_WORDS[b.modality]}
                  {b.status === 'in_progress' && <span class="tag">In progress</span>}
                  {waiting && <span class="tag live">Waiting now</span>}
                  {!waiting && <span class="muted"> ({relative(b.startsAt)})</span>}
                </span>
                <span class="actions">
                  {link && (
                    <a class="button primary" href={link} target="_blank" rel="noopener">
                      Join
                    </a>
                  )}
                  <button type="button" onClick={() => onOpen(b.roomId)}>
                    Open room
                  </button>
                </span>
              </li>
            );
          })}
        </ul>
      </section>
      <section class="card" aria-labelledby="reply-title">
        <h2 id="reply-title">Waiting for your reply</h2>
        {needReply.length === 0 && <p class="muted">All caught up.</p>}
        <ul class="plain">
          {needReply.map((r) => (
            <li key={r.id} class={`row-item${r.replyOverdue ? ' overdue' : ''}`} data-room={r.id}>
              <span>
                <strong>{roomTitle(store, r)}</strong>{' '}
                {r.replyOverdue ? (
                  <span class="tag overdue-tag">Overdue since {when(r.replyDueAt!)}</span>
                ) : (
                  <span class="muted">reply by {when(r.replyDueAt!)}</span>
                )}
              </span>
              <button type="button" onClick={() => onOpen(r.id)}>
                Open
              </button>
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

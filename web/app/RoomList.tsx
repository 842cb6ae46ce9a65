/// <reference lib="dom" />
import type { Room } from './api.ts';
import type { AppStore } from './store.ts';
import { TICKET_WORDS, ticketRank } from './Ticket.tsx';
import { relative, when } from './time.ts';

/** The room's name for this viewer: the other person, or the requester for the support team. */
export function roomTitle(store: AppStore, room: Room): string {
  const me = store.me;
  if (room.kind === 'support') {
    if (me.role === 'support' || me.role === 'clinical') {
      const requester = room.members.find((m) => m.role === 'client' || m.role === 'provider');
      return `Support: ${requester?.displayName ?? 'a request'}`;
    }
    return 'Support';
  }
  const other = room.members.find(
    (m) => m.userId !== me.userId && (m.role === 'client' || m.role === 'provider'),
  );
  const name = other?.displayName ?? (me.role === 'client' ? 'Your provider' : 'Your client');
  return room.service === 'psychiatry' ? `${name} (psychiatry)` : name;
}

/**
 * Providers see what to answer first: overdue rooms, then by reply deadline,
 * then the rest by latest activity. The support desk: open tickets first,
 * then pending, then resolved, each by latest activity. Clients: latest
 * activity first.
 */
export function orderRooms(rooms: Room[], role: string): Room[] {
  const byActivity = (a: Room, b: Room) => b.lastSeq - a.lastSeq || a.id.localeCompare(b.id);
  if (role === 'support' || role === 'clinical') {
    return [...rooms].sort((a, b) => ticketRank(a) - ticketRank(b) || byActivity(a, b));
  }
  if (role !== 'provider') return [...rooms].sort(byActivity);
  return [...rooms].sort((a, b) => {
    if (a.replyOverdue !== b.replyOverdue) return a.replyOverdue ? -1 : 1;
    if (a.replyDueAt && b.replyDueAt) return Date.parse(a.replyDueAt) - Date.parse(b.replyDueAt);
    if (a.replyDueAt || b.replyDueAt) return a.replyDueAt ? -1 : 1;
    return byActivity(a, b);
  });
}

export function RoomList({
  store,
  current,
  onOpen,
}: {
  store: AppStore;
  current: string | null;
  onOpen: (id: string) => void;
}) {
  const rooms = orderRooms(store.rooms, store.me.role);
  return (
    <nav class="rooms" aria-label="Rooms">
      <h2 class="visually-hidden">Rooms</h2>
      {!store.roomsLoaded && <p class="muted">Loading rooms…</p>}
      <ul>
        {rooms.map((r) => {
          const title = roomTitle(store, r);
          const online = r.members.some((m) => m.userId !== store.me.userId && m.online && m.role !== 'bot');
          return (
            <li key={r.id}>
              <button
                type="button"
                class={`room-item${current === r.id ? ' current' : ''}${r.replyOverdue ? ' overdue' : ''}`}
                aria-current={current === r.id ? 'true' : undefined}
                data-room={r.id}
                onClick={() => onOpen(r.id)}
              >
                <span class="room-name">
                  {online && <span class="dot" title="Online" aria-hidden="true" />}
                  {title}
                  {online && <span class="visually-hidden"> (online)</span>}
                </span>
                <span class="room-meta">
                  {r.ticket && (
                    <span class={`tag status-${r.ticket.status}`}>{TICKET_WORDS[r.ticket.status]}</span>
                  )}
                  {r.kind === 'support' && store.me.role !== 'client' && r.escalations.length > 0 && (
                    <span class="tag">Escalated</span>
                  )}
                  {r.replyOverdue && <span class="tag overdue-tag">Reply overdue</span>}
                  {!r.replyOverdue && r.replyDueAt && store.me.role === 'provider' && (
                    <span class="tag">Reply {relative(r.replyDueAt)}</span>
                  )}
                  {r.unread > 0 && (
                    <span class="unread">
                      {r.unread}
                      <span class="visually-hidden"> unread</span>
                    </span>
                  )}
                </span>
                {r.replyDueAt && store.me.role === 'provider' && (
                  <span class="room-due muted">Reply due {when(r.replyDueAt)}</span>
                )}
              </button>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

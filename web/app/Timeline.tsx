/// <reference lib="dom" />
import { useEffect, useLayoutEffect, useRef } from 'preact/hooks';
import type { Room } from './api.ts';
import { MessageView } from './MessageView.tsx';
import type { AppStore } from './store.ts';
import { day, dayKey } from './time.ts';

/**
 * A room's messages, newest at the bottom. Scrolling to the top loads the page
 * before (the view stays where the reader was); a new message scrolls into
 * view when the reader was at the bottom; what is shown is marked read.
 */
export function Timeline({ store, room }: { store: AppStore; room: Room }) {
  const t = store.timeline(room.id);
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const heightBefore = useRef<number | null>(null);
  const lastSeq = t.messages.at(-1)?.seq ?? 0;
  const firstSeq = t.messages[0]?.seq ?? 0;

  useEffect(() => {
    if (!t.loaded) void store.loadOlder(room.id);
  }, [store, room.id]);

  // A scrolling region must be reachable by keyboard to be scrolled (axe: scrollable-region-focusable);
  // set here because a log is not an interactive element to JSX's lint.
  useEffect(() => {
    if (box.current) box.current.tabIndex = 0;
  }, []);

  // A booking request grows once its booking is loaded: that, too, keeps a reader at the bottom there.
  const bookings = store.bookings.get(room.id);
  // Older messages were put on top: keep the reader's place.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (heightBefore.current !== null) {
      el.scrollTop += el.scrollHeight - heightBefore.current;
      heightBefore.current = null;
    } else if (atBottom.current) el.scrollTop = el.scrollHeight;
  }, [firstSeq, lastSeq, bookings]);

  useEffect(() => {
    if (lastSeq > room.lastReadSeq) store.markRead(room.id);
  }, [lastSeq, room.lastReadSeq]);

  const older = () => {
    if (box.current) heightBefore.current = box.current.scrollHeight;
    void store.loadOlder(room.id).then(() => {
      if (!t.hasMore || t.messages.length === 0) heightBefore.current = null;
    });
  };

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    if (el.scrollTop < 60 && t.hasMore && !t.loading && t.messages.length > 0) older();
  };

  const typing = store.typingIn(room.id);
  const others = room.members.filter((m) => m.userId !== store.me.userId);
  const receipts = store.receipts.get(room.id);
  const readByOthers = Math.max(0, ...others.map((m) => receipts?.get(m.userId) ?? 0));
  const myLast = [...t.messages].reverse().find((m) => m.senderId === store.me.userId)?.seq;

  let lastDay = '';
  return (
    <div class="timeline-wrap">
      <div class="timeline" ref={box} onScroll={onScroll} role="log" aria-label="Messages" aria-live="polite">
        {t.hasMore && t.messages.length > 0 && (
          <button type="button" class="older" onClick={older} disabled={t.loading}>
            {t.loading ? 'Loading…' : 'Load earlier messages'}
          </button>
        )}
        {t.loading && t.messages.length === 0 && <p class="muted">Loading messages…</p>}
        {!t.loading && !t.hasMore && t.messages.length === 0 && <p class="muted">No messages yet.</p>}
        {t.messages.map((m) => {
          const k = dayKey(m.createdAt);
          const heading = k !== lastDay ? <p class="day">{day(m.createdAt)}</p> : null;
          lastDay = k;
          return (
            <div key={m.id}>
              {heading}
              <MessageView
                store={store}
                room={room}
                m={m}
                receipt={m.seq === myLast ? (readByOthers >= m.seq ? 'Read' : 'Sent') : null}
              />
            </div>
          );
        })}
      </div>
      <p class="typing" aria-live="polite">
        {typing.length > 0 ? `${typing.map((u) => store.nameOf(room.id, u)).join(', ')} is typing…` : ''}
      </p>
    </div>
  );
}

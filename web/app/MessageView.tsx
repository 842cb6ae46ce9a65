/// <reference lib="dom" />
import { useEffect, useState } from 'preact/hooks';
import { BookFromAvailability } from './Availability.tsx';
import type { Message, Room } from './api.ts';
import { RequestView } from './BookingRequest.tsx';
import type { AppStore } from './store.ts';
import { clock, joinUrlFor, stripIso, systemText, when } from './time.ts';

/** One message as a person reads it. */
export function MessageView({
  store,
  room,
  m,
  receipt,
}: {
  store: AppStore;
  room: Room;
  m: Message;
  receipt: 'Read' | 'Sent' | null;
}) {
  const mine = m.senderId === store.me.userId;
  if (m.erased) {
    return <p class="msg erased">A message was removed.</p>;
  }
  if (m.kind === 'system') {
    const joinUrl =
      (m.meta as { event?: string } | undefined)?.event === 'reminder'
        ? joinUrlFor(m, store.me.userId)
        : null;
    return (
      <div class={`msg system${m.internal ? ' internal' : ''}`} data-seq={m.seq} data-kind="system">
        {m.internal && <InternalLabel />}
        <p>{systemText(m)}</p>
        {joinUrl && (
          <a class="button primary" href={joinUrl} target="_blank" rel="noopener">
            Join the session
          </a>
        )}
      </div>
    );
  }
  return (
    <div
      class={`msg ${mine ? 'mine' : 'theirs'}${m.internal ? ' internal' : ''}`}
      data-seq={m.seq}
      data-kind={m.kind}
    >
      {m.internal && <InternalLabel />}
      <p class="sender">
        {store.nameOf(room.id, m.senderId, m.senderRole)} ·{' '}
        <time dateTime={m.createdAt}>{clock(m.createdAt)}</time>
      </p>
      {m.kind === 'text' && <p class="text">{m.text}</p>}
      {m.kind === 'request' && <RequestView store={store} room={room} m={m} />}
      {(m.kind === 'voice' || m.kind === 'video') && m.attachment && (
        <Recording store={store} kind={m.kind} url={m.attachment.url} />
      )}
      {m.kind === 'availability' && (
        <div class="availability">
          <p>{mine ? 'You shared the times you could meet:' : 'Times that would work:'}</p>
          <ul>
            {(m.availability ?? []).map((r) => (
              <li key={r.startsAt}>
                {when(r.startsAt)} – {clock(r.endsAt)}
              </li>
            ))}
          </ul>
          {store.me.role === 'provider' && <BookFromAvailability store={store} room={room} m={m} />}
        </div>
      )}
      {m.text && m.kind !== 'text' && m.kind !== 'request' && <p class="text">{stripIso(m.text)}</p>}
      {receipt && <p class="receipt">{receipt}</p>}
    </div>
  );
}

/** A staff note: the requester never receives it (the server keeps it from them). */
function InternalLabel() {
  return <p class="internal-label">Internal — not shown to the requester</p>;
}

/** A voice or video message: fetched with the token (a media element cannot send one), then played from a blob. */
function Recording({ store, kind, url }: { store: AppStore; kind: 'voice' | 'video'; url: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let gone = false;
    let made: string | null = null;
    store.api.attachment(url).then(
      (blob) => {
        if (gone) return;
        made = URL.createObjectURL(blob);
        setSrc(made);
      },
      () => !gone && setFailed(true),
    );
    return () => {
      gone = true;
      if (made) URL.revokeObjectURL(made);
    };
  }, [url]);
  if (failed) return <p class="muted">This recording could not be loaded.</p>;
  if (!src) return <p class="muted">Loading the {kind} message…</p>;
  return kind === 'voice' ? (
    // biome-ignore lint/a11y/useMediaCaption: a voice message from a person has no caption track to offer
    <audio class="voice" controls preload="metadata" src={src} aria-label="Voice message" />
  ) : (
    // biome-ignore lint/a11y/useMediaCaption: a video message from a person has no caption track to offer
    <video class="video-msg" controls preload="metadata" src={src} aria-label="Video message" playsInline />
  );
}

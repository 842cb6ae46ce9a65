/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useState } from 'preact/hooks';
import type { Booking, Message, Room } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import type { AppStore } from './store.ts';
import { MODALITY_WORDS, STATUS_WORDS, when } from './time.ts';

type Ask = 'cancel' | 'reschedule';

/** The contract's bound on a request's note (protocol/inputs.ts REQUEST_TEXT_MAX). */
const NOTE_MAX = 500;
const ASK_WORDS: Record<Ask, string> = { cancel: 'cancel', reschedule: 'reschedule' };
/** What the provider can still do for the request: the server refuses the rest. */
const ANSWERABLE: Booking['status'][] = ['pending_confirmation', 'confirmed'];

/**
 * A client who may not message (or would be charged for a late change) asks
 * the provider to cancel or move a session: a `request` message, which the
 * server always takes from the booking's client.
 */
export function AskProvider({
  store,
  b,
  onSent,
}: {
  store: AppStore;
  b: Booking;
  onSent: (note: string) => void;
}) {
  const [ask, setAsk] = useState<Ask | null>(null);
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);

  const send = async (e: Event) => {
    e.preventDefault();
    if (!ask) return;
    setSending(true);
    setError(null);
    try {
      const text = note.trim();
      await store.client.send({
        roomId: b.roomId,
        kind: 'request',
        bookingId: b.id,
        request: ask,
        ...(text ? { text } : {}),
      });
      setAsk(null);
      setNote('');
      onSent(`Your provider was asked to ${ASK_WORDS[ask]} the session.`);
    } catch (err) {
      setError((err as TalkroomError).message);
    } finally {
      setSending(false);
    }
  };

  if (!ask) {
    return (
      <div class="actions ask">
        <button type="button" onClick={() => setAsk('reschedule')}>
          Ask to reschedule
        </button>
        <button type="button" onClick={() => setAsk('cancel')}>
          Ask to cancel
        </button>
      </div>
    );
  }
  const noteId = `ask-note-${b.id}`;
  return (
    <form class="ask-form" onSubmit={send}>
      <label for={noteId}>
        A note for your provider about the {ask === 'cancel' ? 'cancellation' : 'new time'} (optional)
      </label>
      <textarea
        id={noteId}
        rows={2}
        maxLength={NOTE_MAX}
        value={note}
        onInput={(e) => setNote(e.currentTarget.value)}
      />
      <p class="muted">{NOTE_MAX - note.length} characters left</p>
      <div class="actions">
        <button type="submit" class="primary" disabled={sending}>
          Ask to {ASK_WORDS[ask]}
        </button>
        <button type="button" onClick={() => setAsk(null)}>
          Back
        </button>
      </div>
      <ErrorLine error={error} />
    </form>
  );
}

/** "Asked to reschedule the video session on Tue 3 Dec, 10:00". */
export function requestText(m: Message, b: Booking | undefined): string {
  const what = b ? `the ${MODALITY_WORDS[b.modality]} on ${when(b.startsAt)}` : 'a session';
  return `Asked to ${ASK_WORDS[m.request ?? 'reschedule']} ${what}`;
}

/** A booking request in the timeline; the provider gets the actions that answer it. */
export function RequestView({ store, room, m }: { store: AppStore; room: Room; m: Message }) {
  const b = m.bookingId ? store.booking(room.id, m.bookingId) : undefined;
  const answerable = b && ANSWERABLE.includes(b.status);
  return (
    <div class="request">
      <p>
        <strong>{requestText(m, b)}</strong>
      </p>
      {m.text && <p class="text">{m.text}</p>}
      {b && !answerable && <p class="muted">Now: {STATUS_WORDS[b.status]}</p>}
      {store.me.role === 'provider' && b && answerable && (
        <div class="actions">
          <button
            type="button"
            class={m.request === 'cancel' ? 'danger' : ''}
            onClick={() => store.act(b.id, 'cancel')}
          >
            Cancel the session
          </button>
          <button
            type="button"
            class={m.request === 'reschedule' ? 'primary' : ''}
            onClick={() => store.act(b.id, 'reschedule')}
          >
            Reschedule
          </button>
        </div>
      )}
    </div>
  );
}

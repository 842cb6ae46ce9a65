/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Room } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import { Recorder } from './Recorder.tsx';
import type { AppStore } from './store.ts';

const TYPING_EVERY_MS = 3000;

/**
 * Writing to the room: text (Enter sends, Shift+Enter breaks the line), typing
 * signals, recordings. In a support room the staff may write an internal note
 * instead (the clinical team writes nothing else).
 */
export function Composer({ store, room, block }: { store: AppStore; room: Room; block: string | null }) {
  const staffNotes = room.kind === 'support' && (store.me.role === 'support' || store.me.role === 'clinical');
  const notesOnly = staffNotes && store.me.role === 'clinical';
  const [internalOn, setInternal] = useState(notesOnly);
  const internal = notesOnly || (staffNotes && internalOn);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const typingSent = useRef(0);

  const typing = (on: boolean) => {
    // A note is for the staff: the requester is not told that someone types one.
    if (on && (internal || Date.now() - typingSent.current < TYPING_EVERY_MS)) return;
    typingSent.current = on ? Date.now() : 0;
    store.client.request('typing', { roomId: room.id, typing: on }).catch(() => {});
  };
  useEffect(() => () => typingSent.current > 0 && typing(false), [room.id]);

  const send = (e?: Event) => {
    e?.preventDefault();
    const body = text.trim();
    if (!body) return;
    setText('');
    setError(null);
    typing(false);
    const note = internal ? { internal: true } : {};
    // The SDK's outbox delivers it once, across reconnects; a refusal comes back here.
    store.client.send({ roomId: room.id, kind: 'text', text: body, ...note }).catch((err: TalkroomError) => {
      setError(err.message);
      setText(body);
    });
  };

  if (block) {
    return (
      <div class="composer blocked">
        <p class="muted">{block}</p>
      </div>
    );
  }
  return (
    <form class={`composer${internal ? ' internal' : ''}`} onSubmit={send}>
      {staffNotes && (
        <label class="radio internal-toggle">
          <input
            type="checkbox"
            checked={internal}
            disabled={notesOnly}
            onChange={(e) => setInternal(e.currentTarget.checked)}
          />{' '}
          Internal note{notesOnly ? ' (the clinical team writes internal notes only)' : ''}
        </label>
      )}
      <label for="composer-text" class="visually-hidden">
        {internal ? 'Internal note' : 'Message'}
      </label>
      <textarea
        id="composer-text"
        rows={2}
        placeholder={internal ? 'A note for the staff only' : 'Write a message'}
        value={text}
        onInput={(e) => {
          setText(e.currentTarget.value);
          typing(e.currentTarget.value.length > 0);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey) send(e);
        }}
      />
      <button type="submit" class="primary" disabled={!text.trim()}>
        {internal ? 'Add note' : 'Send'}
      </button>
      <Recorder store={store} room={room} disabled={false} internal={internal} />
      <ErrorLine error={error} />
    </form>
  );
}

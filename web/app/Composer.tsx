/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Room } from './api.ts';
import { Recorder } from './Recorder.tsx';
import type { AppStore } from './store.ts';

const TYPING_EVERY_MS = 3000;

/** Writing to the room: text (Enter sends, Shift+Enter breaks the line), typing signals, recordings. */
export function Composer({ store, room, block }: { store: AppStore; room: Room; block: string | null }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const typingSent = useRef(0);

  const typing = (on: boolean) => {
    if (on && Date.now() - typingSent.current < TYPING_EVERY_MS) return;
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
    // The SDK's outbox delivers it once, across reconnects; a refusal comes back here.
    store.client.send({ roomId: room.id, kind: 'text', text: body }).catch((err: TalkroomError) => {
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
    <form class="composer" onSubmit={send}>
      <label for="composer-text" class="visually-hidden">
        Message
      </label>
      <textarea
        id="composer-text"
        rows={2}
        placeholder="Write a message"
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
        Send
      </button>
      <Recorder store={store} room={room} disabled={false} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

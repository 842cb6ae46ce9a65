/// <reference lib="dom" />
/** The session's chat: messages with the booking id, while waiting and during the session. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { SessionPage, TalkroomState } from './session.ts';
import { clockTime } from './words.ts';

function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function Chat(p: { page: SessionPage; s: TalkroomState }) {
  const { page, s } = p;
  const [text, setText] = useState('');
  // An unsent message keeps its clientMsgId, so pressing Send again never posts it twice.
  const pending = useRef<{ text: string; id: string } | null>(null);
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'nearest' });
  }, [s.chat.length]);
  const open = s.phase === 'waiting' || s.phase === 'in_progress';
  const send = async (e: Event) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    if (pending.current?.text !== t) pending.current = { text: t, id: newId() };
    if (await page.sendChat(t, pending.current.id)) {
      pending.current = null;
      setText('');
    }
  };
  return (
    <section id="chat" class="chat" aria-labelledby="chat-title">
      <h2 id="chat-title">Chat</h2>
      <ol id="messages" ref={list} aria-label="Messages" aria-live="polite">
        {s.chat.length === 0 && <li class="system">No messages yet. You can write while you wait.</li>}
        {s.chat.map((m) => (
          <li key={m.id} class={m.mine ? 'mine' : 'theirs'}>
            <span class="who">
              {m.who} · {clockTime(m.at)}
            </span>
            <span class="text">{m.text}</span>
          </li>
        ))}
      </ol>
      <form id="chat-form" onSubmit={send}>
        <label for="chat-input" class="visually-hidden">
          Message
        </label>
        <input
          id="chat-input"
          type="text"
          autocomplete="off"
          maxLength={4000}
          placeholder="Write a message…"
          value={text}
          disabled={!open}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <button type="submit" class="primary" disabled={!open}>
          Send
        </button>
      </form>
    </section>
  );
}

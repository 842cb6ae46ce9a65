/// <reference lib="dom" />
import { useEffect, useState } from 'preact/hooks';
import { AccountView } from './AccountView.tsx';
import { ProviderDay } from './ProviderDay.tsx';
import { RoomList } from './RoomList.tsx';
import { RoomPane } from './RoomPane.tsx';
import { type AppStore, useStore } from './store.ts';

type Tab = 'rooms' | 'day' | 'account';

const ROLE_WORDS: Record<string, string> = {
  client: 'Client',
  provider: 'Provider',
  support: 'Support',
  clinical: 'Clinical team',
};

/**
 * The signed-in app: one layout for every role, what it holds by role. Clients
 * get their rooms and their plan; providers their day and their rooms; support
 * and clinical the support rooms only (the server lists nothing else for them).
 */
export function App({ store }: { store: AppStore }) {
  useStore(store);
  const role = store.me.role;
  const [tab, setTab] = useState<Tab>(role === 'provider' ? 'day' : 'rooms');
  const [roomId, setRoomId] = useState<string | null>(null);

  useEffect(() => {
    store.refreshRooms();
  }, [store]);

  const open = (id: string) => {
    setRoomId(id);
    setTab('rooms');
  };
  const tabs: [Tab, string][] =
    role === 'client'
      ? [
          ['rooms', 'Rooms'],
          ['account', 'Plan and charges'],
        ]
      : role === 'provider'
        ? [
            ['day', 'My day'],
            ['rooms', 'Rooms'],
          ]
        : [['rooms', 'Support rooms']];
  const room = roomId ? store.room(roomId) : undefined;

  return (
    <div class="app">
      <header class="top">
        <h1>talkroom</h1>
        <span class="who">{ROLE_WORDS[role] ?? role}</span>
        <span class={`conn ${store.connected ? 'on' : 'off'}`} role="status">
          {store.connected ? 'Connected' : 'Connecting…'}
        </span>
      </header>
      {tabs.length > 1 && (
        <nav class="tabs" aria-label="Sections">
          {tabs.map(([id, label]) => (
            <button
              type="button"
              key={id}
              class={tab === id ? 'tab current' : 'tab'}
              aria-current={tab === id ? 'page' : undefined}
              onClick={() => setTab(id)}
            >
              {label}
            </button>
          ))}
        </nav>
      )}
      {store.error && (
        <p class="banner error" role="alert">
          {store.error}
        </p>
      )}
      <main class={`main ${room && tab === 'rooms' ? 'has-room' : 'no-room'}`}>
        {tab === 'account' && <AccountView store={store} />}
        {tab === 'day' && <ProviderDay store={store} onOpen={open} />}
        {tab === 'rooms' && (
          <>
            <RoomList store={store} current={roomId} onOpen={open} />
            {room ? (
              <RoomPane key={room.id} store={store} room={room} onBack={() => setRoomId(null)} />
            ) : (
              <section class="pane empty" aria-label="Room">
                <p>
                  {store.roomsLoaded && store.rooms.length === 0
                    ? 'You have no rooms yet.'
                    : 'Choose a room.'}
                </p>
              </section>
            )}
          </>
        )}
      </main>
    </div>
  );
}

export function SignedOut() {
  return (
    <main class="signed-out">
      <h1>talkroom</h1>
      <p>
        Open the app from your care platform: it signs you in. (For a local try: <code>/app#token=…</code>{' '}
        with a token from <code>npm run token</code>.)
      </p>
    </main>
  );
}

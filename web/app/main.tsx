/// <reference lib="dom" />
/**
 * talkroom's reference web app (`GET /app`): the rooms, booking and the day of
 * clients, providers, support and clinical, on the @talkroom/client SDK. It
 * signs in with the platform's token in the fragment (`/app#token=<JWT>`).
 */
import { render } from 'preact';
import '../base.css';
import './app.css';
import './room.css';
import './desk.css';
import { App, SignedOut } from './App.tsx';
import { signIn } from './session.ts';
import { AppStore } from './store.ts';

const root = document.getElementById('root') ?? document.body;
const me = signIn();
if (me) {
  const store = new AppStore(me, location.origin);
  // For tests and embedding platforms: the app's state, and a way to hand it a fresh token.
  (window as unknown as { talkroomApp: unknown }).talkroomApp = {
    store,
    refreshToken: (token: string) => {
      store.me.token = token;
      return store.client.setToken(token);
    },
  };
  render(<App store={store} />, root);
} else {
  render(<SignedOut />, root);
}

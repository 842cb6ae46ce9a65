/// <reference lib="dom" />
/**
 * The session page a join link opens (`PUBLIC_URL/join/<joinToken>`): the
 * link is all it needs. A platform embedding it may add its own JWT in the
 * fragment (`#token=`), which is read once and scrubbed from the address bar.
 * `window.talkroom` exposes the page's state and RTP counts to tests.
 */
import { type ComponentChildren, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import '../base.css';
import './session.css';
import { CallScreen } from './call.tsx';
import { pageStats, type TalkroomStats } from './media.ts';
import { SessionPage, type TalkroomState } from './session.ts';
import { clockTime, dayAndTime, endedTitle, FRIENDLY, goneTitle, nextSteps, sessionLine } from './words.ts';

declare global {
  interface Window {
    talkroom: {
      state: TalkroomState;
      stats(): Promise<TalkroomStats>;
      refreshToken(jwt: string): Promise<void>;
    };
  }
}

function fromAddress() {
  const m = /\/join\/([^/?#]+)\/?$/.exec(location.pathname);
  const hash = new URLSearchParams(location.hash.slice(1));
  const policy =
    new URLSearchParams(location.search).get('iceTransportPolicy') ?? hash.get('iceTransportPolicy');
  const jwt = hash.get('token');
  if (location.hash) history.replaceState(null, '', location.pathname + location.search);
  return {
    joinToken: m?.[1] ? decodeURIComponent(m[1]) : null,
    jwt,
    ...(policy === 'relay' || policy === 'all'
      ? { iceTransportPolicy: policy as RTCIceTransportPolicy }
      : {}),
  };
}

function Problem({ s }: { s: TalkroomState }) {
  const e = s.error!;
  const [title, hint] = FRIENDLY[e.code] ?? ['We could not join the session', e.message];
  // The server's word first (a lookup that answered `open: false`, a link it says expired); else the link's own times.
  const windowClosed = e.code === 'join_window_closed';
  const early =
    windowClosed &&
    (s.linkOpen === false || (s.linkOpen === null && !!s.opensAt && Date.now() < Date.parse(s.opensAt)));
  const late =
    windowClosed &&
    !early &&
    (/expired/.test(e.message) || (!!s.closesAt && Date.now() >= Date.parse(s.closesAt)));
  const gone = e.code === 'conflict' ? /the booking is (\w+)/.exec(e.message)?.[1] : undefined;
  return (
    <section class="card status-card problem" aria-labelledby="status">
      <h2 id="status">
        {early
          ? 'This session has not opened yet'
          : late
            ? 'This link has expired'
            : gone
              ? goneTitle(gone)
              : title}
      </h2>
      {early ? (
        <p id="detail">
          You can join from <strong>{dayAndTime(s.opensAt!)}</strong> (your time). Keep this page and come
          back then.
        </p>
      ) : late ? (
        <p id="detail">The session this link was for has ended. Please check the app for your bookings.</p>
      ) : (
        <p id="detail">{hint}</p>
      )}
      {e.code === 'join_window_closed' && !early && s.opensAt && s.closesAt && (
        <p id="window">
          The link works from {dayAndTime(s.opensAt)} until {clockTime(s.closesAt)}.
        </p>
      )}
      <p id="code">({e.code})</p>
    </section>
  );
}

function Ended({ s }: { s: TalkroomState }) {
  const status = s.endedStatus ?? 'completed';
  const role = s.me?.role ?? 'client';
  const rebook = status === 'provider_no_show' && role === 'client';
  return (
    <section class="card status-card" aria-labelledby="status">
      <h2 id="status">{endedTitle(status)}</h2>
      <p id="detail">{nextSteps(status, role)}</p>
      <p>
        <a
          class={`button${rebook ? ' primary' : ''}`}
          href={`/app?${rebook ? 'reschedule' : 'booking'}=${encodeURIComponent(s.bookingId ?? '')}`}
        >
          {rebook ? 'Book a new time with the same credit' : 'Open the app'}
        </a>
      </p>
    </section>
  );
}

function App({ page }: { page: SessionPage }) {
  const [, setVersion] = useState(0);
  useEffect(() => page.subscribe(() => setVersion((v) => v + 1)), []);
  const s = page.state;
  useEffect(() => {
    document.body.dataset.phase = s.phase;
  });
  let body: ComponentChildren;
  if (s.phase === 'error') body = <Problem s={s} />;
  else if (s.phase === 'ended') body = <Ended s={s} />;
  else if (s.phase === 'left' || s.phase === 'superseded') {
    const [title, hint] =
      s.phase === 'left'
        ? ['You left the session', 'It goes on until it ends: you can join again.']
        : FRIENDLY.superseded!;
    body = (
      <section class="card status-card" aria-labelledby="status">
        <h2 id="status">{title}</h2>
        <p id="detail">{hint}</p>
        <button
          type="button"
          id="rejoin"
          class="primary"
          onClick={() => void (s.phase === 'left' ? page.join() : location.reload())}
        >
          Join again
        </button>
      </section>
    );
  } else body = <CallScreen page={page} s={s} />;
  return (
    <>
      <header>
        <h1>Your session</h1>
        {s.modality && s.startsAt && s.endsAt && (
          <p id="when">{sessionLine(s.modality, s.startsAt, s.endsAt)}</p>
        )}
      </header>
      <main>{body}</main>
    </>
  );
}

const page = new SessionPage(fromAddress());
window.talkroom = {
  get state() {
    page.syncSending();
    return page.state;
  },
  stats: () => pageStats(page.live),
  refreshToken: async (jwt) => {
    await page.client?.setToken(jwt);
  },
};
render(<App page={page} />, document.getElementById('root')!);
void page.start();

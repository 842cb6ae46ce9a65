/// <reference lib="dom" />
/** The waiting room and the session itself: who is here, the videos, the controls, the checks before joining. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { Chat } from './chat.tsx';
import type { SessionPage, TalkroomState } from './session.ts';
import type { Remote } from './state.ts';
import { elapsed } from './words.ts';

/** A MediaStreamTrack in a <video> or <audio> element. */
function TrackView(p: {
  track: MediaStreamTrack;
  kind: 'audio' | 'video';
  label: string;
  muted?: boolean;
  mirror?: boolean;
}) {
  const ref = useRef<HTMLVideoElement & HTMLAudioElement>(null);
  const [blocked, setBlocked] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.srcObject = new MediaStream([p.track]);
    el.play().then(
      () => setBlocked(false),
      // Autoplay with sound may need a tap first.
      () => setBlocked(p.kind === 'audio'),
    );
  }, [p.track]);
  if (p.kind === 'audio') {
    return (
      <>
        {/* biome-ignore lint/a11y/useMediaCaption: live call audio, nothing to caption ahead of time */}
        <audio ref={ref} autoplay aria-label={p.label} />
        {blocked && (
          <button
            type="button"
            class="primary"
            onClick={() => ref.current?.play().then(() => setBlocked(false))}
          >
            Turn on sound
          </button>
        )}
      </>
    );
  }
  return (
    <video
      ref={ref}
      autoplay
      playsinline
      muted={p.muted ?? true}
      aria-label={p.label}
      class={p.mirror ? 'mirror' : ''}
    />
  );
}

const otherName = (s: TalkroomState) =>
  s.other?.displayName ?? (s.other?.role === 'provider' ? 'Your provider' : 'Your client');

function statusText(s: TalkroomState): string {
  if (s.phase === 'waiting') return 'Waiting for the other party…';
  if (s.phase === 'in_progress') return 'Session in progress';
  return 'Connecting…';
}

function otherState(s: TalkroomState): { text: string; tone: 'ok' | 'wait' | 'warn' } {
  const here = s.participants.some((p) => p.userId === s.other?.userId);
  if (here) return { text: s.phase === 'in_progress' ? 'in the session' : 'waiting for you', tone: 'ok' };
  if (s.otherAway) return { text: 'reconnecting…', tone: 'warn' };
  return { text: s.otherOnline ? 'online, not joined yet' : 'not here yet', tone: 'wait' };
}

function Timer(p: { startedAt: string; skewMs: number }) {
  const [, tick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, []);
  const ms = Date.now() - p.skewMs - Date.parse(p.startedAt);
  return (
    <span id="timer" class="timer">
      <span class="visually-hidden">Time in session </span>
      {elapsed(ms)}
    </span>
  );
}

function RemoteTiles(p: { page: SessionPage; s: TalkroomState }) {
  const { s } = p;
  // A shared screen with nothing arriving was stopped (the SFU keeps its producer, paused): not shown.
  const videos = p.page.remotes.filter((r) => r.kind === 'video' && !(r.source === 'screen' && r.paused));
  const audio = p.page.remotes.filter((r) => r.kind === 'audio');
  const name = otherName(s);
  const micOff = audio.length > 0 && audio.every((r) => r.paused);
  const tile = (r: Remote) => (
    <figure class={`tile ${r.source}${r.paused ? ' off' : ''}`} key={r.consumerId}>
      <TrackView
        track={r.track}
        kind="video"
        label={r.source === 'screen' ? `${name}’s screen` : `${name}’s camera`}
      />
      {r.paused && r.source === 'camera' && <p class="tile-off">Camera off</p>}
      <figcaption>
        {r.source === 'screen' ? `${name} is sharing their screen` : name}
        {micOff && r.source === 'camera' ? ' · muted' : ''}
      </figcaption>
    </figure>
  );
  return (
    <div id="remote" class="remote">
      {videos.map(tile)}
      {s.modality === 'video' && videos.length === 0 && (
        <p class="placeholder">
          {s.otherAway ? `${name} is reconnecting…` : `${name}’s video will appear here.`}
        </p>
      )}
      {s.modality === 'audio' && (
        <p class="placeholder">
          {name}
          {micOff ? ' · muted' : audio.length ? ' · you can hear them' : ''}
        </p>
      )}
      {audio.map((r) => (
        <TrackView key={r.consumerId} track={r.track} kind="audio" label={`${name}’s microphone`} />
      ))}
    </div>
  );
}

function Checks(p: { page: SessionPage; s: TalkroomState }) {
  const { s, page } = p;
  const media: Record<TalkroomState['check']['media'], string> = {
    checking: 'checking…',
    direct: 'good (direct)',
    relay: 'good (through a relay)',
    failed: 'not working',
    none: 'not needed',
  };
  return (
    <section class="card checks" aria-labelledby="checks-title">
      <h2 id="checks-title">Before you start</h2>
      {s.devices.cameras.length > 0 && s.modality === 'video' && (
        <label>
          Camera
          <select value={s.cameraId ?? ''} onChange={(e) => void page.choose('video', e.currentTarget.value)}>
            {s.devices.cameras.map((d) => (
              <option key={d.id} value={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
      )}
      {s.devices.microphones.length > 0 && (
        <label>
          Microphone
          <select
            value={s.microphoneId ?? ''}
            onChange={(e) => void page.choose('audio', e.currentTarget.value)}
          >
            {s.devices.microphones.map((d) => (
              <option key={d.id} value={d.id}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
      )}
      {page.local.mic && (
        <label>
          Microphone level
          <meter id="level" min={0} max={1} low={0.05} value={s.audioPaused ? 0 : s.level} />
        </label>
      )}
      <ul class="check-list" aria-label="Connection check">
        <li>
          Server:{' '}
          {s.check.server === 'ok' ? 'connected' : s.check.server === 'failed' ? 'unreachable' : 'checking…'}
        </li>
        {s.modality !== 'chat' && <li>Audio and video: {media[s.check.media]}</li>}
      </ul>
    </section>
  );
}

function Controls(p: { page: SessionPage; s: TalkroomState; onLeave(): void; onEnd(): void }) {
  const { s, page } = p;
  const media = s.modality === 'video' || s.modality === 'audio';
  return (
    <fieldset id="controls" class="controls">
      <legend class="visually-hidden">Session controls</legend>
      {media && (
        <button
          type="button"
          id="mute"
          aria-pressed={s.audioPaused}
          disabled={!page.local.mic}
          onClick={() => void page.mute('mic', !s.audioPaused)}
        >
          {s.audioPaused ? 'Unmute' : 'Mute'}
        </button>
      )}
      {s.modality === 'video' && (
        <button
          type="button"
          id="camera"
          aria-pressed={s.videoPaused}
          disabled={!page.local.camera}
          onClick={() => void page.mute('camera', !s.videoPaused)}
        >
          {s.videoPaused ? 'Turn camera on' : 'Turn camera off'}
        </button>
      )}
      {s.modality === 'video' && s.phase === 'in_progress' && (
        <button
          type="button"
          id="share"
          aria-pressed={!!page.local.screen}
          onClick={() => void page.shareScreen()}
        >
          {page.local.screen ? 'Stop sharing' : 'Share screen'}
        </button>
      )}
      <button type="button" id="leave" onClick={p.onLeave}>
        Leave
      </button>
      {s.me?.role === 'provider' && (
        <button type="button" id="end" class="danger" onClick={p.onEnd}>
          End session
        </button>
      )}
    </fieldset>
  );
}

function Confirm(p: { title: string; text: string; yes: string; onYes(): void; onNo(): void }) {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => ref.current?.focus(), []);
  return (
    <div
      class="confirm card"
      role="alertdialog"
      aria-labelledby="confirm-title"
      aria-describedby="confirm-text"
    >
      <h2 id="confirm-title">{p.title}</h2>
      <p id="confirm-text">{p.text}</p>
      <div class="row">
        <button type="button" id="confirm-yes" class="danger" onClick={p.onYes}>
          {p.yes}
        </button>
        <button type="button" ref={ref} onClick={p.onNo}>
          Stay in the session
        </button>
      </div>
    </div>
  );
}

export function CallScreen(p: { page: SessionPage; s: TalkroomState }) {
  const { page, s } = p;
  const [asking, setAsking] = useState<'leave' | 'end' | null>(null);
  const other = otherState(s);
  const media = s.modality === 'video' || s.modality === 'audio';
  const self = page.local.camera && s.modality === 'video';
  return (
    <>
      <section class="card status-card" aria-label="Session status">
        <p id="status" role="status" aria-live="polite">
          {statusText(s)}
        </p>
        <p id="other" class={`other ${other.tone}`}>
          <strong>{otherName(s)}</strong> · {other.text}
          {s.phase === 'in_progress' && s.startedAt && (
            <>
              {' · '}
              <Timer startedAt={s.startedAt} skewMs={s.skewMs} />
            </>
          )}
        </p>
        {s.notice && (
          <p id="notice" role="alert">
            {s.notice}
          </p>
        )}
      </section>
      {media && (
        <section class="stage" aria-label={s.modality === 'video' ? 'Video' : 'Audio'}>
          <RemoteTiles page={page} s={s} />
          {self && (
            <figure class={`tile self${page.remotes.some((r) => r.kind === 'video') ? '' : ' solo'}`}>
              <TrackView track={page.local.camera!} kind="video" label="Your camera" mirror />
              {s.videoPaused && <p class="tile-off">Your camera is off</p>}
              <figcaption>You{s.audioPaused ? ' · muted' : ''}</figcaption>
            </figure>
          )}
          {page.local.screen && <p class="sharing">You are sharing your screen.</p>}
        </section>
      )}
      <Controls page={page} s={s} onLeave={() => setAsking('leave')} onEnd={() => setAsking('end')} />
      {asking === 'leave' && (
        <Confirm
          title="Leave the session?"
          text="The session goes on without you; you can join again from this page until it ends."
          yes="Leave now"
          onYes={() => {
            setAsking(null);
            void page.leave();
          }}
          onNo={() => setAsking(null)}
        />
      )}
      {asking === 'end' && (
        <Confirm
          title="End the session for both of you?"
          text="This finishes the session for everyone; it cannot be resumed."
          yes="End for everyone"
          onYes={() => {
            setAsking(null);
            void page.end();
          }}
          onNo={() => setAsking(null)}
        />
      )}
      <Chat page={page} s={s} />
      {(s.phase === 'waiting' || s.phase === 'connecting') && <Checks page={page} s={s} />}
    </>
  );
}

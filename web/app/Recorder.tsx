/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Room } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import type { AppStore } from './store.ts';

type Kind = 'voice' | 'video';
type Step =
  | { at: 'idle' }
  | { at: 'recording'; kind: Kind; startedAt: number }
  | { at: 'recorded'; kind: Kind; blob: Blob; url: string }
  | { at: 'uploading'; kind: Kind; progress: number };

const TYPES: Record<Kind, string[]> = {
  voice: ['audio/ogg;codecs=opus', 'audio/webm;codecs=opus', 'audio/webm', 'audio/ogg', 'audio/mp4'],
  video: ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'],
};

/**
 * The first container this browser records that the server accepts. Ogg first: Firefox records
 * it natively, and Chromium cannot seek (so cannot play) Firefox's WebM; Chromium records WebM only.
 */
function pickType(kind: Kind): string | undefined {
  return TYPES[kind].find((t) => MediaRecorder.isTypeSupported(t));
}

const mmss = (ms: number) =>
  `${Math.floor(ms / 60_000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}`;

/**
 * Records a voice or video message in the browser (MediaRecorder), lets the
 * sender hear or see it, uploads it with progress and posts it to the room.
 */
export function Recorder({
  store,
  room,
  disabled,
  internal = false,
}: {
  store: AppStore;
  room: Room;
  disabled: boolean;
  /** Sent as a staff-only note in a support room. */
  internal?: boolean;
}) {
  const [step, setStep] = useState<Step>({ at: 'idle' });
  const [error, setError] = useState<string | null>(null);
  const [now, setNow] = useState(Date.now());
  const recorder = useRef<MediaRecorder | null>(null);
  const stream = useRef<MediaStream | null>(null);
  const preview = useRef<HTMLVideoElement>(null);

  const release = () => {
    for (const t of stream.current?.getTracks() ?? []) t.stop();
    stream.current = null;
  };
  useEffect(() => release, []);
  useEffect(() => {
    if (step.at !== 'recording') return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [step.at]);
  useEffect(() => {
    if (step.at === 'recording' && preview.current && stream.current)
      preview.current.srcObject = stream.current;
  }, [step.at]);

  const start = async (kind: Kind) => {
    setError(null);
    const type = typeof MediaRecorder === 'undefined' ? undefined : pickType(kind);
    if (!type) return setError('This browser cannot record messages.');
    try {
      stream.current = await navigator.mediaDevices.getUserMedia({ audio: true, video: kind === 'video' });
    } catch {
      return setError(
        kind === 'video' ? 'The camera or microphone is not available.' : 'The microphone is not available.',
      );
    }
    const chunks: Blob[] = [];
    const r = new MediaRecorder(stream.current, { mimeType: type });
    r.ondataavailable = (e) => e.data.size > 0 && chunks.push(e.data);
    r.onstop = () => {
      release();
      const blob = new Blob(chunks, { type: r.mimeType || type });
      setStep({ at: 'recorded', kind, blob, url: URL.createObjectURL(blob) });
    };
    recorder.current = r;
    r.start(250);
    setNow(Date.now());
    setStep({ at: 'recording', kind, startedAt: Date.now() });
  };

  const stop = () => recorder.current?.state === 'recording' && recorder.current.stop();

  const discard = () => {
    if (step.at === 'recorded') URL.revokeObjectURL(step.url);
    setStep({ at: 'idle' });
  };

  const send = async () => {
    if (step.at !== 'recorded') return;
    const { kind, blob, url } = step;
    setStep({ at: 'uploading', kind, progress: 0 });
    try {
      const attachmentId = await store.api.upload(room.id, blob, (progress) =>
        setStep({ at: 'uploading', kind, progress }),
      );
      await store.client.send({ roomId: room.id, kind, attachmentId, ...(internal ? { internal } : {}) });
      URL.revokeObjectURL(url);
      setStep({ at: 'idle' });
    } catch (e) {
      setError((e as TalkroomError).message);
      setStep({ at: 'recorded', kind, blob, url });
    }
  };

  return (
    <div class="recorder">
      {step.at === 'idle' && (
        <>
          <button type="button" onClick={() => start('voice')} disabled={disabled}>
            Record voice
          </button>
          <button type="button" onClick={() => start('video')} disabled={disabled}>
            Record video
          </button>
        </>
      )}
      {step.at === 'recording' && (
        <fieldset class="recording">
          <legend class="visually-hidden">Recording</legend>
          {step.kind === 'video' && (
            <video ref={preview} class="preview" autoPlay muted playsInline aria-label="Camera preview" />
          )}
          <span class="rec-dot" aria-hidden="true" />
          <span role="timer" aria-label="Recording time">
            {mmss(now - step.startedAt)}
          </span>
          <button type="button" class="primary" onClick={stop}>
            Stop recording
          </button>
        </fieldset>
      )}
      {step.at === 'recorded' && (
        <fieldset class="recorded">
          <legend class="visually-hidden">Your recording</legend>
          {step.kind === 'voice' ? (
            // biome-ignore lint/a11y/useMediaCaption: the sender's own recording, heard before sending
            <audio controls src={step.url} aria-label="Your voice message" />
          ) : (
            // biome-ignore lint/a11y/useMediaCaption: the sender's own recording, seen before sending
            <video controls src={step.url} class="preview" aria-label="Your video message" playsInline />
          )}
          <button type="button" class="primary" onClick={send}>
            Send {step.kind} message
          </button>
          <button type="button" onClick={discard}>
            Discard
          </button>
        </fieldset>
      )}
      {step.at === 'uploading' && (
        <label class="uploading">
          Sending the {step.kind} message…
          <progress max={1} value={step.progress} />
        </label>
      )}
      <ErrorLine error={error} />
    </div>
  );
}

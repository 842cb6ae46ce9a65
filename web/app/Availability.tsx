/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useState } from 'preact/hooks';
import type { Message, Room } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import type { AppStore } from './store.ts';
import { clock, MODALITY_WORDS, when } from './time.ts';

type LiveModality = 'video' | 'audio' | 'chat';

/** A local date and wall-clock time (from date and time inputs, in the viewer's zone) as an instant. */
export function localInstant(date: string, time: string): Date {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const [h, mi] = time.split(':').map(Number) as [number, number];
  return new Date(y, mo - 1, d, h, mi);
}

const isoDate = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/**
 * "None of these times work?": the client names up to three windows in their
 * own time, posted as an `availability` message the provider can book from.
 */
export function ShareAvailability({
  store,
  room,
  onDone,
}: {
  store: AppStore;
  room: Room;
  onDone: () => void;
}) {
  const tomorrow = new Date(Date.now() + 86_400_000);
  const [rows, setRows] = useState([{ date: isoDate(tomorrow), from: '17:00', to: '19:00' }]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (i: number, k: 'date' | 'from' | 'to', v: string) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, [k]: v } : r)));

  const submit = async (e: Event) => {
    e.preventDefault();
    const ranges = rows.map((r) => ({
      startsAt: localInstant(r.date, r.from),
      endsAt: localInstant(r.date, r.to),
    }));
    if (ranges.some((r) => Number.isNaN(r.startsAt.getTime()) || r.endsAt <= r.startsAt)) {
      return setError('Each window needs a day, and an end after its start.');
    }
    setBusy(true);
    try {
      await store.client.send({
        roomId: room.id,
        kind: 'availability',
        availability: ranges.map((r) => ({
          startsAt: r.startsAt.toISOString(),
          endsAt: r.endsAt.toISOString(),
        })),
      });
      onDone();
    } catch (err) {
      setError((err as TalkroomError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card share" onSubmit={submit} aria-labelledby="share-title">
      <h3 id="share-title">Share when you could meet</h3>
      <p class="muted">Your provider sees these times and can book one for you.</p>
      {rows.map((r, i) => (
        <fieldset key={i} class="row">
          <legend class="visually-hidden">Window {i + 1}</legend>
          <WindowInput label="Day" type="date" value={r.date} onInput={(v) => set(i, 'date', v)} />
          <WindowInput label="From" type="time" value={r.from} onInput={(v) => set(i, 'from', v)} />
          <WindowInput label="To" type="time" value={r.to} onInput={(v) => set(i, 'to', v)} />
        </fieldset>
      ))}
      {rows.length < 3 && (
        <button type="button" onClick={() => setRows([...rows, { ...rows.at(-1)! }])}>
          Add another time
        </button>
      )}
      <ErrorLine error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          Share these times
        </button>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
    </form>
  );
}

/** One labelled, required input of a window. */
function WindowInput(p: {
  label: string;
  type: 'date' | 'time';
  value: string;
  onInput: (value: string) => void;
}) {
  return (
    <label>
      {p.label}
      <input type={p.type} value={p.value} onInput={(e) => p.onInput(e.currentTarget.value)} required />
    </label>
  );
}

/** The provider books a session for the client at the start of one of the windows they shared. */
export function BookFromAvailability({ store, room, m }: { store: AppStore; room: Room; m: Message }) {
  const ranges = m.availability ?? [];
  const [start, setStart] = useState(ranges[0]?.startsAt ?? '');
  const modalities: LiveModality[] = room.service === 'psychiatry' ? ['video'] : ['video', 'audio', 'chat'];
  const [modality, setModality] = useState<LiveModality>('video');
  const [result, setResult] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (ranges.length === 0) return null;

  const book = async () => {
    setBusy(true);
    try {
      const b = await store.api.book({ roomId: room.id, modality, startsAt: new Date(start).toISOString() });
      setResult(`Booked: ${MODALITY_WORDS[b.modality]} on ${when(b.startsAt)}.`);
    } catch (e) {
      setResult((e as TalkroomError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <fieldset class="book-from">
      <legend class="visually-hidden">Book from these times</legend>
      <label>
        Time
        <select value={start} onChange={(e) => setStart(e.currentTarget.value)}>
          {ranges.map((r) => (
            <option key={r.startsAt} value={r.startsAt}>
              {when(r.startsAt)} (until {clock(r.endsAt)})
            </option>
          ))}
        </select>
      </label>
      <label>
        Type
        <select value={modality} onChange={(e) => setModality(e.currentTarget.value as LiveModality)}>
          {modalities.map((k) => (
            <option key={k} value={k}>
              {MODALITY_WORDS[k]}
            </option>
          ))}
        </select>
      </label>
      <button type="button" class="primary" onClick={book} disabled={busy}>
        Book for the client
      </button>
      {result && <p role="status">{result}</p>}
    </fieldset>
  );
}

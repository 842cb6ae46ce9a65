/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import { ShareAvailability } from './Availability.tsx';
import type { Credits, PlanView, Room } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import { SlotPicker } from './SlotPicker.tsx';
import type { AppStore } from './store.ts';
import { MODALITY_WORDS, when } from './time.ts';

type Modality = 'video' | 'audio' | 'chat' | 'messaging';

/** What this room and plan let the client book (psychiatry: video only; EAP/BH plans: messaging sessions too). */
export function modalitiesFor(room: Room, plan: PlanView | null): Modality[] {
  if (room.service === 'psychiatry') return ['video'];
  const kind = plan?.plan.kind;
  return kind === 'eap' || kind === 'bh_insurance'
    ? ['video', 'audio', 'chat', 'messaging']
    : ['video', 'audio', 'chat'];
}

/**
 * "Book a session": the type, an open slot in the client's own time, a credit
 * bought on the way when none is left (out-of-pocket plans), or the times the
 * client could meet when no slot fits.
 */
export function BookPanel({
  store,
  room,
  plan,
  onClose,
}: {
  store: AppStore;
  room: Room;
  plan: PlanView | null;
  onClose: (booked: boolean) => void;
}) {
  const modalities = modalitiesFor(room, plan);
  const [modality, setModality] = useState<Modality>(modalities[0]!);
  const [startsAt, setStartsAt] = useState<string | null>(null);
  const [credits, setCredits] = useState<Credits | null>(null);
  const [share, setShare] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const provider = room.members.find((m) => m.role === 'provider');

  useEffect(() => {
    store.api.credits().then(setCredits, () => setCredits(null));
  }, [store]);

  if (share) return <ShareAvailability store={store} room={room} onDone={() => onClose(false)} />;

  const type = modality === 'messaging' ? 'messaging' : 'live';
  const left = credits ? credits.availableByType[type] : null;
  const mayBuy = plan?.plan.kind === 'out_of_pocket' && type === 'live';
  const mustBuy = left === 0 && mayBuy;

  const book = async () => {
    if (!startsAt) return;
    setBusy(true);
    setError(null);
    try {
      await store.api.book({ roomId: room.id, modality, startsAt, ...(mustBuy ? { purchase: true } : {}) });
      onClose(true);
    } catch (e) {
      const err = e as TalkroomError;
      setError(err.code === 'no_credit' ? 'You have no session credit left for this.' : err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card book" aria-labelledby="book-title">
      <h3 id="book-title">Book a session</h3>
      <fieldset class="modalities">
        <legend>Type of session</legend>
        {modalities.map((k) => (
          <label key={k} class="radio">
            <input
              type="radio"
              name="modality"
              value={k}
              checked={modality === k}
              onChange={() => setModality(k)}
            />
            {MODALITY_WORDS[k]}
          </label>
        ))}
      </fieldset>
      {room.service === 'psychiatry' && <p class="muted">Psychiatry sessions are by video.</p>}
      {provider && (
        <SlotPicker store={store} providerId={provider.userId} chosen={startsAt} onChoose={setStartsAt} />
      )}
      {left !== null && (
        <p class={mustBuy ? 'notice' : 'muted'}>
          {mustBuy
            ? 'You have no session credits left this period: booking buys one.'
            : left === 0
              ? 'You have no credits left for this type of session.'
              : `${left} credit${left === 1 ? '' : 's'} left.`}
        </p>
      )}
      <ErrorLine error={error} />
      <div class="actions">
        <button type="button" class="primary" disabled={!startsAt || busy} onClick={book}>
          {startsAt
            ? `${mustBuy ? 'Buy a credit and book' : 'Book'} ${when(startsAt)}`
            : 'Choose a time to book'}
        </button>
        <button type="button" onClick={() => setShare(true)}>
          None of these times work
        </button>
        <button type="button" onClick={() => onClose(false)}>
          Close
        </button>
      </div>
    </section>
  );
}

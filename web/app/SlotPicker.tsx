/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import type { Slot } from './api.ts';
import type { AppStore } from './store.ts';
import { clock, day, dayKey } from './time.ts';

const DAYS_AHEAD = 14;
const SHOWN_DAYS = 4;

/**
 * The provider's open slots for the next two weeks, by day in the viewer's own
 * time zone; a slot is a button (keyboard and screen readers reach each one).
 */
export function SlotPicker({
  store,
  providerId,
  chosen,
  onChoose,
}: {
  store: AppStore;
  providerId: string;
  chosen: string | null;
  onChoose: (startsAt: string) => void;
}) {
  const [slots, setSlots] = useState<Slot[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [days, setDays] = useState(SHOWN_DAYS);

  useEffect(() => {
    const from = new Date();
    store.api
      .slots(providerId, from, new Date(from.getTime() + DAYS_AHEAD * 86_400_000))
      .then(setSlots, (e: TalkroomError) => setError(e.message));
  }, [providerId]);

  if (error) return <p class="error">{error}</p>;
  if (!slots) return <p class="muted">Looking for open times…</p>;
  if (slots.length === 0) return <p class="muted">No open times in the next two weeks.</p>;

  const byDay = new Map<string, Slot[]>();
  for (const s of slots) {
    const k = dayKey(s.startsAt);
    byDay.set(k, [...(byDay.get(k) ?? []), s]);
  }
  const groups = [...byDay.values()];
  return (
    <div class="slots">
      {groups.slice(0, days).map((g) => (
        <fieldset key={g[0]!.startsAt} class="slot-day">
          <legend>{day(g[0]!.startsAt)}</legend>
          <div class="slot-list">
            {g.map((s) => (
              <button
                type="button"
                key={s.startsAt}
                class={chosen === s.startsAt ? 'slot chosen' : 'slot'}
                aria-pressed={chosen === s.startsAt}
                data-starts={s.startsAt}
                onClick={() => onChoose(s.startsAt)}
              >
                {clock(s.startsAt)}
              </button>
            ))}
          </div>
        </fieldset>
      ))}
      {groups.length > days && (
        <button type="button" class="link" onClick={() => setDays(days + SHOWN_DAYS)}>
          Show more days
        </button>
      )}
    </div>
  );
}

/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import type { PlanView, Room } from './api.ts';
import { Composer } from './Composer.tsx';
import { roomTitle } from './RoomList.tsx';
import { Sessions } from './Sessions.tsx';
import type { AppStore } from './store.ts';
import { TicketBar } from './Ticket.tsx';
import { Timeline } from './Timeline.tsx';
import { when } from './time.ts';

/**
 * Whether this client may post text and recordings here, and if not, why (the
 * server refuses the same; saying it up front spares a failed send).
 */
export function messagingBlock(room: Room, plan: PlanView | null, messagingNow: boolean): string | null {
  if (room.kind !== 'therapy') return null;
  if (room.service === 'psychiatry') {
    return 'Psychiatry is by video session only: book one below, or share the times you could meet.';
  }
  if (!plan) return null;
  const kind = plan.plan.kind;
  if ((kind === 'eap' || kind === 'bh_insurance') && !messagingNow) {
    return 'Your plan includes messaging during a booked messaging session: book one below.';
  }
  if (kind === 'organization' && !plan.plan.includesMessaging) {
    return 'Your plan does not include messaging: book a session below, or share the times you could meet.';
  }
  return null;
}

export function RoomPane({ store, room, onBack }: { store: AppStore; room: Room; onBack: () => void }) {
  const me = store.me;
  const [plan, setPlan] = useState<PlanView | null>(null);
  const [messagingNow, setMessagingNow] = useState(false);
  const [note, setNote] = useState<string | null>(null);
  const isClient = me.role === 'client';
  const staff = me.role === 'support' || me.role === 'clinical';

  useEffect(() => {
    if (isClient) store.api.plan().then(setPlan, () => setPlan(null));
  }, [store, isClient]);

  const escalate = (to: 'supervisor' | 'clinical') =>
    store.api.escalate(room.id, to).then(
      () => {
        setNote(to === 'clinical' ? 'The clinical team can now read this room.' : 'Handed to a supervisor.');
        store.refreshRooms();
      },
      (e: TalkroomError) => setNote(e.message),
    );

  const block = isClient ? messagingBlock(room, plan, messagingNow) : null;
  const provider = room.members.find((m) => m.role === 'provider');

  return (
    <section class="pane" aria-labelledby="room-title">
      <div class="pane-head">
        <button type="button" class="back" onClick={onBack}>
          ← Rooms
        </button>
        <h2 id="room-title">{roomTitle(store, room)}</h2>
        {isClient && room.kind === 'therapy' && room.replyDueAt && (
          <p class={`due${room.replyOverdue ? ' overdue' : ''}`}>
            {room.replyOverdue
              ? `${provider?.displayName ?? 'Your provider'}'s reply is late (it was due ${when(room.replyDueAt)}).`
              : `${provider?.displayName ?? 'Your provider'} replies by ${when(room.replyDueAt)}.`}
          </p>
        )}
        {me.role === 'provider' && room.replyDueAt && (
          <p class={`due${room.replyOverdue ? ' overdue' : ''}`}>
            {room.replyOverdue ? 'Reply overdue since ' : 'Reply due by '}
            {when(room.replyDueAt)}
          </p>
        )}
        {staff && room.kind === 'support' && <TicketBar store={store} room={room} />}
        {staff && room.kind === 'support' && (
          <fieldset class="actions">
            <legend class="visually-hidden">Escalate</legend>
            <button
              type="button"
              disabled={room.escalations.includes('supervisor')}
              onClick={() => escalate('supervisor')}
            >
              {room.escalations.includes('supervisor') ? 'With a supervisor' : 'Escalate to a supervisor'}
            </button>
            <button
              type="button"
              disabled={room.escalations.includes('clinical')}
              onClick={() => escalate('clinical')}
            >
              {room.escalations.includes('clinical')
                ? 'Clinical team consulted'
                : 'Escalate to the clinical team'}
            </button>
          </fieldset>
        )}
        {note && (
          <p class="muted" role="status">
            {note}
          </p>
        )}
      </div>
      {room.kind === 'therapy' && (me.role === 'client' || me.role === 'provider') && (
        <Sessions
          store={store}
          room={room}
          plan={plan}
          mayMessage={block === null}
          onMessagingNow={setMessagingNow}
        />
      )}
      <Timeline store={store} room={room} />
      <Composer store={store} room={room} block={block} />
    </section>
  );
}

/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useState } from 'preact/hooks';
import type { Room, TicketStatus } from './api.ts';
import { ErrorLine } from './ErrorLine.tsx';
import type { AppStore } from './store.ts';

export const TICKET_WORDS: Record<TicketStatus, string> = {
  open: 'Open',
  pending: 'Pending',
  resolved: 'Resolved',
};

/** The button that moves a ticket to each status. */
const TO_STATUS: Record<TicketStatus, string> = {
  open: 'Reopen',
  pending: 'Mark pending',
  resolved: 'Resolve',
};

const TICKET_ORDER: Record<TicketStatus, number> = { open: 0, pending: 1, resolved: 2 };

/** Where a room goes in the desk's list: open tickets first, then pending, then resolved. */
export const ticketRank = (r: Room): number => (r.ticket ? TICKET_ORDER[r.ticket.status] : 0);

/**
 * The assignee's name as the timeline told it ("Assigned to Sam."): the API
 * has no directory of reps, so a name the desk has not seen stays an id.
 */
function assigneeName(store: AppStore, room: Room, id: string): string {
  if (id === store.me.userId) return 'you';
  const notice = store
    .timeline(room.id)
    .messages.findLast(
      (m) => m.kind === 'system' && (m.meta as { assigneeId?: unknown } | undefined)?.assigneeId === id,
    );
  const named = notice?.text?.match(/^Assigned to (.+)\.$/)?.[1];
  return named ?? id;
}

/**
 * A support room's ticket for the staff: its status and assignee, and for the
 * support team the controls that change them (`PUT /v1/rooms/:id/ticket`).
 * After a supervisor escalation the server lets only supervisors change it; a
 * token does not say who is one, so a rep who tries reads the server's refusal.
 */
export function TicketBar({ store, room }: { store: AppStore; room: Room }) {
  const [assignTo, setAssignTo] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ticket = room.ticket;
  if (!ticket) return null;
  const manages = store.me.role === 'support';
  const handedOver = ticket.escalatedTo === 'supervisor';

  const change = async (body: { status?: TicketStatus; assigneeId?: string | null }) => {
    setBusy(true);
    setError(null);
    try {
      store.putRoom(await store.api.ticket(room.id, body));
      setAssignTo('');
    } catch (e) {
      setError((e as TalkroomError).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="ticket" data-status={ticket.status}>
      <p>
        <span class={`tag status-${ticket.status}`}>{TICKET_WORDS[ticket.status]}</span>{' '}
        {ticket.assigneeId
          ? `Assigned to ${assigneeName(store, room, ticket.assigneeId)}`
          : handedOver
            ? 'With the supervisors, not yet taken'
            : 'Unassigned'}
        {ticket.escalatedTo === 'clinical' && ' · clinical team consulted'}
      </p>
      {manages && (
        <>
          <fieldset class="actions">
            <legend class="visually-hidden">Ticket status</legend>
            {(['open', 'pending', 'resolved'] as const)
              .filter((s) => s !== ticket.status)
              .map((s) => (
                <button key={s} type="button" disabled={busy} onClick={() => change({ status: s })}>
                  {TO_STATUS[s]}
                </button>
              ))}
            {ticket.assigneeId !== store.me.userId && (
              <button type="button" disabled={busy} onClick={() => change({ assigneeId: store.me.userId })}>
                Take it
              </button>
            )}
            {ticket.assigneeId && (
              <button type="button" disabled={busy} onClick={() => change({ assigneeId: null })}>
                Unassign
              </button>
            )}
          </fieldset>
          <details class="assign">
            <summary>Assign to someone else</summary>
            <form
              onSubmit={(e) => {
                e.preventDefault();
                if (assignTo.trim()) void change({ assigneeId: assignTo.trim() });
              }}
            >
              <label for="assign-to">
                {handedOver ? 'Assign to a supervisor (user id)' : 'Assign to a rep (user id)'}
              </label>
              <input id="assign-to" value={assignTo} onInput={(e) => setAssignTo(e.currentTarget.value)} />
              <button type="submit" disabled={busy || !assignTo.trim()}>
                Assign
              </button>
            </form>
          </details>
        </>
      )}
      <ErrorLine error={error} />
    </div>
  );
}

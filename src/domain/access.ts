import type { Actor, Room } from './types.ts';

/**
 * Who may see a room. Nothing in a room is shown to anyone outside it: support
 * staff never read therapy rooms (they must not act as surrogate therapists),
 * admins provision rooms but do not read them, and bots only post.
 */
export function canRead(actor: Actor, room: Room): boolean {
  if (room.kind === 'therapy') {
    return (
      (actor.role === 'client' && actor.id === room.clientId) ||
      (actor.role === 'provider' && actor.id === room.providerId)
    );
  }
  if (actor.id === room.requesterId) return true;
  if (actor.role === 'support') return true;
  return actor.role === 'clinical' && room.escalations.includes('clinical');
}

/**
 * Who reads a support room's internal notes: its staff (the support team, and
 * the clinical team once consulted), never its requester.
 */
export function seesInternalNotes(actor: Actor, room: Room): boolean {
  return (
    room.kind === 'support' &&
    actor.id !== room.requesterId &&
    (actor.role === 'support' || actor.role === 'clinical') &&
    canRead(actor, room)
  );
}

/**
 * Who may change a ticket: the support team; once handed over to the
 * supervisors (escalated to `supervisor`), only supervisors.
 */
export function mayManageTicket(actor: Actor, room: Room, isSupervisor: boolean): boolean {
  if (room.kind !== 'support' || actor.role !== 'support' || actor.id === room.requesterId) return false;
  return isSupervisor || !room.escalations.includes('supervisor');
}

/** Who may post into a room: its readers, and bots whose token names it. */
export function canPost(actor: Actor, room: Room): boolean {
  if (actor.role === 'bot') return botMayPost(actor, room.id);
  return canRead(actor, room);
}

export function botMayPost(actor: Actor, roomId: string): boolean {
  const rooms = actor.rooms ?? [];
  return rooms.includes('*') || rooms.includes(roomId);
}

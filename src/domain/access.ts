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

/** Who may post into a room: its readers, and bots whose token names it. */
export function canPost(actor: Actor, room: Room): boolean {
  if (actor.role === 'bot') return botMayPost(actor, room.id);
  return canRead(actor, room);
}

export function botMayPost(actor: Actor, roomId: string): boolean {
  const rooms = actor.rooms ?? [];
  return rooms.includes('*') || rooms.includes(roomId);
}

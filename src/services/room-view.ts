import type { Room } from '../domain/types.ts';

/** A room as the contract shows it (times as ISO strings): answers and the user's export. */
export function publicRoom(room: Room) {
  return {
    id: room.id,
    kind: room.kind,
    service: room.service,
    clientId: room.clientId,
    providerId: room.providerId,
    requesterId: room.requesterId,
    escalations: room.escalations,
    createdAt: room.createdAt.toISOString(),
  };
}

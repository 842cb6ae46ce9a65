import type { Server } from 'socket.io';
import type { Audience, RoomEvents } from '../src/services/ports.ts';
import {
  type ClientToServerEvents,
  channel,
  type InterServerEvents,
  type ServerToClientEvents,
  type SocketData,
} from './events.ts';

export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/**
 * The services' RoomEvents over Socket.IO. With the Redis adapter each of these
 * reaches the matching sockets on every node.
 */
export function socketRoomEvents(io: IoServer): RoomEvents {
  const to = (roomId: string, audience?: Audience) =>
    !audience
      ? io.to(channel.room(roomId))
      : 'only' in audience
        ? io.to(channel.user(audience.only))
        : io.to(channel.room(roomId)).except(channel.user(audience.except));
  return {
    // A session's chat also reaches the sockets that signed in with its join link (they hear no room).
    messageNew: (m, audience) =>
      (audience
        ? to(m.roomId, audience)
        : io.to(
            m.bookingId && m.kind === 'text'
              ? [channel.room(m.roomId), channel.live(m.bookingId)]
              : channel.room(m.roomId),
          )
      ).emit('message:new', m),
    messageRead: (ev, audience) => to(ev.roomId, audience).emit('message:read', ev),
    typing: (ev, exceptSocketId) => {
      const target = io.to(channel.room(ev.roomId));
      (exceptSocketId ? target.except(exceptSocketId) : target).emit('typing', ev);
    },
    roomOpened: (roomId, audience) => {
      const targets = [
        ...(audience.userIds ?? []).map(channel.user),
        ...(audience.roles ?? []).map(channel.role),
      ];
      if (targets.length === 0) return;
      io.in(targets).except(channel.joinLinks).socketsJoin(channel.room(roomId));
      io.to(targets).except(channel.joinLinks).emit('room:opened', { roomId });
    },
  };
}

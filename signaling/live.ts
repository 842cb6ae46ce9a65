import { AppError } from '../src/errors.ts';
import type { Logger } from '../src/log.ts';
import type { LiveEvents, LiveService } from '../src/services/live.ts';
import { channel, type Handle, type IoSocket } from './events.ts';
import type { IoServer } from './room-events.ts';

/** One participant's sockets in a session: consumers made for that participant go there only. */
const liveMember = (bookingId: string, userId: string) => `${channel.live(bookingId)}:${userId}`;

/** The live-session events of PROTOCOL.md on one socket. */
export function attachLiveHandlers(socket: IoSocket, handle: Handle, live: LiveService, log: Logger): void {
  const me = socket.data.identity;
  socket.data.live = new Set();
  const joined = (bookingId: string): string => {
    if (!socket.data.live.has(bookingId))
      throw new AppError('forbidden', `bookingId: join session ${bookingId} with live:join first`);
    // A newer socket of the same participant took the session over (it removed this one from the channel).
    if (!socket.rooms.has(channel.live(bookingId)))
      throw new AppError(
        'superseded',
        'another connection of yours joined this session; this one was let go',
      );
    return bookingId;
  };

  handle('live:join', async (ref) => {
    let admittedTo: string | undefined;
    const { answer, booking } = await live
      .join(me, ref, (bookingId) => {
        admittedTo = bookingId;
        socket.join([channel.live(bookingId), liveMember(bookingId, me.id)]);
      })
      .catch((e: unknown) => {
        // A failed join leaves the socket as it was: subscribed only if it had joined before.
        if (admittedTo && !socket.data.live.has(admittedTo)) leaveChannels(socket, admittedTo, me.id);
        throw e;
      });
    socket.data.live.add(booking.id);
    await supersede(socket, booking.id, log);
    // After the answer (same socket, so in order): what the other side already sends. A join
    // with rtpCapabilities has the consumers of those in its answer already.
    if (!ref.rtpCapabilities)
      setImmediate(() => {
        live.existingProducers(booking.id, me.id).then(
          (producers) => {
            for (const p of producers) {
              socket.emit('live:producer', {
                bookingId: booking.id,
                producerId: p.producerId,
                userId: p.peerId,
                kind: p.kind,
              });
            }
          },
          (e) => log.warn({ err: (e as Error).message, bookingId: booking.id }, 'listing producers failed'),
        );
      });
    return answer;
  });
  handle('live:transport', (i) => live.transport(me, joined(i.bookingId), i.direction));
  handle('live:connect', async (i) => {
    await live.connect(me, joined(i.bookingId), i.transportId, i.dtlsParameters);
    return {};
  });
  handle('live:restartIce', (i) => live.restartIce(me, joined(i.bookingId), i.transportId));
  handle('live:produce', (i) =>
    live.produce(me, joined(i.bookingId), i.transportId, i.kind, i.rtpParameters, i.appData),
  );
  handle('live:consume', (i) =>
    live.consume(me, joined(i.bookingId), i.transportId, i.producerId, i.rtpCapabilities),
  );
  handle('live:receive', (i) => live.receive(me, joined(i.bookingId), i.rtpCapabilities));
  handle('live:resume', async (i) => {
    await live.resume(me, joined(i.bookingId), i.consumerId);
    return {};
  });
  handle('live:mute', async (i) => {
    await live.mute(me, joined(i.bookingId), i.producerId, i.paused);
    return {};
  });
  handle('live:leave', async (i) => {
    const id = joined(i.bookingId);
    socket.data.live.delete(id);
    leaveChannels(socket, id, me.id);
    await live.leave(me, id);
    return {};
  });
  handle('live:end', async (i) => {
    await live.end(me, joined(i.bookingId));
    return {};
  });

  // A dropped socket leaves its sessions; the session goes on, and rejoining resumes it.
  // Not those it was superseded in: its newer socket is there.
  socket.on('disconnecting', () => {
    for (const id of socket.data.live) {
      if (!socket.rooms.has(channel.live(id))) continue;
      live
        .leave(me, id)
        .catch((e) => log.warn({ err: (e as Error).message, bookingId: id }, 'leave on disconnect failed'));
    }
  });
}

/**
 * One socket per participant and session (PROTOCOL.md): the participant's
 * other sockets in the session, on any node, are told `live:rejoin` with reason
 * `superseded` and taken out of its channel, so they hear nothing more of it and
 * their live requests are refused.
 */
async function supersede(socket: IoSocket, bookingId: string, log: Logger): Promise<void> {
  const me = socket.data.identity.id;
  try {
    const sockets = await socket.nsp.in(channel.live(bookingId)).fetchSockets();
    for (const other of sockets) {
      if (other.id === socket.id || other.data.identity?.id !== me) continue;
      other.emit('live:rejoin', { bookingId, reason: 'superseded' });
      leaveChannels(other, bookingId, me);
    }
  } catch (e) {
    log.warn({ err: (e as Error).message, bookingId }, 'could not reach older sockets of the participant');
  }
}

/** Out of a session's channels (a socket here, or one on another node). */
function leaveChannels(socket: { leave(room: string): unknown }, bookingId: string, userId: string): void {
  socket.leave(channel.live(bookingId));
  socket.leave(liveMember(bookingId, userId));
}

/** LiveEvents over Socket.IO: one channel per live session, and one per participant in it. */
export function socketLiveEvents(io: IoServer): LiveEvents {
  return {
    // Not to the participant's own sockets: the join or leave answer tells them.
    participant: (ev) =>
      io.to(channel.live(ev.bookingId)).except(channel.user(ev.userId)).emit('live:participant', ev),
    started: (ev) => io.to(channel.live(ev.bookingId)).emit('live:started', ev),
    ended: (ev) => io.to(channel.live(ev.bookingId)).emit('live:ended', ev),
    // Not to the producer's own sockets: they know their producer from the ack.
    producer: (ev) =>
      io.to(channel.live(ev.bookingId)).except(channel.user(ev.userId)).emit('live:producer', ev),
    rejoin: (ev) => io.to(channel.live(ev.bookingId)).emit('live:rejoin', ev),
    consumer: ({ to, ...ev }) => io.to(liveMember(ev.bookingId, to)).emit('live:consumer', ev),
  };
}

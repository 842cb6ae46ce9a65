import type { IncomingMessage } from 'node:http';
import { handshakeRequestId } from '../src/http/access-log.ts';
import type { Logger } from '../src/log.ts';
import type { IoSocket } from './events.ts';
import type { IoServer } from './room-events.ts';

/**
 * One line when a socket connects and one when it closes, with the id of the
 * handshake request (echoed in its X-Request-Id), the user and role, the
 * transport and, on close, the reason and how long it lasted.
 */
export function logSocketConnections(io: IoServer, log: Logger): void {
  io.engine.on('initial_headers', (headers: Record<string, string>, req: IncomingMessage) => {
    headers['X-Request-Id'] = handshakeRequestId(req);
  });
  // One listener for every socket (called with it as `this`), and what its line needs read
  // from the socket when it closes: an idle socket keeps nothing of its own for its log.
  function closed(this: IoSocket, reason: string): void {
    const durationMs = Date.now() - this.handshake.issued;
    log.info({ ...ids(this), reason, durationMs }, 'socket closed');
  }
  io.on('connection', (socket) => {
    log.info({ ...ids(socket), transport: socket.conn.transport.name }, 'socket open');
    socket.on('disconnect', closed);
  });
}

const ids = (socket: IoSocket) => ({
  reqId: handshakeRequestId(socket.request),
  socketId: socket.id,
  userId: socket.data.identity?.id,
  role: socket.data.identity?.role,
});

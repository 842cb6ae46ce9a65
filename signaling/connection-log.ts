import type { IncomingMessage } from 'node:http';
import { handshakeRequestId } from '../src/http/access-log.ts';
import type { Logger } from '../src/log.ts';
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
  io.on('connection', (socket) => {
    const started = performance.now();
    const base = {
      reqId: handshakeRequestId(socket.request),
      socketId: socket.id,
      userId: socket.data.identity?.id,
      role: socket.data.identity?.role,
    };
    log.info({ ...base, transport: socket.conn.transport.name }, 'socket open');
    socket.on('disconnect', (reason) => {
      log.info({ ...base, reason, durationMs: Math.round(performance.now() - started) }, 'socket closed');
    });
  });
}

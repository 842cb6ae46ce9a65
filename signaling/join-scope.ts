import { AppError } from '../src/errors.ts';
import type { JoinScope, RequestEvent } from './events.ts';

/**
 * What a socket signed in with a join link may do (PROTOCOL.md, "Join links
 * are enough"): the live events of its own booking, and the chat of that
 * session. Nothing else of the room (its history, other sessions, other
 * rooms) opens to a link, so a forwarded link exposes one session at most.
 */
export function checkJoinScope(event: RequestEvent, input: unknown, scope: JoinScope): void {
  const ref = input as { bookingId?: unknown; joinToken?: unknown };
  const own =
    ref.bookingId === scope.bookingId || (event === 'live:join' && ref.joinToken === scope.joinToken);
  if ((event.startsWith('live:') || event === 'message:send') && own) return;
  throw new AppError(
    'forbidden',
    event.startsWith('live:') || event === 'message:send'
      ? `bookingId: this connection was opened with the join link of booking ${scope.bookingId}, and acts only in that session`
      : `${event}: a connection opened with a join link may only take part in its session`,
  );
}

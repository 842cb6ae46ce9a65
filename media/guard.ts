import { errors } from 'mediasoup';
import type { Logger } from 'pino';
import { MediaError } from './errors.ts';
import { invalid, label } from './validate.ts';

/** What a failed request is judged against: the session it runs in. */
export interface GuardScope {
  readonly id: string;
  readonly closed: boolean;
  readonly log: Logger;
}

export const sessionClosed = (sessionId: string): MediaError =>
  new MediaError('not_found', `session ${label(sessionId)} is closed`);

/** A `gone` check for guard(): says so once the entity has closed. */
export const closedEntity =
  (entity: { closed: boolean; id: string }, what: string): (() => string | undefined) =>
  () =>
    entity.closed ? `${what} ${label(entity.id)} is closed` : undefined;

/**
 * Runs a mediasoup request and says whose fault a failure is. A request
 * carrying client input (`field`) fails because of that input, unless what
 * it acts on closed meanwhile (then not_found); a request without input
 * fails on our side (media_unavailable). Nothing else is touched, so the
 * session stays usable.
 */
export async function guard<T>(
  scope: GuardScope,
  field: string | undefined,
  gone: () => string | undefined,
  request: () => Promise<T>,
): Promise<T> {
  try {
    return await request();
  } catch (error) {
    if (error instanceof MediaError) throw error;
    if (scope.closed) throw sessionClosed(scope.id);
    const goneMessage = gone();
    if (goneMessage) throw new MediaError('not_found', goneMessage);
    if (error instanceof errors.WorkerClosedError)
      throw new MediaError('media_unavailable', 'media worker closed');
    const message = error instanceof Error ? error.message : String(error);
    if (field) throw invalid(field, message.length > 200 ? `${message.slice(0, 200)}…` : message);
    scope.log.error({ err: error, sessionId: scope.id }, 'media request failed');
    throw new MediaError('media_unavailable', 'media request failed');
  }
}

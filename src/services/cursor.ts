import { AppError } from '../errors.ts';

/**
 * A position in a list ordered by (an instant, an id), as an opaque string:
 * the `next` of one answer and the `cursor` of the request for the page after.
 */
export const writeCursor = (at: string, id: string): string =>
  Buffer.from(JSON.stringify([at, id])).toString('base64url');

export function readCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const date = new Date(at);
    if (typeof at === 'string' && typeof id === 'string' && !Number.isNaN(date.getTime()))
      return { at: date, id };
  } catch {}
  throw new AppError('invalid_input', 'cursor: not a cursor this server gave (use the answer’s next)');
}

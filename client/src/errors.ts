import type { ErrorCode } from '../../protocol/errors.ts';

/**
 * Every failure the SDK reports: a code from the contract's list (the server's
 * own, or `unavailable` when no answer came: not connected, timed out).
 */
export class TalkroomError extends Error {
  readonly code: ErrorCode;
  /** No answer came within the request's timeout (code `unavailable`): it may or may not have been done. */
  readonly timedOut: boolean;
  constructor(code: ErrorCode, message: string, opts: { timedOut?: boolean } = {}) {
    super(message);
    this.name = 'TalkroomError';
    this.code = code;
    this.timedOut = opts.timedOut ?? false;
  }
}

/** Codes after which the same request may succeed later unchanged (the outbox keeps such a send). */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'unavailable',
  'rate_limited',
  'token_expired',
  'internal',
]);

export const isTalkroomError = (e: unknown): e is TalkroomError => e instanceof TalkroomError;

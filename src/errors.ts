import { ERROR_CODES, type ErrorCode } from '../protocol/errors.ts';

// The code list is the contract's (protocol/errors.ts); re-exported for the server's own modules.
export { ERROR_CODES, type ErrorCode };

export class AppError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'AppError';
    this.code = code;
  }
  get httpStatus(): number {
    return ERROR_CODES[this.code];
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** The one place that decides what an unexpected error looks like to a user. */
export function toPublicError(e: unknown): { code: ErrorCode; message: string } {
  if (isAppError(e)) return { code: e.code, message: e.message };
  return { code: 'internal', message: 'internal error' };
}

/**
 * Every error a user can see carries one of these codes. The codes are the
 * public contract (PROTOCOL.md); never reuse one for another meaning.
 */
export const ERROR_CODES = {
  unauthenticated: 401,
  token_expired: 401,
  forbidden: 403,
  not_found: 404,
  invalid_input: 400,
  payload_too_large: 413,
  rate_limited: 429,
  conflict: 409,
  no_credit: 409,
  messaging_session_required: 403,
  plan_excludes_messaging: 403,
  psychiatry_video_only: 403,
  session_already_started: 409,
  join_window_closed: 403,
  modality_mismatch: 400,
  support_cannot_manage_sessions: 403,
  media_unavailable: 503,
  legal_hold: 409,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

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

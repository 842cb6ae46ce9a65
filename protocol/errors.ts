/**
 * Every error a user can see carries one of these codes, with the HTTP status
 * it is answered with. The codes are the public contract (PROTOCOL.md): add,
 * never reuse one for another meaning.
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
  superseded: 409,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What a failed request answers: in REST as `{ error }`, on a socket as `{ ok: false, error }`. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

/** Every socket request answers with this one shape. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

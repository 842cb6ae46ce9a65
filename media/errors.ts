/**
 * The codes are a subset of the application's public error codes (src/errors.ts),
 * spelled the same, so signaling maps a MediaError to its acknowledgement
 * without a table. media/ does not import src/ to stay free of the domain.
 */
export const MEDIA_ERROR_CODES = ['not_found', 'forbidden', 'invalid_input', 'media_unavailable'] as const;
export type MediaErrorCode = (typeof MEDIA_ERROR_CODES)[number];

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  constructor(code: MediaErrorCode, message: string) {
    super(message);
    this.name = 'MediaError';
    this.code = code;
  }
}

export const isMediaError = (e: unknown): e is MediaError => e instanceof MediaError;

import pino, { type Logger } from 'pino';

/** Error fields a database driver fills with the statement's values or rows: never logged. */
const VALUE_FIELDS = ['params', 'parameters', 'query', 'internalQuery', 'detail', 'where', 'hint', 'values'];
const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * Errors as they are logged: the standard shape without what may quote the
 * data being stored. PostgreSQL and PGlite put the statement's parameters (a
 * message's text) and rows in fields of their errors, and their messages may
 * quote a value ("invalid input syntax …: \"…\""): for those, quoted values
 * are blanked in the message and stack.
 */
export function safeError(err: unknown): unknown {
  const out = pino.stdSerializers.err(err as Error) as Record<string, unknown> | undefined;
  if (!out || typeof out !== 'object') return out;
  for (const field of VALUE_FIELDS) delete out[field];
  if (typeof out.code === 'string' && SQLSTATE.test(out.code)) {
    const blank = (s: unknown) => (typeof s === 'string' ? s.replace(/"[^"]*"/g, '"…"') : s);
    out.message = blank(out.message);
    out.stack = blank(out.stack);
  }
  return out;
}

/**
 * Logs carry ids, never message text or tokens: this is mental-health data.
 * Redaction is the safety net; call sites should not pass such fields at all.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'talkroom', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: safeError },
      redact: {
        paths: [
          'text',
          '*.text',
          'token',
          '*.token',
          'joinToken',
          '*.joinToken',
          'authorization',
          '*.authorization',
          'req.headers.authorization',
          'availability',
          '*.availability',
          'meta',
          '*.meta',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export type { Logger };

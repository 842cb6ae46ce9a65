import pino, { type Logger } from 'pino';

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

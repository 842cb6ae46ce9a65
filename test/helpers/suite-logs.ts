import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { inject } from 'vitest';
import { createLogger, type Logger } from '../../src/log.ts';

/**
 * The whole suite's privacy check (test/global-setup.ts): every server a test
 * starts logs at debug level into one folder, and the helpers note every
 * text, meta value, token, join token and file name a test sends or receives;
 * after the run, no logged line may contain any of them.
 */
const dir = (() => {
  try {
    return inject('suiteLogDir');
  } catch {
    return undefined; // outside vitest (a benchmark importing a helper)
  }
})();

let destination: pino.DestinationStream | undefined;

/** A logger for an in-process test server: debug level, into the suite's log folder. */
export function suiteLogger(): Logger {
  if (!dir) return createLogger('silent');
  destination ??= pino.destination({ dest: join(dir, `${process.pid}.log`), sync: true });
  return createLogger('debug', destination);
}

/** What a spawned server wrote on stdout (its log lines), kept for the same check. */
export function suiteLog(chunk: string): void {
  if (dir) appendFileSync(join(dir, `${process.pid}.log`), chunk);
}

/** Values that must never be logged. Short ones are skipped: they would match ids and words by chance. */
export function remember(...values: unknown[]): void {
  if (!dir) return;
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'string') {
      if (v.length >= MIN_CHARS && new Set(v).size >= 6 && !NOT_SECRET.test(v)) out.push(JSON.stringify(v));
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  values.forEach(walk);
  if (out.length) appendFileSync(join(dir, `${process.pid}.used`), `${out.join('\n')}\n`);
}

/** What a request carries that must stay out of logs: its text, meta, availability, tokens. */
export function rememberPayload(payload: unknown): void {
  if (!payload || typeof payload !== 'object') return;
  const p = payload as Record<string, unknown>;
  remember(p.text, p.meta, p.token, p.joinToken, p.note);
}

/** Join tokens in an answer (a reminder's or a bot's links) and a download's file name. */
export function rememberAnswer(body: unknown, headers?: Headers): void {
  if (!dir) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? null);
  remember([...text.matchAll(/\/join\/([\w-]+\.[\w-]+\.[\w-]+)/g)].map((m) => m[1]));
  const disposition = headers?.get('content-disposition');
  const name = disposition ? /filename="([^"]+)"/.exec(disposition)?.[1] : undefined;
  if (name) remember(name);
}

export const MIN_CHARS = 12;

/** Values a test may put in meta that logs rightly carry: ids (a booking's, in a reminder's meta) and instants. */
const NOT_SECRET =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\dT[\d:.]+Z)$/;

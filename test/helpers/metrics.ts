import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.ts';

/** The value of one series in Prometheus text (labels as given, in any order), or undefined if absent. */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const want = Object.entries(labels);
    if (want.length !== Object.keys(have).length) continue;
    if (want.every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** A logger whose JSON lines are kept for the test to read (access log, redaction). */
export function capturedLogger(level = 'info'): {
  log: Logger;
  lines: () => Record<string, any>[];
  raw: () => string;
  /** Resolves with the first line that matches, logged already or still to come (bounded, so a missing line fails). */
  waitFor: (match: (line: Record<string, any>) => boolean, what: string) => Promise<Record<string, any>>;
} {
  const chunks: string[] = [];
  const listeners = new Set<() => void>();
  const sink = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      for (const l of [...listeners]) l();
      done();
    },
  });
  const log = createLogger(level, sink);
  const raw = () => chunks.join('');
  const lines = () =>
    raw()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, any>);
  const waitFor = (match: (line: Record<string, any>) => boolean, what: string) =>
    new Promise<Record<string, any>>((resolve, reject) => {
      const check = () => {
        const found = lines().find(match);
        if (!found) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no log line: ${what}`));
      }, 30_000);
      listeners.add(check);
      check();
    });
  return { log, raw, lines, waitFor };
}

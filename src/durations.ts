import { z } from 'zod';
import { commaList } from './comma-list.ts';

/**
 * Durations in settings: a number and a unit (`500ms`, `10s`, `15m`, `1.5h`,
 * `7d`), checked against bounds, as zod schemas the configuration is built from.
 */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
const UNIT_MS = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY } as const;
const UNITS = 'ms, s, m, h or d';
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/i;
/** Nothing is nothing in any unit: a bare 0 needs none. */
const ZERO = /^0+(\.0+)?$/;

/**
 * A duration as written in the settings: a number and a unit (ms, s, m, h, d),
 * e.g. `500ms`, `10s`, `15m`, `24h`, `7d`. A bare number is not one (`600`
 * could mean seconds as easily as milliseconds), except 0. Returns
 * milliseconds, or null.
 */
export function parseDuration(text: string): number | null {
  if (ZERO.test(text.trim())) return 0;
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const n = Number(m[1]) * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS];
  return Number.isSafeInteger(n) ? n : null;
}

/** The shortest way to write a number of milliseconds as a setting: 90000 → 90s, 86400000 → 1d. */
export function formatDuration(msValue: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (msValue % UNIT_MS[unit] === 0) return `${msValue / UNIT_MS[unit]}${unit}`;
  }
  return `${msValue}ms`;
}

export interface Bounds {
  min: number;
  max: number;
  /** Why the lower bound is there, said after it. */
  minWhy?: string;
  /** Why the upper bound is there, said after it. */
  maxWhy?: string;
}

/** One duration's problem, or null (also for the token CLI's --ttl). */
export function durationProblem(text: string, b: Bounds): string | null {
  const t = text.trim();
  const m = ZERO.test(t) ? ['0', '0', 'ms'] : DURATION.exec(t);
  if (!m) {
    if (/^\d+(\.\d+)?$/.test(t))
      return `"${t}" has no unit: write it with one of ${UNITS} (e.g. ${t}s or ${t}ms)`;
    if (/^-/.test(t)) return `"${t}" is negative; durations are 0 or more`;
    return `not a duration: "${t}" (a number and a unit, one of ${UNITS}: e.g. 10s, 15m, 24h, 7d)`;
  }
  const n = Number(m[1]) * UNIT_MS[m[2]!.toLowerCase() as keyof typeof UNIT_MS];
  if (n > b.max) return `must be at most ${formatDuration(b.max)}${b.maxWhy ? ` (${b.maxWhy})` : ''}`;
  if (!Number.isInteger(n)) return `"${t}" is not a whole number of milliseconds`;
  if (n < b.min) return `must be at least ${formatDuration(b.min)}${b.minWhy ? ` (${b.minWhy})` : ''}`;
  return null;
}

/** A duration in its bounds, as milliseconds; a problem names itself. */
export const boundedDuration = (b: Bounds) =>
  z.string().transform((v, ctx) => {
    const problem = durationProblem(v, b);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return parseDuration(v)!;
  });

/** A duration setting; its default is written as the environment would write it, and checked like it. */
export const duration = (fallback: string, b: Bounds) => boundedDuration(b).prefault(fallback);

/** A duration setting with no default: unset means "never". */
export const optionalDuration = (b: Bounds) => boundedDuration(b).optional();

/** A comma-separated list of durations, longest first; each checked like a single one. */
export const durationList = (fallback: string, b: Bounds & { maxEntries: number }) =>
  z
    .string()
    .transform((v, ctx) => {
      const parts = commaList(v);
      if (parts.length > b.maxEntries) {
        ctx.addIssue({ code: 'custom', message: `at most ${b.maxEntries} durations, not ${parts.length}` });
        return z.NEVER;
      }
      const out: number[] = [];
      for (const part of parts) {
        const problem = durationProblem(part, b);
        if (problem) {
          // Name the entry, unless the problem quotes it already.
          const message = problem.includes(`"${part}"`) ? problem : `${part}: ${problem}`;
          ctx.addIssue({ code: 'custom', message });
          return z.NEVER;
        }
        const n = parseDuration(part)!;
        // Each offset names its own job and message; two equal ones would be one reminder said twice.
        const same = out.indexOf(n);
        if (same >= 0) {
          ctx.addIssue({
            code: 'custom',
            message: `${parts[same]} and ${part} are the same offset; list it once`,
          });
          return z.NEVER;
        }
        out.push(n);
      }
      return out.sort((a, b) => b - a);
    })
    .prefault(fallback);

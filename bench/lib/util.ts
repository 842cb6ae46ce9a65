/** Settings, logging and statistics shared by every benchmark. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const RESULTS = join(ROOT, 'bench', 'results');
export const HOST = '127.0.0.1';
export const CORES = cpus().length;

/** BENCH_QUICK=1: every benchmark's small sizes and short windows, to check that it still runs (figures meaningless). */
export const QUICK = process.env.BENCH_QUICK === '1';

/** A numeric setting from the environment, bounded; `quick` is the default under BENCH_QUICK=1. */
export function num(name: string, dflt: number, min: number, max: number, quick = dflt): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return QUICK ? quick : dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name}: expected ${min}..${max}, got ${raw}`);
  return n;
}

export const log = (line: string) => process.stderr.write(`${line}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** a / b rounded, or undefined when either is missing (or b is 0). */
export const ratio = (a: number | undefined, b: number | undefined, digits = 2) =>
  a !== undefined && b !== undefined && b > 0 ? round(a / b, digits) : undefined;

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const a = [...values].sort((x, y) => x - y);
  const mid = Math.floor(a.length / 2);
  return a.length % 2 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
}

/** p50, min and max of a few samples (joins, reps). */
export function spread(values: number[]) {
  if (values.length === 0) return { n: 0 };
  return {
    n: values.length,
    p50: round(median(values)!, 1),
    min: round(Math.min(...values), 1),
    max: round(Math.max(...values), 1),
  };
}
export type Spread = ReturnType<typeof spread>;

/** Nearest-rank quantiles of many samples (latencies). */
export function quantiles(values: number[], digits = 2) {
  if (values.length === 0) return { n: 0 };
  const a = Float64Array.from(values).sort();
  const q = (p: number) =>
    round(a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))]!, digits);
  return {
    n: a.length,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    p999: q(0.999),
    max: round(a[a.length - 1]!, digits),
    mean: round(a.reduce((x, y) => x + y, 0) / a.length, digits),
  };
}
export type Quantiles = ReturnType<typeof quantiles>;

/** Runs `fn` over `items`, at most `limit` at a time; the first failure stops them all. */
export async function mapLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (e) {
        // The others stop too: the run has failed, and their requests would only pile up.
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export const machine = () => ({ cpus: CORES, model: cpus()[0]?.model, node: process.version });
export const machineLine = () => `${CORES} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`;

/** Writes bench/results/<name>-latest.json (a quick run's go to the temp dir: they are no record); returns its path. */
export function writeResults(name: string, json: unknown): string {
  const dir = QUICK ? tmpdir() : RESULTS;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, QUICK ? `talkroom-bench-${name}-quick.json` : `${name}-latest.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  return file;
}

/** The first fields of every results file. */
export const resultsHeader = (benchmark: string, startedAt: Date, seconds: number) => ({
  benchmark,
  startedAt: startedAt.toISOString(),
  durationSeconds: round(seconds, 1),
  machine: machine(),
});

/** `--only a,b` (or `--only=a,b`) among `known`; none given: `dflt`. */
export function parseOnly<T extends string>(argv: string[], known: readonly T[], dflt: readonly T[]): T[] {
  const wanted: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--only') wanted.push(...(argv[++i] ?? '').split(','));
    else if (a.startsWith('--only=')) wanted.push(...a.slice('--only='.length).split(','));
    else throw new Error(`unknown argument ${a}; usage: [--only ${known.join(',')}]`);
  }
  if (wanted.length === 0) return [...dflt];
  for (const w of wanted) if (!known.includes(w as T)) throw new Error(`--only: unknown target ${w}`);
  return known.filter((t) => wanted.includes(t));
}

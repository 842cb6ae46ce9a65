/** The scheduler benchmark's settings (bench/scheduler.ts runs it). */
import { join } from 'node:path';
import { num, ROOT } from '../lib/util.ts';

export const NODE_SCRIPT = join(ROOT, 'bench', 'scheduler-node.ts');
export const JOBS = Math.round(num('BENCH_JOBS', 10_000, 1, 200_000, 1000));
export const SPREAD_SECONDS = num('BENCH_SPREAD_SECONDS', 60, 1, 600, 5);
export const LEAD_SECONDS = num('BENCH_LEAD_SECONDS', 5, 1, 60, 2);
export const IDLE_SECONDS = num('BENCH_IDLE_SECONDS', 5, 1, 60, 1);
export const BURST = num('BENCH_BURST', 1, 0, 1) === 1;
/** Waits for a quiet machine before each load phase, at most this long. */
export const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 20, 0, 3600, 0);
export const NODES = 2;
/** How long a phase may take, after its last due time, to fire everything. */
export const DRAIN_LIMIT_MS = 60_000;
export const KIND = 'bench.reminder';
export const P99_TARGET_MS = 1000;
export const IDLE_CPU_TARGET_PCT = 1;

/** BENCH_CPU_PROF=1: each scheduler node runs under --cpu-prof; its hot spots over the burst are printed. */
export const CPU_PROF = process.env.BENCH_CPU_PROF === '1';

/** scheduler: the handler writes in the scheduler's transaction; scheduler-own: it commits its own. */
export type Mode = 'scheduler' | 'scheduler-own' | 'baseline';
/** BENCH_ONLY: a comma-separated list of modes to run (all three by default). */
export const MODES: Mode[] = (['scheduler', 'scheduler-own', 'baseline'] as const).filter(
  (m) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(',').includes(m),
);

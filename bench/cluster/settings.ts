/** The cluster benchmark's settings and result shapes (bench/cluster.ts runs it, ./report.ts prints it). */
import { randomBytes } from 'node:crypto';
import type { CpuUse } from '../lib/machine.ts';
import { num, QUICK, type Quantiles } from '../lib/util.ts';

export const ROOMS = Math.round(num('BENCH_ROOMS', 500, 1, 5000, 50));
export const RATE = num('BENCH_RATE', 500, 1, 100_000, 200);
export const SECONDS = num('BENCH_SECONDS', 8, 1, 120, 2);
export const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 2, 0, 60, 0);
export const INFLIGHT = Math.round(num('BENCH_INFLIGHT', 2, 1, 64));
export const RAMP_SECONDS = 2;
export const NODE_COUNTS = (process.env.BENCH_NODES || (QUICK ? '1,2' : '1,2,3')).split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 8) throw new Error(`BENCH_NODES: bad node count ${s}`);
  return n;
});
export const SHARDED = num('BENCH_SHARDED', 1, 0, 1) === 1;
export const REDIS_PREFIX = `talkroom_bench_cluster_${randomBytes(4).toString('hex')}`;
export const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 60, 0, 3600, 0);
/** Machine CPU (% of one core) below which the machine counts as quiet. */
export const QUIET_BUSY_PCT = 30;
/** Other processes' CPU above which a window's figures count as disturbed. */
export const DISTURBED_PCT = 25;
/** First round's target, and issue 14's P4 (two nodes). */
export const P50_FACTOR_TARGET = 1.5;
export const P4_GOAL = 1.2;

export type Adapter = 'classic' | 'sharded';
export interface Run {
  nodes: number;
  adapter: Adapter;
  name: string;
}
const runName = (nodes: number, adapter: Adapter) =>
  `${nodes} node${nodes > 1 ? 's' : ''}${adapter === 'sharded' ? ' (sharded)' : ''}`;
export const RUNS: Run[] = [
  ...NODE_COUNTS.map((nodes) => ({ nodes, adapter: 'classic' as const, name: runName(nodes, 'classic') })),
  ...(SHARDED ? [{ nodes: 2, adapter: 'sharded' as const, name: runName(2, 'sharded') }] : []),
];
export const nameOf = (r: { nodes: number; adapter: Adapter }) => runName(r.nodes, r.adapter);

interface PerDelivered {
  /** (servers + Redis + PostgreSQL) CPU per delivered message, µs; the load generator is not counted. */
  cpuUsPerDelivered: number | undefined;
  serverCpuUsPerDelivered: number | undefined;
}

export interface RunResult {
  nodes: number;
  adapter: Adapter;
  ok: boolean;
  error?: string;
  crossNode: boolean;
  connectSeconds?: number;
  /** Machine CPU (% of one core) in the second before the run's servers started: other work on the machine. */
  machineBusyBeforePct?: number;
  latency?: {
    ratePerSecond: number;
    saturated: boolean;
    sent: number;
    acked: number;
    delivered: number;
    errors: number;
    timeouts: number;
    lost: number;
    roundTripMs: Quantiles;
    cpu: CpuUse;
  } & PerDelivered;
  throughput?: {
    inflightPerRoom: number;
    storedPerSecond: number;
    deliveredPerSecond: number;
    errors: number;
    timeouts: number;
    lost: number;
    roundTripMs: Quantiles;
    cpu: CpuUse;
    limitedBy: string;
  } & PerDelivered;
  disconnects?: number;
  serverWarnings?: string[];
}

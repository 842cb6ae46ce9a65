/** The messaging benchmark's settings and result shapes (bench/messaging.ts runs it, ./report.ts prints it). */
import type { ProfileSummary } from '../cpuprofile.ts';
import type { CpuUse } from '../lib/machine.ts';
import type { LagSummary, serverMetricsBetween } from '../lib/metrics.ts';
import type { PgSampler } from '../lib/postgres.ts';
import type { Outcome } from '../lib/table.ts';
import { num, parseOnly, type Quantiles } from '../lib/util.ts';

export const ROOMS = Math.round(num('BENCH_ROOMS', 1000, 1, 5000, 50));
export const SECONDS = num('BENCH_SECONDS', 10, 1, 120, 2);
export const WARMUP_SECONDS = num('BENCH_WARMUP_SECONDS', 3, 0, 60, 0);
export const RAMP_SECONDS = 2;
export const RATE = num('BENCH_RATE', 1000, 1, 100_000, 200);
/** A second, light open-loop rate: per-message cost without queueing, even where RATE saturates a store. */
export const LIGHT_RATE = num('BENCH_LIGHT_RATE', 100, 0, 100_000);
export const LIGHT_SECONDS = Math.min(5, SECONDS);
export const INFLIGHT = Math.round(num('BENCH_INFLIGHT', 2, 1, 64));
export const DB_POOL_SIZE = process.env.BENCH_DB_POOL_SIZE;
export const CPU_PROF = process.env.BENCH_CPU_PROF === '1';
export const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 120, 0, 3600, 0);
/** Single-row commits timed on the benchmark's own PostgreSQL database (P1's denominator). */
export const COMMITS = Math.round(num('BENCH_COMMITS', 2000, 10, 100_000, 200));
/** How long a phase waits, after it stops sending, for outstanding acks and deliveries. */
export const DRAIN_MS = 30_000;
/** Latency target of the first round: p50 round trip within this factor of the echo baseline. */
export const P50_FACTOR_TARGET = 2;
/** Throughput target of the first round on PostgreSQL, stored messages/s. */
export const PG_THROUGHPUT_TARGET = 3000;
/** Issue 14: P1 ≤ 1.1, P2 ≥ 0.5, P2e ≥ 0.3 with event-loop delay p99 < 50 ms and /healthz, /metrics < 100 ms. */
export const P1_GOAL = 1.1;
export const P2_GOAL = 0.5;
export const P2E_GOAL = 0.3;
export const P2E_LAG_MS = 50;
export const P2E_ANSWER_MS = 100;

/** postgres-plain: talkroom on PostgreSQL with encryption at rest off (bench/plain-server.ts), to show what sealing costs. */
export type TargetName = 'echo' | 'embedded' | 'postgres' | 'postgres-plain';
const ALL_TARGETS: TargetName[] = ['echo', 'embedded', 'postgres'];
const KNOWN_TARGETS: TargetName[] = [...ALL_TARGETS, 'postgres-plain'];

export const parseTargets = (argv: string[]) => parseOnly(argv, KNOWN_TARGETS, ALL_TARGETS);

export const onPostgres = (t: TargetName) => t === 'postgres' || t === 'postgres-plain';

export interface LatencyResult {
  ratePerSecond: number;
  seconds: number;
  /** The server fell behind the offered rate (backlog grew): the figures are mostly queueing. */
  saturated: boolean;
  ackedPerSecond: number;
  sent: number;
  acked: number;
  delivered: number;
  lost: number;
  ackErrors: Record<string, number>;
  timeouts: number;
  roundTripMs: Quantiles;
  ackMs: Quantiles;
  cpu: CpuUse;
  server?: ReturnType<typeof serverMetricsBetween>;
  eventLoopDelayMs?: LagSummary | undefined;
}

export interface ThroughputResult {
  inflightPerRoom: number;
  windowSeconds: number;
  storedPerSecond: number;
  deliveredPerSecond: number;
  storedPerSecondMin: number;
  storedPerSecondMax: number;
  perSecond: number[];
  secondMs: number[];
  ackErrors: Record<string, number>;
  timeouts: number;
  lostAfterDrain: number;
  roundTripMs: Quantiles;
  ackMs: Quantiles;
  cpu: CpuUse;
  limitedBy: string;
  server?: ReturnType<typeof serverMetricsBetween>;
  eventLoopDelayMs?: LagSummary | undefined;
  pgPool?: ReturnType<PgSampler['summary']> | undefined;
  profile?: ProfileSummary;
}

export interface TargetResult extends Outcome {
  target: TargetName;
  setup?: { provisionSeconds: number; connectSeconds: number; sockets: number };
  /** PostgreSQL single-row autocommit INSERT, one at a time, on this target's database (ms). */
  commitMs?: Quantiles;
  /** The same, one commit started every 1/RATE s (the latency phase's pace): P1's denominator. */
  commitPacedMs?: Quantiles;
  /** Round trip at BENCH_LIGHT_RATE: per-message cost without queueing. */
  lightLatency?: LatencyResult;
  latency?: LatencyResult;
  throughput?: ThroughputResult;
  /** CPU the machine was using (% of one core) just before the target started. */
  machineBusyAtStartPct?: number;
  /** The server's event-loop delay p99 with every socket connected and no traffic (resolution 10 ms). */
  idleEventLoopDelayP99Ms?: number;
  serverExit?: { code: number | null; signal: string | null } | undefined;
  serverStderrTail?: string[];
}

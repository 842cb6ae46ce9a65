/** The messaging benchmark's report: the JSON file, the table, the targets and issue 14's goals P1, P2, P2e. */
import { loadConfig } from '../lib/load.ts';
import { cpuOf } from '../lib/machine.ts';
import { fmtLag } from '../lib/metrics.ts';
import { Columns, fmtInt, type Goal, goalLines, problemLines } from '../lib/table.ts';
import { CORES, machineLine, ratio, resultsHeader, round, writeResults } from '../lib/util.ts';
import {
  CPU_PROF,
  DB_POOL_SIZE,
  INFLIGHT,
  LIGHT_RATE,
  LIGHT_SECONDS,
  onPostgres,
  P1_GOAL,
  P2_GOAL,
  P2E_ANSWER_MS,
  P2E_GOAL,
  P2E_LAG_MS,
  P50_FACTOR_TARGET,
  PG_THROUGHPUT_TARGET,
  RAMP_SECONDS,
  RATE,
  ROOMS,
  SECONDS,
  type TargetResult,
  WARMUP_SECONDS,
} from './settings.ts';

/** Issue 14's rows this benchmark measures, from one run's results. */
function goals(by: Map<string, TargetResult>): Goal[] {
  const echo = by.get('echo');
  const pg = by.get('postgres');
  const emb = by.get('embedded');
  const out: Goal[] = [];
  const echoThr = echo?.throughput?.storedPerSecond;
  if (pg) {
    const rt = pg.latency?.roundTripMs.p50;
    const e = echo?.latency?.roundTripMs.p50;
    const commit = pg.commitPacedMs?.p50;
    const p1 = rt !== undefined && e !== undefined ? ratio(rt - e, commit) : undefined;
    out.push({
      id: 'P1',
      metric: `(round trip p50 − echo p50) ÷ PostgreSQL single-row commit p50 (one every ${1000 / RATE} ms), at ${RATE} msg/s`,
      goal: `≤ ${P1_GOAL}`,
      figure: `(${rt ?? '?'} − ${e ?? '?'} ms) ÷ ${commit ?? '?'} ms`,
      ratio: p1,
      pass: p1 === undefined ? undefined : p1 <= P1_GOAL,
      limit: pg.latency?.saturated ? 'the server fell behind the offered rate (queueing)' : undefined,
    });
    const p2 = ratio(pg.throughput?.storedPerSecond, echoThr);
    out.push({
      id: 'P2',
      metric: `stored msg/s on PostgreSQL ÷ echo msg/s, ${ROOMS} rooms, ${INFLIGHT} in flight per room`,
      goal: `≥ ${P2_GOAL}`,
      figure: `${fmtInt(pg.throughput?.storedPerSecond) ?? '?'} ÷ ${fmtInt(echoThr) ?? '?'}`,
      ratio: p2,
      pass: p2 === undefined ? undefined : p2 >= P2_GOAL,
      limit: pg.throughput?.limitedBy,
    });
  }
  if (emb) {
    const p2e = ratio(emb.throughput?.storedPerSecond, echoThr);
    const lag = emb.throughput?.eventLoopDelayMs;
    const answers = Math.max(lag?.healthzMsWorst ?? Infinity, lag?.metricsScrapeMsWorst ?? Infinity);
    const timeouts = (lag?.healthzTimeouts ?? 0) + (lag?.metricsScrapeTimeouts ?? 0);
    const loopOk = lag?.p99Worst !== undefined && lag.p99Worst < P2E_LAG_MS;
    const answersOk = timeouts === 0 && answers <= P2E_ANSWER_MS;
    out.push({
      id: 'P2e',
      metric: `stored msg/s on the embedded store ÷ echo msg/s; event-loop delay p99 (worst second); slowest /healthz, /metrics`,
      goal: `≥ ${P2E_GOAL}; < ${P2E_LAG_MS} ms; ≤ ${P2E_ANSWER_MS} ms`,
      figure: `${fmtInt(emb.throughput?.storedPerSecond) ?? '?'} ÷ ${fmtInt(echoThr) ?? '?'}; ${lag?.p99Worst ?? '?'} ms; ${lag?.healthzMsWorst ?? '?'} / ${lag?.metricsScrapeMsWorst ?? '?'} ms${timeouts ? ` (${timeouts} unanswered in 10 s)` : ''}`,
      ratio: p2e,
      pass: p2e === undefined || !lag ? undefined : p2e >= P2E_GOAL && loopOk && answersOk,
      limit: emb.throughput?.limitedBy,
    });
  }
  return out;
}

export function report(results: TargetResult[], startedAt: Date, seconds: number): void {
  const by = new Map<string, TargetResult>(results.map((r) => [r.target, r]));
  const echo = by.get('echo');
  const echoP50 = echo?.latency?.roundTripMs.p50;
  const echoP99 = echo?.latency?.roundTripMs.p99;

  const comparisons: Record<string, unknown> = {};
  for (const t of ['embedded', 'postgres'] as const) {
    const r = by.get(t);
    if (!r) continue;
    const p50Ratio = ratio(r.latency?.roundTripMs.p50, echoP50);
    comparisons[t] = {
      p50Ratio,
      p99Ratio: ratio(r.latency?.roundTripMs.p99, echoP99),
      throughputVsEcho: ratio(r.throughput?.storedPerSecond, echo?.throughput?.storedPerSecond),
      p50Within2x: p50Ratio === undefined ? undefined : p50Ratio <= P50_FACTOR_TARGET,
    };
  }
  const pg = by.get('postgres');
  const pgStored = pg?.throughput?.storedPerSecond;
  // What sealing text and meta costs: the same server and database without it, in this run.
  const plain = by.get('postgres-plain');
  if (pg && plain) {
    comparisons.encryption = {
      p50Ms: { sealed: pg.latency?.roundTripMs.p50, plain: plain.latency?.roundTripMs.p50 },
      p99Ms: { sealed: pg.latency?.roundTripMs.p99, plain: plain.latency?.roundTripMs.p99 },
      storedPerSecond: { sealed: pgStored, plain: plain.throughput?.storedPerSecond },
      p50Ratio: ratio(pg.latency?.roundTripMs.p50, plain.latency?.roundTripMs.p50),
      throughputRatio: ratio(pgStored, plain.throughput?.storedPerSecond),
    };
  }
  const issueGoals = goals(by);
  const file = writeResults('messaging', {
    ...resultsHeader('messaging', startedAt, seconds),
    config: {
      ...loadConfig(ROOMS, RATE, SECONDS, WARMUP_SECONDS, RAMP_SECONDS, INFLIGHT),
      dbPoolSize: DB_POOL_SIZE ? Number(DB_POOL_SIZE) : 'server default (20)',
      cpuProfile: CPU_PROF,
    },
    targets: { p50WithinFactorOfEcho: P50_FACTOR_TARGET, postgresStoredPerSecond: PG_THROUGHPUT_TARGET },
    goals: issueGoals,
    verdict: {
      ...comparisons,
      postgresThroughput:
        pgStored === undefined
          ? undefined
          : {
              storedPerSecond: pgStored,
              target: PG_THROUGHPUT_TARGET,
              pass: pgStored >= PG_THROUGHPUT_TARGET,
            },
    },
    results,
  });

  const t = new Columns(results);
  const errs = (e: Record<string, number> | undefined, timeouts: number | undefined) => {
    const parts = Object.entries(e ?? {}).map(([k, v]) => `${k}:${v}`);
    if (timeouts) parts.push(`timeout:${timeouts}`);
    return parts.length ? parts.join(' ') : '0';
  };
  if (LIGHT_RATE > 0) {
    t.section(`round trip @ ${LIGHT_RATE} msg/s, ${LIGHT_SECONDS} s (ms)`);
    t.row('  p50', (r) => r.lightLatency?.roundTripMs.p50);
    t.row('  p99', (r) => r.lightLatency?.roundTripMs.p99);
    t.row('  p50 ratio vs echo', (r) =>
      ratio(r.lightLatency?.roundTripMs.p50, echo?.lightLatency?.roundTripMs.p50),
    );
  }
  t.section(`round trip @ ${RATE} msg/s, ${SECONDS} s (ms)`);
  t.row('  p50', (r) => r.latency?.roundTripMs.p50);
  t.row('  p90', (r) => r.latency?.roundTripMs.p90);
  t.row('  p99', (r) => r.latency?.roundTripMs.p99);
  t.row('  max', (r) => r.latency?.roundTripMs.max);
  t.row('  ack (stored) p50', (r) => r.latency?.ackMs.p50);
  t.row('  ack (stored) p99', (r) => r.latency?.ackMs.p99);
  t.row('  delivered / sent', (r) => r.latency && `${r.latency.delivered}/${r.latency.sent}`);
  t.row('  errors', (r) => r.latency && errs(r.latency.ackErrors, r.latency.timeouts));
  t.row(
    '  CPU % server / postgres',
    (r) =>
      r.latency &&
      `${cpuOf(r.latency.cpu, 'server')} / ${onPostgres(r.target) ? cpuOf(r.latency.cpu, 'postgres') : '–'}`,
  );
  t.row('  CPU % other processes', (r) => r.latency?.cpu.otherPct);
  t.row('  server event-loop delay p99 (ms)', (r) => fmtLag(r.latency?.eventLoopDelayMs));
  t.row('  saturated (server fell behind)', (r) => r.latency && (r.latency.saturated ? 'YES' : 'no'));
  t.row('  p50 ratio vs echo', (r) => ratio(r.latency?.roundTripMs.p50, echoP50));
  t.row('  p99 ratio vs echo', (r) => ratio(r.latency?.roundTripMs.p99, echoP99));
  t.row(
    '  PostgreSQL single-row commit p50 / p99',
    (r) => r.commitMs && `${r.commitMs.p50} / ${r.commitMs.p99}`,
  );
  t.row(
    `  … one every ${1000 / RATE} ms: p50 / p99`,
    (r) => r.commitPacedMs && `${r.commitPacedMs.p50} / ${r.commitPacedMs.p99}`,
  );
  t.section(`throughput, ${INFLIGHT} in flight/room, ${SECONDS} s`);
  t.row('  stored (acked) msg/s', (r) => fmtInt(r.throughput?.storedPerSecond));
  t.row('  delivered msg/s', (r) => fmtInt(r.throughput?.deliveredPerSecond));
  t.row(
    '  slowest / fastest second',
    (r) =>
      r.throughput &&
      `${fmtInt(r.throughput.storedPerSecondMin)} / ${fmtInt(r.throughput.storedPerSecondMax)}`,
  );
  t.row(
    '  round trip p50 / p99 (ms)',
    (r) => r.throughput && `${r.throughput.roundTripMs.p50} / ${r.throughput.roundTripMs.p99}`,
  );
  t.row('  errors', (r) => r.throughput && errs(r.throughput.ackErrors, r.throughput.timeouts));
  t.row('  vs echo', (r) => ratio(r.throughput?.storedPerSecond, echo?.throughput?.storedPerSecond));
  t.row('  CPU % server', (r) => r.throughput && cpuOf(r.throughput.cpu, 'server'));
  t.row('  CPU % postgres', (r) =>
    r.throughput && onPostgres(r.target) ? cpuOf(r.throughput.cpu, 'postgres') : undefined,
  );
  t.row('  CPU % load generator', (r) => r.throughput && cpuOf(r.throughput.cpu, 'loadGenerator'));
  t.row(`  CPU % machine (of ${CORES * 100})`, (r) => r.throughput?.cpu.machinePct);
  t.row('  CPU % other processes', (r) => r.throughput?.cpu.otherPct);
  t.row('  server event-loop delay p99 (ms)', (r) => fmtLag(r.throughput?.eventLoopDelayMs));
  t.row('  slowest /metrics answer (ms)', (r) => {
    const l = r.throughput?.eventLoopDelayMs;
    return l && (l.metricsScrapeTimeouts ? '> 10000' : l.metricsScrapeMsWorst);
  });
  t.row('  slowest /healthz answer (ms)', (r) => {
    const l = r.throughput?.eventLoopDelayMs;
    return l && (l.healthzTimeouts ? '> 10000' : l.healthzMsWorst);
  });
  t.row('  server GC % of time', (r) => r.throughput?.server?.gcPctOfWallTime);
  t.row('  store append mean (ms)', (r) => r.throughput?.server?.storeAppendMs.mean);
  t.row(
    '  pg active conns avg / max',
    (r) => r.throughput?.pgPool && `${r.throughput.pgPool.activeAvg} / ${r.throughput.pgPool.activeMax}`,
  );
  t.row('  status', (r) => (r.ok ? 'ok' : 'FAILED (see below)'));

  const out = ['', `talkroom messaging benchmark: ${ROOMS} rooms, ${ROOMS * 2} sockets, ${machineLine()}`];
  out.push(...t.render(results.map((r) => r.target)), '', 'targets (first round)');
  for (const target of ['embedded', 'postgres'] as const) {
    const c = comparisons[target] as { p50Ratio?: number; p50Within2x?: boolean } | undefined;
    if (!c) continue;
    out.push(
      `  p50 round trip within ${P50_FACTOR_TARGET}× echo, ${target.padEnd(8)}: ${
        c.p50Within2x === undefined
          ? 'n/a (no echo run)'
          : `${c.p50Within2x ? 'PASS' : 'FAIL'} (${c.p50Ratio}×)`
      }`,
    );
  }
  if (pg) {
    out.push(
      `  ≥ ${PG_THROUGHPUT_TARGET.toLocaleString('en-US')} stored msg/s on PostgreSQL: ${
        pgStored === undefined
          ? 'FAIL (no result)'
          : `${pgStored >= PG_THROUGHPUT_TARGET ? 'PASS' : 'FAIL'} (${fmtInt(pgStored)}/s, ${round(pgStored / PG_THROUGHPUT_TARGET, 2)}× target)`
      }`,
    );
  }
  if (comparisons.encryption) out.push(`  encryption at rest: ${JSON.stringify(comparisons.encryption)}`);
  out.push('', ...goalLines(issueGoals));
  for (const r of results) {
    out.push(...problemLines(r.target, r));
    if (r.serverExit && !r.ok) out.push(`  server exit: ${JSON.stringify(r.serverExit)}`);
    for (const l of r.serverStderrTail ?? []) out.push(`  server stderr: ${l}`);
    const pool = r.throughput?.pgPool;
    if (pool) {
      out.push(
        '',
        `${r.target}: during the throughput window PostgreSQL had ${pool.connectionsMax} connections from the server (pool ${pool.poolSize}), ${pool.activeAvg} active on average (max ${pool.activeMax}); active ones were on: ${pool.activeWaits.map((w) => `${w.wait} ${w.pct}%`).join(', ')}`,
      );
    }
    if (r.throughput) out.push(`${r.target}: throughput limited by ${r.throughput.limitedBy}`);
    const prof = r.throughput?.profile;
    if (prof) {
      out.push(
        '',
        `${r.target}: server CPU profile over the throughput window (busy ${prof.busyPct}% of samples)`,
      );
      out.push(`  self time by area: ${prof.byArea.map((a) => `${a.area} ${a.pct}%`).join(', ')}`);
      out.push(
        `  charged to nearest package/file on the stack: ${prof.byCaller.map((a) => `${a.area} ${a.pct}%`).join(', ')}`,
      );
      for (const f of prof.byFunction.slice(0, 12)) out.push(`  ${String(f.pct).padStart(5)}%  ${f.fn}`);
    }
  }
  const disturbed = results.filter(
    (r) => (r.latency?.cpu.otherPct ?? 0) > 25 || (r.throughput?.cpu.otherPct ?? 0) > 25,
  );
  if (disturbed.length)
    out.push(
      '',
      `WARNING: other processes used much CPU during ${disturbed.map((r) => r.target).join(', ')}: those figures are disturbed; rerun on a quiet machine.`,
    );
  out.push('', `took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

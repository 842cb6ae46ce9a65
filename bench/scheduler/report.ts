/** The scheduler benchmark's report: the JSON file, the table, the targets and issue 14's P7. */
import type { ProfileSummary } from '../cpuprofile.ts';
import { Columns, cell, type Goal, goalLines } from '../lib/table.ts';
import { machineLine, ratio, resultsHeader, round, writeResults } from '../lib/util.ts';
import type { Between } from './nodes.ts';
import type { PhaseResult } from './phase.ts';
import {
  BURST,
  IDLE_CPU_TARGET_PCT,
  IDLE_SECONDS,
  JOBS,
  LEAD_SECONDS,
  type Mode,
  NODES,
  P99_TARGET_MS,
  SPREAD_SECONDS,
} from './settings.ts';

export interface ModeResult {
  mode: Mode;
  ok: boolean;
  error?: string;
  /** Machine CPU (% of one core) when each load phase started, after waiting for quiet. */
  quietBusyPct: Record<string, number>;
  idleBefore?: Between;
  spread?: PhaseResult;
  idleAfter?: Between;
  idleWithFutureJob?: Between;
  burst?: PhaseResult;
  nodeProblems: Record<string, string[]>;
  /** BENCH_CPU_PROF=1: each node's CPU profile over the burst. */
  profiles?: Record<string, ProfileSummary>;
}

export function report(results: ModeResult[], startedAt: Date, seconds: number): boolean {
  const by = new Map(results.map((r) => [r.mode, r]));
  const s = by.get('scheduler');
  const own = by.get('scheduler-own');
  const b = by.get('baseline');

  // Lateness until a reminder's effect is committed (for the baseline, its autocommitted row).
  const p99 = s?.spread?.committedLatenessMs.p99;
  const exactly = s?.spread?.exactlyOnce.pass && (!s?.burst || s.burst.exactlyOnce.pass);
  const idleMax = s?.idleAfter ? Math.max(...s.idleAfter.nodes.map((n) => n.cpuPct)) : undefined;
  const idleFutureMax = s?.idleWithFutureJob
    ? Math.max(...s.idleWithFutureJob.nodes.map((n) => n.cpuPct))
    : undefined;
  const verdict = {
    p99LatenessUnder1s: p99 === undefined ? undefined : { p99Ms: p99, pass: p99 < P99_TARGET_MS },
    exactlyOnce: s?.spread ? { pass: !!exactly } : undefined,
    idleCpu:
      idleMax === undefined
        ? undefined
        : {
            maxNodePctAfter: idleMax,
            maxNodePctWithFutureJob: idleFutureMax,
            pass: idleMax < IDLE_CPU_TARGET_PCT && (idleFutureMax ?? 0) < IDLE_CPU_TARGET_PCT,
          },
    vsBaseline: {
      p99LatenessRatio: ratio(p99, b?.spread?.committedLatenessMs.p99),
      spreadThroughputRatio: ratio(s?.spread?.throughputPerSecond, b?.spread?.throughputPerSecond),
      burstThroughputRatio: ratio(s?.burst?.throughputPerSecond, b?.burst?.throughputPerSecond),
    },
    /** The handler in the scheduler's transaction vs committing its own (as the booking timers do). */
    vsOwnCommit: {
      burstP99LatenessRatio: ratio(s?.burst?.committedLatenessMs.p99, own?.burst?.committedLatenessMs.p99),
      burstThroughputRatio: ratio(s?.burst?.throughputPerSecond, own?.burst?.throughputPerSecond),
    },
  };
  // Issue 14's P7: the burst (every job due at one instant) on two nodes, each fired exactly once.
  const burstP99 = s?.burst?.committedLatenessMs.p99;
  const goals: Goal[] = s?.burst
    ? [
        {
          id: 'P7',
          metric: `${JOBS} reminders due at the same instant, ${NODES} nodes: p99 lateness (due → its one-row effect committed); each exactly once`,
          goal: `< ${P99_TARGET_MS} ms; exactly once`,
          figure: `${cell(burstP99)} ms; ${s.burst.exactlyOnce.pass ? 'exactly once' : 'NOT exactly once'}`,
          ratio: ratio(burstP99, P99_TARGET_MS),
          pass: burstP99 !== undefined && burstP99 < P99_TARGET_MS && s.burst.exactlyOnce.pass,
          limit: `nodes ${s.burst.window.nodes.map((n) => `${n.cpuPctProc}%`).join(' / ')} of a core, PostgreSQL ${s.burst.window.postgresPct}%, other ${s.burst.window.otherPct}%; ${s.burst.throughputPerSecond} jobs/s drained`,
        },
      ]
    : [];
  const json = {
    ...resultsHeader('scheduler', startedAt, seconds),
    config: {
      jobs: JOBS,
      spreadSeconds: SPREAD_SECONDS,
      leadSeconds: LEAD_SECONDS,
      idleSeconds: IDLE_SECONDS,
      burst: BURST,
      nodes: NODES,
      scheduler:
        'defaults: leaseMs 30000, maxIdleMs 30000, batch 100, concurrency 8, system clock; handler inTx (its row in the group transaction that deletes the jobs)',
      schedulerOwn: 'the same, the handler committing its own row per job; rows deleted a group at a time',
      baseline: 'DELETE … SKIP LOCKED … RETURNING, batch 100, concurrency 8, 10 ms poll, one commit per row',
      handler:
        "one INSERT per job (the record of its firing): a stand-in for a reminder's message, not the real reminder",
    },
    targets: { p99LatenessMs: P99_TARGET_MS, idleCpuPctOfCore: IDLE_CPU_TARGET_PCT },
    verdict,
    goals,
    results,
  };
  const file = writeResults('scheduler', json);

  const t = new Columns(results);
  const row = (label: string, f: (r: ModeResult) => unknown) => t.row(label, f);
  const section = (label: string) => t.section(label);
  const nodesPct = (w: Between | undefined) => w?.nodes.map((n) => n.cpuPct).join(' / ');
  const queriesPerS = (w: Between | undefined) =>
    w &&
    round(
      w.nodes.reduce((a, n) => a + Object.values(n.queries).reduce((x, q) => x + q.n, 0), 0) / w.seconds,
      1,
    );
  const q = (w: Between | undefined, kind: string, f: 'n' | 'empty' | 'meanMs' = 'n') => {
    if (!w) return undefined;
    const v = w.nodes.map((n) => n.queries[kind]?.[f] ?? 0);
    return f === 'meanMs' ? round(Math.max(...v), 2) : v.reduce((a, x) => a + x, 0);
  };
  const phaseRows = (label: string, get: (r: ModeResult) => PhaseResult | undefined) => {
    section(label);
    row('  lateness to commit p50 (ms)', (r) => get(r)?.committedLatenessMs.p50);
    row('  lateness to commit p90 (ms)', (r) => get(r)?.committedLatenessMs.p90);
    row('  lateness to commit p99 (ms)', (r) => get(r)?.committedLatenessMs.p99);
    row('  lateness to commit max (ms)', (r) => get(r)?.committedLatenessMs.max);
    row('  lateness to handler start p50 / p99 (ms)', (r) => {
      const l = get(r)?.latenessMs;
      return l && `${l.p50} / ${l.p99}`;
    });
    row('  throughput (jobs/s, first due → last fired)', (r) => get(r)?.throughputPerSecond);
    row('  last fired after last due (ms)', (r) => get(r)?.drainAfterLastDueMs);
    row('  fired / distinct / missing / duplicates', (r) => {
      const e = get(r)?.exactlyOnce;
      return e && `${e.fired} / ${e.distinct} / ${e.missing} / ${e.duplicates}`;
    });
    row('  left in jobs table', (r) => get(r)?.exactlyOnce.leftInJobsTable);
    row('  exactly once', (r) => get(r) && (get(r)!.exactlyOnce.pass ? 'yes' : 'NO'));
    row('  split between nodes', (r) => {
      const p = get(r)?.perNode;
      return p && Object.values(p).join(' / ');
    });
    row('  CPU % per node', (r) => nodesPct(get(r)?.window));
    row('  CPU % postgres / other processes', (r) => {
      const w = get(r)?.window;
      return w && `${w.postgresPct} / ${w.otherPct}`;
    });
    row('  claims (empty) both nodes', (r) => {
      const w = get(r)?.window;
      const kind = r.mode === 'baseline' ? 'baselineClaimDelete' : 'claim';
      return w && `${q(w, kind)} (${q(w, kind, 'empty')})`;
    });
    row('  nextDue reads', (r) => (r.mode !== 'baseline' ? q(get(r)?.window, 'nextDue') : undefined));
    row('  completions / transactions', (r) =>
      r.mode !== 'baseline' ? `${q(get(r)?.window, 'complete')} / ${q(get(r)?.window, 'tx')}` : undefined,
    );
    row('  mean ms claim / complete / nextDue / record / tx', (r) => {
      const w = get(r)?.window;
      if (!w) return undefined;
      const kinds =
        r.mode !== 'baseline'
          ? ['claim', 'complete', 'nextDue', 'record', 'tx']
          : ['baselineClaimDelete', 'record'];
      return kinds.map((k) => q(w, k, 'meanMs')).join(' / ');
    });
    row('  queries per job', (r) => {
      const p = get(r);
      if (!p) return undefined;
      const total = p.window.nodes.reduce(
        (a, n) => a + Object.values(n.queries).reduce((x, v) => x + v.n, 0),
        0,
      );
      return round(total / p.jobs, 2);
    });
    row('  node event-loop delay p99 (ms)', (r) =>
      get(r)
        ?.window.nodes.map((n) => n.loopDelayP99Ms)
        .join(' / '),
    );
    row('  timed out', (r) => get(r) && (get(r)!.timedOut ? 'YES' : 'no'));
  };
  phaseRows(`${JOBS} jobs spread over ${SPREAD_SECONDS} s`, (r) => r.spread);
  if (BURST) phaseRows(`${JOBS} jobs due at one instant`, (r) => r.burst);
  section(`idle (CPU % of a core per node over ${IDLE_SECONDS} s; queries/s both nodes)`);
  row('  before, empty table', (r) => nodesPct(r.idleBefore));
  row('  after the minute, empty table', (r) => nodesPct(r.idleAfter));
  row('  one job due in an hour', (r) => nodesPct(r.idleWithFutureJob));
  row('  queries/s after the minute', (r) => queriesPerS(r.idleAfter));
  row('  queries/s, job due in an hour', (r) => queriesPerS(r.idleWithFutureJob));
  row('  status', (r) => (r.ok ? 'ok' : 'FAILED'));

  const out: string[] = [''];
  out.push(`talkroom scheduler benchmark: ${JOBS} jobs, ${NODES} nodes, PostgreSQL, ${machineLine()}`);
  out.push(...t.render(results.map((r) => r.mode)));

  for (const r of results) {
    const sp = r.spread;
    if (!sp) continue;
    out.push('');
    out.push(`${r.mode}: spread lateness by due time (p99 / max ms per tenth of the spread):`);
    out.push(`  ${sp.latenessByTenth.map((t) => `${t.fromS}s ${t.p99}/${t.max}`).join('  ')}`);
    if (r.mode !== 'baseline')
      for (const [k, v] of Object.entries(sp.plans)) out.push(`${r.mode}: ${k}: ${v.ms} ms, ${v.plan}`);
    out.push(
      `${r.mode}: latest jobs: ${sp.worst.map((w) => `${w.id} (due +${w.dueOffsetMs} ms, ${w.latenessMs} ms late, ${w.node}, attempt ${w.attempts})`).join('; ')}`,
    );
  }

  out.push('');
  out.push('targets (scheduler)');
  const pf = (p: boolean | undefined) => (p === undefined ? 'n/a' : p ? 'PASS' : 'FAIL');
  out.push(`  p99 lateness < ${P99_TARGET_MS} ms: ${pf(verdict.p99LatenessUnder1s?.pass)} (${cell(p99)} ms)`);
  out.push(
    `  exactly once (every job fired once, none twice, table empty): ${pf(verdict.exactlyOnce?.pass)}`,
  );
  out.push(
    `  idle CPU < ${IDLE_CPU_TARGET_PCT}% of a core per node: ${pf(verdict.idleCpu?.pass)} (after the minute ${cell(idleMax)}%, with a job due in an hour ${cell(idleFutureMax)}%)`,
  );
  out.push('vs baseline (scheduler / bare loop)');
  out.push(
    `  p99 lateness to commit: ${cell(p99)} / ${cell(b?.spread?.committedLatenessMs.p99)} ms = ${cell(verdict.vsBaseline.p99LatenessRatio)}×`,
  );
  out.push(
    `  throughput, spread: ${cell(s?.spread?.throughputPerSecond)} / ${cell(b?.spread?.throughputPerSecond)} jobs/s = ${cell(verdict.vsBaseline.spreadThroughputRatio)}×`,
  );
  if (BURST)
    out.push(
      `  throughput, burst: ${cell(s?.burst?.throughputPerSecond)} / ${cell(b?.burst?.throughputPerSecond)} jobs/s = ${cell(verdict.vsBaseline.burstThroughputRatio)}×`,
      "vs scheduler-own (handler in the scheduler's transaction / committing its own)",
      `  burst p99 lateness to commit: ${cell(s?.burst?.committedLatenessMs.p99)} / ${cell(own?.burst?.committedLatenessMs.p99)} ms = ${cell(verdict.vsOwnCommit.burstP99LatenessRatio)}×`,
      `  burst throughput: ${cell(s?.burst?.throughputPerSecond)} / ${cell(own?.burst?.throughputPerSecond)} jobs/s = ${cell(verdict.vsOwnCommit.burstThroughputRatio)}×`,
    );

  for (const r of results)
    for (const [name, p] of Object.entries(r.profiles ?? {})) {
      out.push('', `${name}: CPU profile over the burst (busy ${p.busyPct}% of samples)`);
      out.push(`  by caller: ${p.byCaller.map((a) => `${a.area} ${a.pct}%`).join(', ')}`);
      for (const f of p.byFunction.slice(0, 10)) out.push(`  ${f.pct}% ${f.fn}`);
    }

  for (const r of results) {
    if (!r.ok) out.push('', `${r.mode}: FAILED: ${r.error ?? '?'}`);
    for (const [name, problems] of Object.entries(r.nodeProblems)) {
      out.push('', `${name} printed ${problems.length} warning/error lines, e.g.:`);
      for (const p of problems.slice(0, 3)) out.push(`  ${p}`);
    }
  }
  const disturbed = results.filter(
    (r) => (r.spread?.window.otherPct ?? 0) > 25 || (r.burst?.window.otherPct ?? 0) > 25,
  );
  if (disturbed.length)
    out.push(
      '',
      `WARNING: other processes used much CPU during ${disturbed.map((r) => r.mode).join(', ')} (${disturbed.map((r) => `${r.spread?.window.otherPct}% / ${r.burst?.window.otherPct ?? '–'}%`).join(', ')} of a core): figures disturbed.`,
    );
  out.push('', ...goalLines(goals));
  out.push('', `took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return (
    results.every((r) => r.ok) &&
    !!verdict.p99LatenessUnder1s?.pass &&
    !!verdict.exactlyOnce?.pass &&
    !!verdict.idleCpu?.pass
  );
}

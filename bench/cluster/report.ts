/** The cluster benchmark's report: the JSON file, the table, the first round's target and issue 14's P4. */
import { loadConfig } from '../lib/load.ts';
import { cpuOf } from '../lib/machine.ts';
import { Columns, type Goal, goalLines } from '../lib/table.ts';
import { CORES, machineLine, ratio, resultsHeader, round, writeResults } from '../lib/util.ts';
import {
  DISTURBED_PCT,
  INFLIGHT,
  NODE_COUNTS,
  nameOf,
  P4_GOAL,
  P50_FACTOR_TARGET,
  QUIET_BUSY_PCT,
  RAMP_SECONDS,
  RATE,
  ROOMS,
  type RunResult,
  SECONDS,
  WARMUP_SECONDS,
} from './settings.ts';

export function report(results: RunResult[], startedAt: Date, seconds: number): boolean {
  const base = results.find((r) => r.nodes === 1);
  const baseP50 = base?.latency?.roundTripMs.p50;
  const baseThr = base?.throughput?.deliveredPerSecond;
  const verdicts = results
    .filter((r) => r.nodes > 1)
    .map((r) => {
      const p50Ratio = ratio(r.latency?.roundTripMs.p50, baseP50);
      return {
        run: nameOf(r),
        nodes: r.nodes,
        adapter: r.adapter,
        p50Ratio,
        p50Pass: p50Ratio === undefined ? undefined : p50Ratio <= P50_FACTOR_TARGET,
        throughputVsSingle: ratio(r.throughput?.deliveredPerSecond, baseThr),
      };
    });
  const goals: Goal[] = results
    .filter((r) => r.nodes === 2)
    .map((r) => {
      const v = ratio(r.latency?.roundTripMs.p50, baseP50);
      return {
        id: 'P4',
        metric: `cross-node round trip p50 ÷ single node, ${nameOf(r)}, ${RATE} msg/s`,
        goal: `≤ ${P4_GOAL}`,
        figure: `${r.latency?.roundTripMs.p50 ?? '?'} ÷ ${baseP50 ?? '?'} ms`,
        ratio: v,
        pass: v === undefined ? undefined : v <= P4_GOAL,
        limit: r.throughput?.limitedBy,
      };
    });
  const machineNote = `All nodes, Redis, PostgreSQL and the load generator run on this one ${CORES}-core machine: adding a node adds no CPU, so throughput cannot truly grow with nodes here; the multi-node figures show the cost of cross-node delivery, not cluster scaling.`;

  const file = writeResults('cluster', {
    ...resultsHeader('cluster', startedAt, seconds),
    config: {
      ...loadConfig(ROOMS, RATE, SECONDS, WARMUP_SECONDS, RAMP_SECONDS, INFLIGHT),
      nodeCounts: NODE_COUNTS,
      placement:
        'multi-node: the two members of every room on different nodes (every delivery crosses Redis)',
      cpuPerDelivered:
        'servers + redis-server + this database’s PostgreSQL backends and background processes',
    },
    target: { crossNodeP50WithinFactorOfSingle: P50_FACTOR_TARGET },
    verdicts,
    goals,
    note: machineNote,
    results,
  });

  const t = new Columns(results);
  t.section(`round trip @ ${RATE} msg/s, ${SECONDS} s (ms)`);
  t.row('  p50', (r) => r.latency?.roundTripMs.p50);
  t.row('  p90', (r) => r.latency?.roundTripMs.p90);
  t.row('  p99', (r) => r.latency?.roundTripMs.p99);
  t.row('  p50 ratio vs 1 node', (r) => ratio(r.latency?.roundTripMs.p50, baseP50));
  t.row('  delivered / sent', (r) => r.latency && `${r.latency.delivered}/${r.latency.sent}`);
  t.row('  errors / timeouts', (r) => r.latency && `${r.latency.errors} / ${r.latency.timeouts}`);
  t.row('  saturated', (r) => r.latency && (r.latency.saturated ? 'YES' : 'no'));
  t.row('  CPU µs / delivered msg (all)', (r) => r.latency?.cpuUsPerDelivered);
  t.row('  CPU µs / delivered msg (servers)', (r) => r.latency?.serverCpuUsPerDelivered);
  t.row('  CPU % servers / redis / pg / other', (r) => {
    const c = r.latency?.cpu;
    return c && `${cpuOf(c, 'servers')} / ${cpuOf(c, 'redis')} / ${cpuOf(c, 'postgres')} / ${c.otherPct}`;
  });
  t.section(`throughput, ${INFLIGHT} in flight/room, ${SECONDS} s`);
  t.row('  delivered msg/s', (r) => r.throughput?.deliveredPerSecond);
  t.row('  stored (acked) msg/s', (r) => r.throughput?.storedPerSecond);
  t.row('  vs 1 node', (r) => ratio(r.throughput?.deliveredPerSecond, baseThr));
  t.row(
    '  round trip p50 / p99 (ms)',
    (r) => r.throughput && `${r.throughput.roundTripMs.p50} / ${r.throughput.roundTripMs.p99}`,
  );
  t.row('  errors / timeouts', (r) => r.throughput && `${r.throughput.errors} / ${r.throughput.timeouts}`);
  t.row('  CPU µs / delivered msg (all)', (r) => r.throughput?.cpuUsPerDelivered);
  t.row('  CPU µs / delivered msg (servers)', (r) => r.throughput?.serverCpuUsPerDelivered);
  t.row('  CPU % servers (per node)', (r) => {
    const c = r.throughput?.cpu.groups.servers;
    return c && `${c.pct} (${c.perProcess.join('+')})`;
  });
  t.row('  CPU % redis', (r) => r.throughput && cpuOf(r.throughput.cpu, 'redis'));
  t.row('  CPU % postgres', (r) => r.throughput && cpuOf(r.throughput.cpu, 'postgres'));
  t.row('  CPU % load generator', (r) => r.throughput && cpuOf(r.throughput.cpu, 'loadGenerator'));
  t.row(`  CPU % machine (of ${CORES * 100})`, (r) => r.throughput?.cpu.machinePct);
  t.row('  CPU % other processes', (r) => r.throughput?.cpu.otherPct);
  t.row('  machine CPU % before the run', (r) => r.machineBusyBeforePct);
  t.row('  status', (r) => (r.ok ? 'ok' : 'FAILED'));

  const out = [
    '',
    `talkroom cluster benchmark: ${ROOMS} rooms, ${ROOMS * 2} sockets, ${machineLine()}`,
    'multi-node runs: the two members of every room on different nodes (every message crosses Redis)',
    ...t.render(results.map(nameOf)),
    '',
    `target (first round): cross-node p50 round trip within ${P50_FACTOR_TARGET}× single-node`,
  ];
  for (const v of verdicts)
    out.push(
      `  ${v.run}: ${v.p50Pass === undefined ? 'n/a (missing run)' : `${v.p50Pass ? 'PASS' : 'FAIL'} (${v.p50Ratio}×)`}`,
    );
  out.push('', ...goalLines(goals));
  out.push('', 'throughput by node count, and what limited it:');
  for (const r of results)
    out.push(
      `  ${nameOf(r)}: ${r.throughput ? `${r.throughput.deliveredPerSecond} delivered/s — limited by ${r.throughput.limitedBy}` : 'no result'}`,
    );
  out.push('', machineNote);
  const disturbed = results.filter(
    (r) =>
      (r.machineBusyBeforePct ?? 0) > QUIET_BUSY_PCT ||
      (r.latency?.cpu.otherPct ?? 0) > DISTURBED_PCT ||
      (r.throughput?.cpu.otherPct ?? 0) > DISTURBED_PCT,
  );
  if (disturbed.length)
    out.push(
      '',
      `WARNING: other processes on the machine used much CPU around the ${disturbed.map(nameOf).join(', ')} run(s) ("CPU % other processes", "machine CPU % before the run"): those figures are disturbed; rerun on a quiet machine.`,
    );
  for (const r of results) {
    if (!r.ok) out.push('', `${nameOf(r)}: FAILED: ${r.error}`);
    if (r.disconnects) out.push(`${nameOf(r)}: ${r.disconnects} unexpected socket disconnects`);
    if (r.serverWarnings?.length) {
      out.push(`${nameOf(r)}: servers logged warnings, e.g.:`);
      for (const w of r.serverWarnings.slice(0, 3)) out.push(`  ${w}`);
    }
  }
  out.push('', `took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return results.every((r) => r.ok);
}

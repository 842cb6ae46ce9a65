/** The live benchmark's report: the join and forwarding sections, the targets, and issue 14's P5. */
import { cell, type Goal, goalLines, renderTable } from '../lib/table.ts';
import { CORES, round, type Spread } from '../lib/util.ts';
import { DOCUMENTED_CONSUMERS, type ForwardResult, TARGET_CONSUMERS, TARGET_CPU_PCT } from './forward.ts';
import type { JoinResult, RoundTrips } from './join.ts';

/** First round's target, and issue 14's P5: signaling round trips from live:join to the other party's first packet. */
export const TARGET_ROUND_TRIPS = 5;
export const P5_GOAL = 3;

const table = (header: string[], rows: unknown[][]) =>
  renderTable(
    header,
    rows.map((r) => r.map(cell)),
  );

const tripsText = (t: RoundTrips | undefined) =>
  t
    ? `${t.total} round trips = ${t.joiner} by the joiner + ${t.other} by the other party${t.pushes ? ` (+ ${t.pushes} server push)` : ''}`
    : '–';

export function joinSection(j: JoinResult | undefined, forward: ForwardResult | undefined): string[] {
  const out: string[] = [];
  if (!j) return out;
  out.push('1. JOIN LATENCY (loopback)');
  if (j.browserFailure) {
    out.push(`   browser route (2 headless Chromium pages, reference web client): NOT USABLE`);
    out.push(`     ${j.browserFailure.error.split('\n')[0]}`);
    if (j.browserFailure.workerDeaths.length)
      out.push(
        `     the server logged ${j.browserFailure.workerDeaths.length} media worker death(s) while the page connected its transports`,
      );
  }
  out.push(`   route: ${j.route}: ${j.routeDescription ?? ''}`);
  if (!j.summary) {
    out.push(`   FAILED: ${j.error?.split('\n')[0] ?? '?'}`);
    return out;
  }
  const s = j.summary;
  const f = j.first;
  const row = (label: string, first: number | undefined, sp: Spread) => [
    label,
    first,
    sp.p50,
    sp.min,
    sp.max,
  ];
  const rows: unknown[][] = [];
  if (j.route === 'browser') {
    rows.push(
      row(
        "live:join → other party's first audio packet",
        f?.otherFirstPacketMs.audio,
        s.otherFirstPacketMs.audio,
      ),
    );
    rows.push(
      row(
        "live:join → other party's first video packet",
        f?.otherFirstPacketMs.video,
        s.otherFirstPacketMs.video,
      ),
    );
    rows.push(
      row(
        "live:join → joiner's first audio packet",
        f?.joinerFirstPacketMs.audio,
        s.joinerFirstPacketMs.audio,
      ),
    );
    rows.push(
      row(
        "live:join → joiner's first video packet",
        f?.joinerFirstPacketMs.video,
        s.joinerFirstPacketMs.video,
      ),
    );
  }
  rows.push(
    row("live:join → other party's audio consumer resumed", f?.otherReadyMs.audio, s.otherReadyMs.audio),
  );
  rows.push(
    row("live:join → other party's video consumer resumed", f?.otherReadyMs.video, s.otherReadyMs.video),
  );
  rows.push(
    row("live:join → joiner's audio consumer resumed", f?.joinerReadyMs.audio, s.joinerReadyMs.audio),
  );
  rows.push(
    row("live:join → joiner's video consumer resumed", f?.joinerReadyMs.video, s.joinerReadyMs.video),
  );
  const mj = forward?.mediaJoin;
  if (j.route === 'node' && mj) {
    const a = mj.resumeToFirstPacketMs.audio;
    const v = mj.resumeToFirstPacketMs.video;
    rows.push(['media layer (PlainTransport): resume → first audio packet', undefined, a.p50, a.min, a.max]);
    rows.push(['media layer (PlainTransport): resume → first video packet', undefined, v.p50, v.min, v.max]);
    const est = (x: number | undefined, y: number | undefined) =>
      x !== undefined && y !== undefined ? round(x + y, 1) : undefined;
    rows.push([
      "≈ live:join → other party's first audio packet (sum, no ICE/DTLS)",
      undefined,
      est(s.otherReadyMs.audio.p50, a.p50),
      undefined,
      undefined,
    ]);
    rows.push([
      "≈ live:join → other party's first video packet (sum, no ICE/DTLS)",
      undefined,
      est(s.otherReadyMs.video.p50, v.p50),
      undefined,
      undefined,
    ]);
  }
  rows.push([
    j.route === 'browser'
      ? 'before live:join: page load + GET /v1/join + socket'
      : 'before live:join: socket connect',
    f?.beforeJoinMs,
    s.beforeJoinMs.p50,
    s.beforeJoinMs.min,
    s.beforeJoinMs.max,
  ]);
  out.push(
    ...table(
      ['   ms', 'first join', `rejoin p50 (n=${s.otherReadyMs.audio.n ?? 0})`, 'min', 'max'],
      rows,
    ).map((l) => `   ${l}`),
  );
  out.push('');
  out.push(
    '   signaling round trips on the path (requests each sent only after the previous one was answered):',
  );
  const paths: [
    string,
    RoundTrips | undefined,
    { step: string; atMsP50: number; rttMsP50: number }[] | undefined,
  ][] = [
    ['joiner → other party, audio', s.roundTrips.toOtherAudio, s.stepsToOtherAudio],
    ['joiner → other party, video', s.roundTrips.toOtherVideo, s.stepsToOtherVideo],
    ['other party → joiner, audio', s.roundTrips.toJoinerAudio, s.stepsToJoinerAudio],
    ['other party → joiner, video', s.roundTrips.toJoinerVideo, undefined],
  ];
  for (const [label, t, steps] of paths) {
    out.push(`   - ${label}: ${tripsText(t)}`);
    if (t) out.push(`       ${t.path.join(' → ')}`);
    if (steps)
      out.push(
        `       p50 round trip per step (ms): ${steps
          .filter((x) => !x.step.startsWith('⇢'))
          .map((x) => `${x.step} ${x.rttMsP50}`)
          .join(', ')}`,
      );
  }
  const fmt = (r: Record<string, number>) =>
    Object.entries(r)
      .map(([k, v]) => `${k.replace('live:', '')} ${v}`)
      .join(', ');
  out.push(`   requests per rejoin (p50): joiner ${fmt(s.joinerRequestsPerJoin)}`);
  out.push(`                              other party ${fmt(s.otherRequestsPerJoin)}`);
  out.push(
    `                              server's talkroom_socket_requests_total ${fmt(s.serverRequestsPerJoin)}`,
  );
  if (mj && j.route === 'node') {
    out.push(
      `   media layer per joining receiver (p50 ms): ${Object.entries(mj.callsMs)
        .map(([k, v]) => `${k} ${v.p50}`)
        .join(', ')}`,
    );
  }
  return out;
}

export function forwardSection(fw: ForwardResult | undefined): string[] {
  const out: string[] = [];
  if (!fw) return out;
  const cores = CORES * 100;
  out.push(
    '2. FORWARDING COST, one mediasoup worker, N 1:1 sessions over PlainTransports (plain RTP, no SRTP)',
  );
  out.push(
    `   per session: 2 peers × (${fw.perSession.audio.replace(' per peer', '')} + ${fw.perSession.video.replace(' per peer', '')}), ${fw.perSession.consumers} consumers, ${fw.perSession.packetsPerSecondIn} pkt/s in and out; load from ${fw.generators} generator processes`,
  );
  const rows = fw.steps.map((s) => [
    s.sessions,
    s.consumers,
    s.workerPct,
    `${s.workerUserPct}/${s.workerSystemPct}`,
    s.generatorPct,
    s.cpu.machinePct,
    s.cpu.otherPct,
    s.offeredPps,
    s.receivedPps,
    s.probationPps,
    s.sentRatio,
    s.lossPct,
    s.forwarderUsPerPacket,
  ]);
  out.push(
    ...table(
      [
        '   sessions',
        'consumers',
        'worker %',
        'usr/sys',
        'generators %',
        `machine % (of ${cores})`,
        'other %',
        'offered pkt/s',
        'forwarded pkt/s',
        'probation pkt/s',
        'sent/offered',
        'loss %',
        'worker µs/pkt',
      ],
      rows,
    ).map((l, i) => (i === 0 ? l : `   ${l}`)),
  );
  out.push(`   stopped: ${fw.stoppedBecause}`);
  const c = fw.consumersAt80;
  if (c) {
    out.push(
      `   consumers per worker at ${TARGET_CPU_PCT}% of a core: ${c.value} (${c.how}, from ${c.from})  vs mediasoup's documented ~${DOCUMENTED_CONSUMERS}: ${round(c.value / DOCUMENTED_CONSUMERS, 2)}×`,
    );
  } else out.push(`   consumers per worker at ${TARGET_CPU_PCT}% of a core: not determined`);
  const b = fw.baseline;
  if (b) {
    out.push(
      `   baseline, Node UDP relay (byte for byte, same generator, ${b.sessions} sessions): relay ${b.relay.relayPct}% of a core, ${b.relay.receivedPps} pkt/s, loss ${b.relay.lossPct}%`,
    );
    out.push(
      `     CPU per forwarded packet: mediasoup worker ${b.mediasoupUsPerPacket} µs, Node relay ${b.relayUsPerPacket} µs → mediasoup / relay = ${b.ratio}×`,
    );
  }
  if (fw.error) out.push(`   FAILED: ${fw.error.split('\n')[0]}`);
  return out;
}

export function verdicts(j: JoinResult | undefined, fw: ForwardResult | undefined) {
  const out: { join?: object; consumers?: object } = {};
  const lines: string[] = ['TARGETS'];
  const goals: Goal[] = [];
  if (j?.summary) {
    const audio = j.summary.roundTrips.toOtherAudio;
    const video = j.summary.roundTrips.toOtherVideo;
    const found: RoundTrips[] = [];
    for (const t of [audio, video]) if (t) found.push(t);
    const first = found.sort((a, b) => a.total - b.total)[0];
    if (first) {
      const pass = first.total <= TARGET_ROUND_TRIPS;
      out.join = {
        roundTrips: first.total,
        joiner: first.joiner,
        other: first.other,
        target: TARGET_ROUND_TRIPS,
        pass,
      };
      lines.push(
        `  join → first packet at the other party ≤ ${TARGET_ROUND_TRIPS} signaling round trips: ${pass ? 'PASS' : 'FAIL'} (${tripsText(first)}${j.route === 'node' ? '; counted on the reference client’s request order, signaling-only route' : ''})`,
      );
      goals.push({
        id: 'P5',
        metric: `signaling round trips waited on from live:join to the other party's first ${first === audio ? 'audio' : 'video'} RTP packet (${j.route} route)`,
        goal: `≤ ${P5_GOAL}`,
        figure: `${first.total}: ${first.path.join(' → ')}`,
        ratio: round(first.total / P5_GOAL, 2),
        pass: first.total <= P5_GOAL,
        limit:
          first.total > P5_GOAL
            ? 'the receiving side asks for each consumer (live:consume) and resumes it: a client or server without server-initiated consumers (live:consumer)'
            : undefined,
      });
    } else
      lines.push(`  join → first packet ≤ ${TARGET_ROUND_TRIPS} signaling round trips: FAIL (no result)`);
  }
  if (fw) {
    const c = fw.consumersAt80;
    const pass = c !== undefined && c.value >= TARGET_CONSUMERS;
    out.consumers = {
      consumersAt80: c?.value,
      how: c?.how,
      target: TARGET_CONSUMERS,
      documented: DOCUMENTED_CONSUMERS,
      pass,
    };
    lines.push(
      `  ≥ ${TARGET_CONSUMERS} consumers per worker at ${TARGET_CPU_PCT}% of a core: ${c ? `${pass ? 'PASS' : 'FAIL'} (${c.value}, ${c.how}; plain RTP, no SRTP)` : 'FAIL (not determined)'}`,
    );
  }
  if (goals.length) lines.push('', ...goalLines(goals));
  return { out, lines, goals };
}

/**
 * Live-session benchmark (`npm run bench:live`).
 *
 * Issue: "join latency from live:join to the first RTP packet received by the
 * other party, in signaling round trips and milliseconds on loopback, and the
 * forwarding cost with N concurrent 1:1 sessions (synthetic RTP through
 * PlainTransports is fine) until a worker saturates; print consumers per
 * worker at 80% of a core next to mediasoup's documented ~500. Target: join to
 * first packet ≤ 5 signaling round trips; ≥ 400 consumers per worker."
 *
 * 1. Join latency (bench/live-join.ts): a real talkroom process, provisioned
 *    through its REST API, a confirmed video session; the provider joins and
 *    sends, then the client joins, leaves and joins again BENCH_JOIN_REPS
 *    times. Preferably two headless Chromium pages running the reference web
 *    client (everything real: WebRTC, ICE, DTLS, RTP); if that route does not
 *    work, socket.io clients sending what the reference client sends, in its
 *    order (signaling real, no media), plus the media half measured at the
 *    media layer with PlainTransports. The output says which route ran, and
 *    why the browser route was not used. Reported: the requests on the path
 *    from live:join to each first packet (the round trips one waited for in
 *    turn, on the joiner's and on the other party's side), each one's round
 *    trip in ms, and ms from live:join (first join, and p50 over the rejoins).
 * 2. Forwarding cost (bench/live-forward.ts): one mediasoup worker (MediaPool,
 *    in this process); N 1:1 sessions of 2 peers, each sending opus (50 pkt/s)
 *    and VP8 (120 pkt/s) through a PlainTransport and consuming the other's
 *    two producers (4 consumers per session), synthetic RTP from
 *    BENCH_GENERATORS child processes; N steps up until the worker passes 80%
 *    of a core or the generator or the machine saturates first. The worker's
 *    CPU (/proc) per step, the generators' and the machine's beside it, loss,
 *    and consumers at 80% of a core (interpolated between steps, or
 *    extrapolated along a straight line when the machine saturated first;
 *    the output says which) next to mediasoup's documented ~500.
 *
 * Why the baseline is fair: same run, same machine, same generator processes,
 * packet sizes and rates, same socket layout (one socket per transport), all
 * on 127.0.0.1; the baseline (a Node relay that forwards every datagram byte
 * for byte, no parsing) does strictly less than the SFU, so mediasoup's CPU
 * per forwarded packet over the relay's is what its RTP handling costs on top
 * of moving the bytes. For the join, the per-request round trips show what
 * the server adds to each step; the count of sequential requests is
 * independent of the machine.
 *
 * Env: BENCH_JOIN_REPS (10), BENCH_JOIN_ROUTE (auto | browser | node),
 *      BENCH_STEPS (10,25,50,75,100,125,150,200,250,300,400,500 sessions),
 *      BENCH_GENERATORS (2), BENCH_STEP_SECONDS (4), BENCH_STEP_WARMUP_SECONDS (1.5),
 *      BENCH_FORWARD_BUDGET_SECONDS (120), BENCH_QUIET_WAIT_SECONDS (30),
 *      BENCH_ONLY (join | forward).
 * Writes bench/results/live-latest.json. All traffic stays on 127.0.0.1;
 * child processes (server, Chromium, generators) are killed on exit.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import {
  killChildren,
  log,
  now,
  num,
  round,
  runCleanups,
  type Spread,
  waitForQuietMachine,
} from './live-common.ts';
import {
  DOCUMENTED_CONSUMERS,
  type ForwardResult,
  runForward,
  TARGET_CONSUMERS,
  TARGET_CPU_PCT,
} from './live-forward.ts';
import { JOIN_REPS, type JoinResult, type RoundTrips, runJoin } from './live-join.ts';

const ROOT = join(import.meta.dirname, '..');
const RESULTS = join(ROOT, 'bench', 'results');
const ONLY = process.env.BENCH_ONLY;
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 600);
const TARGET_ROUND_TRIPS = 5;

process.on('exit', killChildren);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    killChildren();
    const hard = setTimeout(() => process.exit(130), 5000);
    hard.unref();
    runCleanups().finally(() => process.exit(130));
  });
}

const mediasoupVersion = () => {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules/mediasoup/package.json'), 'utf8'))
      .version as string;
  } catch {
    return '?';
  }
};

// ---------------------------------------------------------------- report

const cell = (v: unknown) => (v === undefined || v === null || Number.isNaN(v) ? '–' : String(v));

function table(header: string[], rows: unknown[][]): string[] {
  const text = rows.map((r) => r.map(cell));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...text.map(line)];
}

const tripsText = (t: RoundTrips | undefined) =>
  t
    ? `${t.total} round trips = ${t.joiner} by the joiner + ${t.other} by the other party${t.pushes ? ` (+ ${t.pushes} server push)` : ''}`
    : '–';

function joinSection(j: JoinResult | undefined, forward: ForwardResult | undefined): string[] {
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

function forwardSection(fw: ForwardResult | undefined): string[] {
  const out: string[] = [];
  if (!fw) return out;
  const cores = cpus().length * 100;
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

function verdicts(j: JoinResult | undefined, fw: ForwardResult | undefined) {
  const out: { join?: object; consumers?: object } = {};
  const lines: string[] = ['TARGETS'];
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
  return { out, lines };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  const startedAt = new Date();
  const t0 = now();
  const secret = randomBytes(32).toString('hex');
  log(`live benchmark: ${ONLY ?? 'join, forward'}; ${JOIN_REPS} rejoins`);
  let join_: JoinResult | undefined;
  let forward: ForwardResult | undefined;
  let joinQuiet: number | undefined;
  if (ONLY !== 'forward') {
    joinQuiet = await waitForQuietMachine('join', QUIET_WAIT_SECONDS);
    join_ = await runJoin(secret);
  }
  if (ONLY !== 'join') forward = await runForward();
  const seconds = (now() - t0) / 1000;

  const v = verdicts(join_, forward);
  const json = {
    benchmark: 'live',
    startedAt: startedAt.toISOString(),
    durationSeconds: round(seconds, 1),
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      node: process.version,
      mediasoup: mediasoupVersion(),
    },
    targets: {
      joinRoundTrips: TARGET_ROUND_TRIPS,
      consumersPerWorkerAt80PctCpu: TARGET_CONSUMERS,
      mediasoupDocumentedConsumersPerWorker: DOCUMENTED_CONSUMERS,
    },
    verdict: v.out,
    join: join_ && { machineBusyAtStartPct: joinQuiet, ...join_ },
    forward,
  };
  mkdirSync(RESULTS, { recursive: true });
  const file = join(RESULTS, 'live-latest.json');
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);

  const out: string[] = [''];
  out.push(
    `talkroom live benchmark: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}, mediasoup ${mediasoupVersion()}${join_?.chromium ? `, Chromium ${join_.chromium}` : ''}`,
  );
  out.push('');
  out.push(...joinSection(join_, forward));
  if (join_) out.push('');
  out.push(...forwardSection(forward));
  out.push('');
  out.push(...v.lines);
  const warnings: string[] = [];
  if (joinQuiet !== undefined && joinQuiet > 30)
    warnings.push(
      `other processes used ${joinQuiet}% CPU when the join part started: its ms figures are disturbed`,
    );
  if (forward?.machineBusyAtStartPct !== undefined && forward.machineBusyAtStartPct > 30)
    warnings.push(
      `other processes used ${forward.machineBusyAtStartPct}% CPU when the forwarding part started: its figures are disturbed`,
    );
  const noisy = forward?.steps.filter((s) => s.cpu.otherPct > 25) ?? [];
  if (noisy.length)
    warnings.push(
      `other processes used > 25% CPU during ${noisy.map((s) => `${s.sessions}`).join(', ')}-session steps: rerun on a quiet machine`,
    );
  if (join_?.serverProblems?.length)
    warnings.push(
      `the server logged ${join_.serverProblems.length} warnings/errors, e.g. ${join_.serverProblems[0]?.slice(0, 300)}`,
    );
  if (warnings.length) {
    out.push('');
    out.push('WARNINGS');
    for (const w of warnings) out.push(`  ${w}`);
  }
  out.push('');
  out.push(`took ${round(seconds, 1)} s; results in ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return (join_ === undefined || join_.ok) && (forward === undefined || forward.ok) ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (e) {
  log(`benchmark failed: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
} finally {
  await runCleanups();
  killChildren();
}

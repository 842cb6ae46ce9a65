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
 * 1. Join latency (bench/live/join.ts): a real talkroom process, provisioned
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
 * 2. Forwarding cost (bench/live/forward.ts): one mediasoup worker (MediaPool,
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
 *      BENCH_ONLY (join | forward), BENCH_QUICK=1 (2 rejoins, 10 and 25 sessions, 1 s steps:
 *      checks that it runs; figures meaningless).
 * Issue 14's P5 (≤ 3 signaling round trips from live:join to the other party's first RTP
 * packet) is printed with the path counted and its ratio to the goal.
 * Writes bench/results/live-latest.json. All traffic stays on 127.0.0.1;
 * child processes (server, Chromium, generators) are killed on exit.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitForQuietMachine } from './lib/machine.ts';
import { runMain } from './lib/processes.ts';
import { log, machineLine, now, num, ROOT, resultsHeader, round, writeResults } from './lib/util.ts';
import { DOCUMENTED_CONSUMERS, type ForwardResult, runForward, TARGET_CONSUMERS } from './live/forward.ts';
import { JOIN_REPS, type JoinResult, runJoin } from './live/join.ts';
import { forwardSection, joinSection, TARGET_ROUND_TRIPS, verdicts } from './live/report.ts';

const ONLY = process.env.BENCH_ONLY;
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 600, 0);

const mediasoupVersion = () => {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules/mediasoup/package.json'), 'utf8'))
      .version as string;
  } catch {
    return '?';
  }
};

await runMain(async () => {
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
    ...resultsHeader('live', startedAt, seconds),
    mediasoup: mediasoupVersion(),
    targets: {
      joinRoundTrips: TARGET_ROUND_TRIPS,
      consumersPerWorkerAt80PctCpu: TARGET_CONSUMERS,
      mediasoupDocumentedConsumersPerWorker: DOCUMENTED_CONSUMERS,
    },
    verdict: v.out,
    goals: v.goals,
    join: join_ && { machineBusyAtStartPct: joinQuiet, ...join_ },
    forward,
  };
  const file = writeResults('live', json);

  const out: string[] = [''];
  out.push(
    `talkroom live benchmark: ${machineLine()}, mediasoup ${mediasoupVersion()}${join_?.chromium ? `, Chromium ${join_.chromium}` : ''}`,
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
});

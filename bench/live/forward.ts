/**
 * Part 2 of bench/live.ts (its parts in bench/live/): what forwarding costs the SFU, and part of the join
 * latency the signaling route cannot see.
 *
 * A MediaPool with one worker, in this process (the worker is a process of its
 * own; this process only drives it). N concurrent 1:1 sessions, each with two
 * peers; each peer produces one opus stream (50 packets/s × 100 bytes) and one
 * VP8 stream (30 frames/s × 4 packets × 1000 bytes) through a send
 * PlainTransport, and consumes the other peer's two producers through a recv
 * PlainTransport: 4 consumers and 340 packets/s in and out per session.
 * Synthetic RTP comes from BENCH_GENERATORS child processes (bench/live-rtp.ts),
 * which also count what reaches the consumers' sockets. N steps up
 * (BENCH_STEPS) until the worker passes 80% of one core, or the load generator
 * or the machine saturates first (this machine's cores are shared by the
 * worker and the generator: their CPU is reported beside the worker's).
 *
 * Per step: the worker's CPU from /proc/<pid>/stat (user and system), the
 * generators', this process's and the machine's; packets offered, sent and
 * received; loss; and the worker's CPU per forwarded packet.
 *
 * Baseline, same run, same generator, same packet rates and socket layout: a
 * Node UDP relay (bench/live-rtp.ts, role relay) that forwards every datagram
 * byte for byte from an "in" to an "out" socket per peer, with no parsing.
 * CPU per forwarded packet, relay against mediasoup, is the price of what the
 * SFU does on top of moving bytes (RTP parsing, sequence/SSRC rewriting, RTCP,
 * stream stats) — and it is in C++, so a ratio under 1 is expected.
 *
 * Plain RTP carries no SRTP: a WebRTC transport also decrypts every packet in
 * and encrypts every packet out, so the consumers per worker measured here are
 * an upper bound for WebRTC clients. mediasoup documents "~500 consumers" per
 * worker (https://mediasoup.org/documentation/v3/scalability), for WebRTC.
 */
import { cpus } from 'node:os';
import pino from 'pino';
import { MediaPool } from '../../media/index.ts';
import { freePortBase } from '../../test/media/helpers.ts';
import { waitForQuietMachine } from '../lib/machine.ts';
import { HOST, log, mapLimit, now, num, QUICK, round, sleep } from '../lib/util.ts';
import { type Child, genCpu, measure, startChildren, type Window } from './generators.ts';
import {
  consumingPeer,
  type MediaJoinResult,
  mediaLayerJoin,
  nextSsrc,
  producingPeer,
} from './media-join.ts';
import {
  AUDIO_PAYLOAD,
  AUDIO_PPS,
  type PeerSpec,
  type ToChild,
  VIDEO_FPS,
  VIDEO_PACKETS_PER_FRAME,
  VIDEO_PAYLOAD,
} from './rtp.ts';

const STEPS = (process.env.BENCH_STEPS ?? (QUICK ? '10,25' : '10,25,50,75,100,125,150,200,250,300,400,500'))
  .split(',')
  .map((s) => Math.round(Number(s)))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);
const GENERATORS = Math.round(num('BENCH_GENERATORS', 2, 1, 8));
const STEP_SECONDS = num('BENCH_STEP_SECONDS', 4, 1, 60, 1);
const STEP_WARMUP_SECONDS = num('BENCH_STEP_WARMUP_SECONDS', 1.5, 0.5, 30, 0.5);
/** The stepping stops once this much time has gone (the whole run should stay around 4 minutes). */
const FORWARD_BUDGET_SECONDS = num('BENCH_FORWARD_BUDGET_SECONDS', 120, 10, 3600);
const MEDIA_JOIN_REPS = Math.round(num('BENCH_JOIN_REPS', 10, 1, 50, 2));
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 600, 0);

export const TARGET_CPU_PCT = 80;
export const TARGET_CONSUMERS = 400;
export const DOCUMENTED_CONSUMERS = 500;
const PPS_PER_SESSION = 2 * (AUDIO_PPS + VIDEO_FPS * VIDEO_PACKETS_PER_FRAME);
const CONSUMERS_PER_SESSION = 4;
const SETUP_CONCURRENCY = 8;

const silent = pino({ level: 'silent' });

// ---------------------------------------------------------------- the run

export interface Step extends Window {
  sessions: number;
  consumers: number;
  workerPct: number;
  workerUserPct: number;
  workerSystemPct: number;
  generatorPct: number;
  generatorMaxPct: number;
  benchPct: number;
  setupSeconds: number;
}

export interface ForwardResult {
  ok: boolean;
  error?: string;
  generators: number;
  perSession: { consumers: number; packetsPerSecondIn: number; audio: string; video: string };
  mediaJoin?: MediaJoinResult;
  steps: Step[];
  stoppedBecause: string;
  /** Consumers at 80% of one core of the worker. */
  consumersAt80?: { value: number; how: 'interpolated' | 'extrapolated'; from: string };
  baseline?: {
    sessions: number;
    relay: Window & { relayPct: number; generatorPct: number };
    mediasoupUsPerPacket: number;
    relayUsPerPacket: number;
    /** mediasoup's CPU per forwarded packet / the relay's. */
    ratio: number;
  };
  machineBusyAtStartPct?: number;
}

export async function runForward(): Promise<ForwardResult> {
  const result: ForwardResult = {
    ok: false,
    generators: GENERATORS,
    perSession: {
      consumers: CONSUMERS_PER_SESSION,
      packetsPerSecondIn: PPS_PER_SESSION,
      audio: `opus ${AUDIO_PPS} pkt/s × ${AUDIO_PAYLOAD} B per peer`,
      video: `VP8 ${VIDEO_FPS} fps × ${VIDEO_PACKETS_PER_FRAME} pkt × ${VIDEO_PAYLOAD} B per peer`,
    },
    steps: [],
    stoppedBecause: 'all steps done',
  };
  let pool: MediaPool | undefined;
  let gens: Child[] = [];
  const started = now();
  try {
    result.machineBusyAtStartPct = await waitForQuietMachine('forward', QUIET_WAIT_SECONDS);
    const base = await freePortBase(1);
    const maxSessions = STEPS.at(-1) ?? 0;
    pool = await MediaPool.create(
      {
        workers: 1,
        listenIp: HOST,
        rtcMinPort: base,
        rtcMaxPort: Math.min(65_000, base + maxSessions * 4 + 200),
      },
      silent,
    );
    const workerPid = pool.stats()[0]!.pid;
    gens = await startChildren('gen', GENERATORS);
    log(`[forward] mediasoup worker pid ${workerPid}; ${GENERATORS} generator processes`);

    // The media half of a join, for the signaling route's report.
    const mj = await startChildren('gen-join', 1);
    try {
      result.mediaJoin = await mediaLayerJoin(pool, mj[0]!, MEDIA_JOIN_REPS);
    } finally {
      await mj[0]!.stop();
    }
    log(
      `[forward] media layer: resume → first packet audio p50 ${result.mediaJoin.resumeToFirstPacketMs.audio.p50} ms, video p50 ${result.mediaJoin.resumeToFirstPacketMs.video.p50} ms`,
    );

    const pids: Record<string, number> = { worker: workerPid, bench: process.pid };
    for (const g of gens) pids[g.name] = g.pid;
    let sessions = 0;
    for (const target of STEPS) {
      if ((now() - started) / 1000 > FORWARD_BUDGET_SECONDS) {
        result.stoppedBecause = `time budget (${FORWARD_BUDGET_SECONDS} s) used up`;
        break;
      }
      const t = now();
      const add = Array.from({ length: target - sessions }, (_, i) => sessions + i);
      // Receivers first (two per session, in the session's generator), then the SFU side, then the senders.
      const byGen = new Map<Child, number[]>();
      for (const i of add)
        byGen.set(gens[i % gens.length]!, [...(byGen.get(gens[i % gens.length]!) ?? []), i]);
      const ports = new Map<number, [number, number]>();
      for (const [g, ids] of byGen) {
        const { ports: p } = await g.request({ type: 'bind', count: ids.length * 2 }, 'bound');
        for (const [k, id] of ids.entries()) ports.set(id, [p[2 * k]!, p[2 * k + 1]!]);
      }
      const specs = new Map<Child, PeerSpec[]>();
      await mapLimit(add, SETUP_CONCURRENCY, async (i) => {
        const session = await pool!.session(`bench-fwd-${i}`);
        const a = await producingPeer(session, 'a');
        const b = await producingPeer(session, 'b');
        const [pa, pb] = ports.get(i)!;
        await consumingPeer(session, 'a', pa, b);
        await consumingPeer(session, 'b', pb, a);
        const g = gens[i % gens.length]!;
        specs.set(g, [...(specs.get(g) ?? []), a.spec, b.spec]);
      });
      for (const [g, peers] of specs) await g.request({ type: 'start', peers }, 'started');
      sessions = target;
      const setupSeconds = round((now() - t) / 1000, 2);
      await sleep(STEP_WARMUP_SECONDS * 1000);
      const w = await measure(gens, pids, 'worker', STEP_SECONDS);
      const worker = w.cpu.groups.worker!;
      const gc = genCpu(w);
      const step: Step = {
        ...w,
        sessions,
        consumers: pool.stats()[0]?.consumers ?? 0,
        workerPct: worker.pct,
        workerUserPct: worker.userPct,
        workerSystemPct: worker.systemPct,
        generatorPct: gc.total,
        generatorMaxPct: gc.max,
        benchPct: w.cpu.groups.bench!.pct,
        setupSeconds,
      };
      result.steps.push(step);
      log(
        `[forward] ${sessions} sessions, ${step.consumers} consumers: worker ${step.workerPct}% (usr ${step.workerUserPct} sys ${step.workerSystemPct}), generators ${step.generatorPct}%, machine ${w.cpu.machinePct}% of ${cpus().length * 100}; ${step.receivedPps} pkt/s forwarded, sent/offered ${step.sentRatio}, loss ${step.lossPct}%`,
      );
      const cores = cpus().length * 100;
      if (step.workerPct >= TARGET_CPU_PCT) {
        result.stoppedBecause = `the worker passed ${TARGET_CPU_PCT}% of a core`;
        break;
      }
      if (step.sentRatio < 0.97 || step.generatorMaxPct >= 90) {
        result.stoppedBecause = `the load generator saturated first (sent/offered ${step.sentRatio}, busiest generator ${step.generatorMaxPct}% of a core)`;
        break;
      }
      // Saturated by this benchmark's own processes (others' load is reported as a disturbance instead).
      const ours = w.cpu.machinePct - w.cpu.otherPct;
      if (ours >= 0.92 * cores) {
        result.stoppedBecause = `the machine saturated first (${w.cpu.machinePct}% of ${cores}, ${round(ours, 0)}% by the worker, generators and bench; worker ${step.workerPct}%)`;
        break;
      }
      if (step.lossPct > 2) {
        result.stoppedBecause = `packet loss ${step.lossPct}% before the worker reached ${TARGET_CPU_PCT}%`;
        break;
      }
    }
    result.consumersAt80 = crossing(result.steps);

    // Baseline: the Node relay at the largest clean step, with fresh generators.
    for (const g of gens) g.proc.send({ type: 'stop' } satisfies ToChild);
    await Promise.all(gens.map((g) => g.stop()));
    gens = [];
    await pool.close();
    pool = undefined;
    const clean = result.steps.filter((s) => s.sentRatio >= 0.97 && s.lossPct <= 2);
    const ref = clean.filter((s) => s.workerPct <= TARGET_CPU_PCT).at(-1) ?? clean.at(-1);
    if (ref) result.baseline = await relayBaseline(ref);
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`[forward] FAILED: ${(e as Error).message}`);
    result.consumersAt80 ??= crossing(result.steps);
  } finally {
    await Promise.all(gens.map((g) => g.stop().catch(() => {})));
    await pool?.close();
  }
  return result;
}

/** Consumers at which the worker uses 80% of a core: between two steps, else a straight line through all. */
function crossing(steps: Step[]): ForwardResult['consumersAt80'] {
  for (let i = 1; i < steps.length; i++) {
    const a = steps[i - 1]!;
    const b = steps[i]!;
    if (a.workerPct < TARGET_CPU_PCT && b.workerPct >= TARGET_CPU_PCT) {
      const v =
        a.consumers +
        ((TARGET_CPU_PCT - a.workerPct) * (b.consumers - a.consumers)) / (b.workerPct - a.workerPct);
      return {
        value: Math.round(v),
        how: 'interpolated',
        from: `${a.consumers} and ${b.consumers} consumers`,
      };
    }
  }
  if (steps[0] && steps[0].workerPct >= TARGET_CPU_PCT) {
    const s = steps[0];
    return {
      value: Math.round((s.consumers * TARGET_CPU_PCT) / s.workerPct),
      how: 'interpolated',
      from: `0 and ${s.consumers} consumers`,
    };
  }
  if (steps.length < 2) return undefined;
  // Least squares, CPU = a + b × consumers.
  const n = steps.length;
  const mx = steps.reduce((s, p) => s + p.consumers, 0) / n;
  const my = steps.reduce((s, p) => s + p.workerPct, 0) / n;
  const sxy = steps.reduce((s, p) => s + (p.consumers - mx) * (p.workerPct - my), 0);
  const sxx = steps.reduce((s, p) => s + (p.consumers - mx) ** 2, 0);
  if (sxx === 0 || sxy <= 0) return undefined;
  const b = sxy / sxx;
  const a = my - b * mx;
  return {
    value: Math.round((TARGET_CPU_PCT - a) / b),
    how: 'extrapolated',
    from: `a straight line through ${n} steps (${steps[0]!.consumers}–${steps.at(-1)!.consumers} consumers): ${round(a, 2)}% + ${round(b * 100, 3)}% per 100 consumers`,
  };
}

async function relayBaseline(ref: Step): Promise<ForwardResult['baseline']> {
  const gens = await startChildren('gen', GENERATORS);
  const [relay] = await startChildren('relay', 1);
  try {
    const sessions = ref.sessions;
    const peers = new Map<Child, PeerSpec[]>();
    for (let i = 0; i < sessions; i++) {
      const g = gens[i % gens.length]!;
      const { ports } = await g.request({ type: 'bind', count: 2 }, 'bound');
      // Peer a's media goes (through the relay) to peer b's receiver, and the other way round.
      const { ports: ins } = await relay!.request(
        { type: 'relay', destinations: [ports[1]!, ports[0]!] },
        'relaying',
      );
      for (const port of ins) {
        peers.set(g, [
          ...(peers.get(g) ?? []),
          {
            port,
            audio: { ssrc: nextSsrc(), payloadType: 100 },
            video: { ssrc: nextSsrc(), payloadType: 101 },
          },
        ]);
      }
    }
    for (const [g, p] of peers) await g.request({ type: 'start', peers: p }, 'started');
    await sleep(STEP_WARMUP_SECONDS * 1000);
    const pids: Record<string, number> = { relay: relay!.pid, bench: process.pid };
    for (const g of gens) pids[g.name] = g.pid;
    const w = await measure(gens, pids, 'relay', STEP_SECONDS);
    log(
      `[baseline] Node UDP relay, ${sessions} sessions: relay ${w.cpu.groups.relay!.pct}% of a core, ${w.receivedPps} pkt/s, loss ${w.lossPct}%, ${w.forwarderUsPerPacket} µs/packet (mediasoup ${ref.forwarderUsPerPacket})`,
    );
    return {
      sessions,
      relay: { ...w, relayPct: w.cpu.groups.relay!.pct, generatorPct: genCpu(w).total },
      mediasoupUsPerPacket: ref.forwarderUsPerPacket,
      relayUsPerPacket: w.forwarderUsPerPacket,
      ratio: round(ref.forwarderUsPerPacket / w.forwarderUsPerPacket, 2),
    };
  } finally {
    await Promise.all([...gens, relay!].map((c) => c.stop().catch(() => {})));
  }
}

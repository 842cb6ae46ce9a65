/**
 * Part 2 of bench/live.ts: what forwarding costs the SFU, and part of the join
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
import { type ChildProcess, fork } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { MediaPool, type MediaSession } from '../media/index.ts';
import { freePortBase } from '../test/media/helpers.ts';
import {
  type CpuUse,
  cpuBetween,
  cpuSnapshot,
  HOST,
  log,
  now,
  num,
  round,
  sleep,
  spread,
  track,
  waitForQuietMachine,
} from './live-common.ts';
import {
  AUDIO_PAYLOAD,
  AUDIO_PPS,
  type FromChild,
  type PeerSpec,
  type Sample,
  type ToChild,
  VIDEO_FPS,
  VIDEO_PACKETS_PER_FRAME,
  VIDEO_PAYLOAD,
} from './live-rtp.ts';

const STEPS = (process.env.BENCH_STEPS ?? '10,25,50,75,100,125,150,200,250,300,400,500')
  .split(',')
  .map((s) => Math.round(Number(s)))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);
const GENERATORS = Math.round(num('BENCH_GENERATORS', 2, 1, 8));
const STEP_SECONDS = num('BENCH_STEP_SECONDS', 4, 1, 60);
const STEP_WARMUP_SECONDS = num('BENCH_STEP_WARMUP_SECONDS', 1.5, 0.5, 30);
/** The stepping stops once this much time has gone (the whole run should stay around 4 minutes). */
const FORWARD_BUDGET_SECONDS = num('BENCH_FORWARD_BUDGET_SECONDS', 120, 10, 3600);
const MEDIA_JOIN_REPS = Math.round(num('BENCH_JOIN_REPS', 10, 1, 50));
const QUIET_WAIT_SECONDS = num('BENCH_QUIET_WAIT_SECONDS', 30, 0, 600);

export const TARGET_CPU_PCT = 80;
export const TARGET_CONSUMERS = 400;
export const DOCUMENTED_CONSUMERS = 500;
const PPS_PER_SESSION = 2 * (AUDIO_PPS + VIDEO_FPS * VIDEO_PACKETS_PER_FRAME);
const CONSUMERS_PER_SESSION = 4;
const SETUP_CONCURRENCY = 8;

const silent = pino({ level: 'silent' });
const rtpDir = join(import.meta.dirname, 'live-rtp.ts');

// ---------------------------------------------------------------- children

class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly #waiting = new Map<string, (m: FromChild) => void>();
  #error: string | undefined;

  constructor(name: string) {
    this.name = name;
    this.proc = track(fork(rtpDir, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    this.proc.on('message', (m: FromChild) => {
      if (m.type === 'error') {
        this.#error = m.message;
        log(`[${name}] ${m.message}`);
      }
      const w = this.#waiting.get(m.type);
      if (w) {
        this.#waiting.delete(m.type);
        w(m);
      }
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  request<T extends FromChild['type']>(msg: ToChild, reply: T): Promise<Extract<FromChild, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${this.name}: no '${reply}' within 30 s${this.#error ? `: ${this.#error}` : ''}`),
          ),
        30_000,
      );
      this.#waiting.set(reply, (m) => {
        clearTimeout(timer);
        resolve(m as Extract<FromChild, { type: T }>);
      });
      this.proc.send(msg);
    });
  }

  ready(): Promise<unknown> {
    return new Promise((resolve) => this.#waiting.set('ready', resolve));
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = once(this.proc, 'exit');
    this.proc.send({ type: 'exit' } satisfies ToChild);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}

async function startChildren(prefix: string, n: number): Promise<Child[]> {
  const out = Array.from({ length: n }, (_, i) => new Child(`${prefix}-${i}`));
  await Promise.all(out.map((c) => c.ready()));
  return out;
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// ---------------------------------------------------------------- mediasoup sessions

let ssrcSeq = 1_000_000;
const opus = (ssrc: number) => ({
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
  encodings: [{ ssrc }],
});
/** As a browser declares VP8: NACK and PLI, so the SFU asks the sender for key frames (and may ask for retransmissions). */
const vp8 = (ssrc: number) => ({
  codecs: [
    {
      mimeType: 'video/VP8',
      payloadType: 101,
      clockRate: 90000,
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }],
    },
  ],
  encodings: [{ ssrc }],
});

interface Producing {
  spec: PeerSpec;
  audio: string;
  video: string;
}

/** A peer's send transport and its two producers; the spec tells a generator where and what to send. */
async function producingPeer(session: MediaSession, peer: string): Promise<Producing> {
  const send = await session.createPlainTransport(peer, 'send');
  const audio = { ssrc: ssrcSeq++, payloadType: 100 };
  const video = { ssrc: ssrcSeq++, payloadType: 101 };
  const a = await session.produce(peer, send.id, 'audio', opus(audio.ssrc));
  const v = await session.produce(peer, send.id, 'video', vp8(video.ssrc));
  return { spec: { port: send.port, audio, video }, audio: a.producerId, video: v.producerId };
}

/** A peer's recv transport, sending to `port`, consuming (and resuming) the other peer's producers. */
async function consumingPeer(session: MediaSession, peer: string, port: number, from: Producing) {
  const recv = await session.createPlainTransport(peer, 'recv');
  await session.connectPlainTransport(peer, recv.id, { ip: HOST, port });
  for (const producerId of [from.audio, from.video]) {
    const c = await session.consume(peer, recv.id, producerId, session.rtpCapabilities);
    await session.resume(peer, c.consumerId);
  }
}

// ---------------------------------------------------------------- media-layer join

export interface MediaJoinResult {
  reps: number;
  /** Each MediaSession call a joining receiver makes, ms (p50 over reps). */
  callsMs: Record<string, ReturnType<typeof spread>>;
  /** The consumer's resume answered → its first RTP packet at the receiver's socket. */
  resumeToFirstPacketMs: { audio: ReturnType<typeof spread>; video: ReturnType<typeof spread> };
}

/**
 * At the media layer, what a (re)joining receiver costs and waits for once
 * signaling is done: recv transport, consume, resume, and then the first
 * forwarded packet (audio: the next one the sender sends, 20 ms apart; video:
 * the key frame the SFU asks for with a PLI when the consumer resumes).
 */
async function mediaLayerJoin(pool: MediaPool, gen: Child): Promise<MediaJoinResult> {
  const session = await pool.session('bench-media-join');
  const from = await producingPeer(session, 'sender');
  await gen.request({ type: 'start', peers: [from.spec] }, 'started');
  const socket = dgram.createSocket('udp4');
  socket.bind(0, HOST);
  await once(socket, 'listening');
  const expect = new Map<number, { kind: 'audio' | 'video'; at?: number }>();
  socket.on('message', (msg: Buffer) => {
    if (msg.length < 12 || (msg[1]! >= 192 && msg[1]! <= 223)) return;
    const e = expect.get(msg.readUInt32BE(8));
    if (e && e.at === undefined) e.at = now();
  });
  await sleep(300);
  const calls: Record<string, number[]> = {};
  const firsts = { audio: [] as number[], video: [] as number[] };
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t = now();
    const out = await fn();
    calls[name] ??= [];
    calls[name].push(now() - t);
    return out;
  };
  try {
    for (let rep = 0; rep < MEDIA_JOIN_REPS; rep++) {
      expect.clear();
      const recv = await timed('createPlainTransport(recv)', () =>
        session.createPlainTransport('joiner', 'recv'),
      );
      await timed('connectPlainTransport', () =>
        session.connectPlainTransport('joiner', recv.id, { ip: HOST, port: socket.address().port }),
      );
      const resumedAt = new Map<number, number>();
      for (const [kind, producerId] of [
        ['audio', from.audio],
        ['video', from.video],
      ] as const) {
        const c = await timed(`consume(${kind})`, () =>
          session.consume('joiner', recv.id, producerId, session.rtpCapabilities),
        );
        const ssrc = c.rtpParameters.encodings?.[0]?.ssrc ?? 0;
        expect.set(ssrc, { kind });
        await timed(`resume(${kind})`, () => session.resume('joiner', c.consumerId));
        resumedAt.set(ssrc, now());
      }
      const until = now() + 3000;
      while ([...expect.values()].some((e) => e.at === undefined) && now() < until) await sleep(2);
      for (const [ssrc, e] of expect) {
        if (e.at !== undefined) firsts[e.kind].push(e.at - resumedAt.get(ssrc)!);
      }
      session.closePeer('joiner');
      await sleep(100);
    }
  } finally {
    socket.close();
    session.close();
  }
  const callsMs: MediaJoinResult['callsMs'] = {};
  for (const [k, v] of Object.entries(calls)) callsMs[k] = spread(v.map((x) => round(x, 2)));
  return {
    reps: MEDIA_JOIN_REPS,
    callsMs,
    resumeToFirstPacketMs: { audio: spread(firsts.audio), video: spread(firsts.video) },
  };
}

// ---------------------------------------------------------------- a measured window

interface Totals {
  sent: number;
  owed: number;
  received: number;
  probation: number;
  relayed: number;
  bytes: number;
  sendErrors: number;
  maxTickLateMs: number;
}

function totals(samples: Sample[]): Totals {
  const t: Totals = {
    sent: 0,
    owed: 0,
    received: 0,
    probation: 0,
    relayed: 0,
    bytes: 0,
    sendErrors: 0,
    maxTickLateMs: 0,
  };
  for (const s of samples) {
    t.sent += s.sent.audio + s.sent.video;
    t.owed += s.owed.audio + s.owed.video;
    t.received += s.received.audio + s.received.video;
    t.probation += s.probation;
    t.relayed += s.relayed;
    t.bytes += s.bytesSent;
    t.sendErrors += s.sendErrors;
    t.maxTickLateMs = Math.max(t.maxTickLateMs, s.maxTickLateMs);
  }
  return t;
}

export interface Window {
  seconds: number;
  offeredPps: number;
  sentPps: number;
  /** sent / offered: under ~0.97 the generator fell behind its own schedule. */
  sentRatio: number;
  receivedPps: number;
  /** Padding the SFU sent to probe bandwidth (RTP payload type 127), beside the media. */
  probationPps: number;
  lossPct: number;
  offeredMbps: number;
  sendErrors: number;
  generatorMaxTickLateMs: number;
  cpu: CpuUse;
  /** The forwarder's (worker or relay) CPU time per packet received at the consumers, µs. */
  forwarderUsPerPacket: number;
}

async function measure(
  gens: Child[],
  pids: Record<string, number>,
  forwarder: string,
  seconds: number,
): Promise<Window> {
  const sampleAll = async () =>
    totals(await Promise.all(gens.map(async (g) => (await g.request({ type: 'sample' }, 'sample')).sample)));
  const a = await sampleAll();
  const ca = cpuSnapshot(pids);
  await sleep(seconds * 1000);
  const b = await sampleAll();
  const cb = cpuSnapshot(pids);
  const cpu = cpuBetween(ca, cb);
  const secs = cpu.seconds;
  const sent = b.sent - a.sent;
  const owed = b.owed - a.owed;
  const received = b.received - a.received;
  const fwd = cpu.procs[forwarder]!;
  return {
    seconds: secs,
    offeredPps: round(owed / secs, 0),
    sentPps: round(sent / secs, 0),
    sentRatio: owed > 0 ? round(sent / owed, 3) : 1,
    receivedPps: round(received / secs, 0),
    probationPps: round((b.probation - a.probation) / secs, 0),
    lossPct: sent > 0 ? Math.max(0, round((100 * (sent - received)) / sent, 2)) : 0,
    offeredMbps: round(((b.bytes - a.bytes) * 8) / secs / 1e6, 1),
    sendErrors: b.sendErrors - a.sendErrors,
    generatorMaxTickLateMs: b.maxTickLateMs,
    cpu,
    forwarderUsPerPacket: received > 0 ? round(((fwd.pct / 100) * secs * 1e6) / received, 2) : Number.NaN,
  };
}

const genCpu = (w: Window) => {
  const g = Object.entries(w.cpu.procs).filter(([k]) => k.startsWith('gen'));
  return {
    total: round(
      g.reduce((a, [, v]) => a + v.pct, 0),
      1,
    ),
    max: Math.max(...g.map(([, v]) => v.pct)),
  };
};

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
      result.mediaJoin = await mediaLayerJoin(pool, mj[0]!);
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
      const worker = w.cpu.procs.worker!;
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
        benchPct: w.cpu.procs.bench!.pct,
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
            audio: { ssrc: ssrcSeq++, payloadType: 100 },
            video: { ssrc: ssrcSeq++, payloadType: 101 },
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
      `[baseline] Node UDP relay, ${sessions} sessions: relay ${w.cpu.procs.relay!.pct}% of a core, ${w.receivedPps} pkt/s, loss ${w.lossPct}%, ${w.forwarderUsPerPacket} µs/packet (mediasoup ${ref.forwarderUsPerPacket})`,
    );
    return {
      sessions,
      relay: { ...w, relayPct: w.cpu.procs.relay!.pct, generatorPct: genCpu(w).total },
      mediasoupUsPerPacket: ref.forwarderUsPerPacket,
      relayUsPerPacket: w.forwarderUsPerPacket,
      ratio: round(ref.forwarderUsPerPacket / w.forwarderUsPerPacket, 2),
    };
  } finally {
    await Promise.all([...gens, relay!].map((c) => c.stop().catch(() => {})));
  }
}

/** The forwarding benchmark's RTP generator processes (./rtp.ts) and a measured window over them. */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { type CpuUse, cpuBetween, cpuSnapshot } from '../lib/machine.ts';
import { track } from '../lib/processes.ts';
import { log, round, sleep } from '../lib/util.ts';
import type { FromChild, Sample, ToChild } from './rtp.ts';

const rtpScript = join(import.meta.dirname, 'rtp.ts');

export class Child {
  readonly proc: ChildProcess;
  readonly name: string;
  readonly #waiting = new Map<string, (m: FromChild) => void>();
  #error: string | undefined;

  constructor(name: string) {
    this.name = name;
    this.proc = track(fork(rtpScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
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

export async function startChildren(prefix: string, n: number): Promise<Child[]> {
  const out = Array.from({ length: n }, (_, i) => new Child(`${prefix}-${i}`));
  await Promise.all(out.map((c) => c.ready()));
  return out;
}

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

export async function measure(
  gens: Child[],
  pids: Record<string, number>,
  forwarder: string,
  seconds: number,
): Promise<Window> {
  const sampleAll = async () =>
    totals(await Promise.all(gens.map(async (g) => (await g.request({ type: 'sample' }, 'sample')).sample)));
  const a = await sampleAll();
  const groups = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, [pid]]));
  const ca = cpuSnapshot(groups);
  await sleep(seconds * 1000);
  const b = await sampleAll();
  const cb = cpuSnapshot(groups);
  const cpu = cpuBetween(ca, cb);
  const secs = cpu.seconds;
  const sent = b.sent - a.sent;
  const owed = b.owed - a.owed;
  const received = b.received - a.received;
  const fwd = cpu.groups[forwarder]!;
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

export const genCpu = (w: Window) => {
  const g = Object.entries(w.cpu.groups).filter(([k]) => k.startsWith('gen'));
  return {
    total: round(
      g.reduce((a, [, v]) => a + v.pct, 0),
      1,
    ),
    max: Math.max(...g.map(([, v]) => v.pct)),
  };
};

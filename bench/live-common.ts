/** Shared by bench/live.ts and its parts: settings, child-process bookkeeping, CPU accounting, statistics. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const HOST = '127.0.0.1';

export const num = (name: string, dflt: number, min: number, max: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new Error(`${name}: expected ${min}..${max}, got ${raw}`);
  return n;
};

export const log = (line: string) => process.stderr.write(`${line}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const now = () => performance.now();

export function round(v: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const a = [...values].sort((x, y) => x - y);
  const mid = Math.floor(a.length / 2);
  return a.length % 2 ? a[mid]! : (a[mid - 1]! + a[mid]!) / 2;
}

export function spread(values: number[]) {
  if (values.length === 0) return { n: 0 };
  return {
    n: values.length,
    p50: round(median(values)!, 1),
    min: round(Math.min(...values), 1),
    max: round(Math.max(...values), 1),
  };
}
export type Spread = ReturnType<typeof spread>;

// ---------------------------------------------------------------- children

/** Every child process this run started; killed (by pid, each) when the run ends however it ends. */
export const children = new Set<ChildProcess>();
export const cleanups: (() => Promise<void> | void)[] = [];

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export async function runCleanups(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      log(`cleanup failed: ${(e as Error).message}`);
    }
  }
}

export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}

// ---------------------------------------------------------------- CPU (/proc)

export const CLK_TCK = 100;

/** utime and stime of a process, in clock ticks; zeros once it is gone. */
export function procTicks(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]), system: Number(f[12]) };
  } catch {
    return { user: 0, system: 0 };
  }
}

export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuSnapshot {
  at: number;
  procs: Map<string, { user: number; system: number }>;
  machine: { busy: number; total: number };
}

/** Ticks of each named process (name → pid), and of the machine. */
export function cpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  const procs = new Map<string, { user: number; system: number }>();
  for (const [name, pid] of Object.entries(pids)) procs.set(name, procTicks(pid));
  return { at: now(), procs, machine: machineTicks() };
}

/** % of one core per process between two snapshots, the machine's (of cores × 100), and what the rest used. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  const secs = (b.at - a.at) / 1000;
  const pct = (ticks: number) => round((100 * ticks) / CLK_TCK / secs, 1);
  const procs: Record<string, { pct: number; userPct: number; systemPct: number }> = {};
  let sum = 0;
  for (const [name, t1] of b.procs) {
    const t0 = a.procs.get(name) ?? { user: 0, system: 0 };
    const user = t1.user - t0.user;
    const system = t1.system - t0.system;
    procs[name] = { pct: pct(user + system), userPct: pct(user), systemPct: pct(system) };
    sum += user + system;
  }
  const dm = b.machine.total - a.machine.total;
  const machinePct = dm > 0 ? round((100 * cpus().length * (b.machine.busy - a.machine.busy)) / dm, 1) : 0;
  return {
    seconds: round(secs, 2),
    procs,
    machinePct,
    /** Everything else on the machine (other processes, kernel threads such as ksoftirqd). */
    otherPct: Math.max(0, round(machinePct - pct(sum), 1)),
  };
}
export type CpuUse = ReturnType<typeof cpuBetween>;

/** Machine CPU in % of one core over one second. */
export async function machineBusyPct(): Promise<number> {
  const a = machineTicks();
  await sleep(1000);
  const b = machineTicks();
  return round((100 * cpus().length * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
}

/** Waits (bounded) until other processes leave the machine nearly idle, so they do not skew the figures. */
export async function waitForQuietMachine(label: string, maxSeconds: number, busyPct = 30): Promise<number> {
  const limit = now() + maxSeconds * 1000;
  for (;;) {
    const busy = await machineBusyPct();
    if (busy <= busyPct) return busy;
    if (now() > limit) {
      log(
        `[${label}] machine still busy (${busy}% CPU of ${cpus().length * 100}) after ${maxSeconds} s; going ahead`,
      );
      return busy;
    }
    log(`[${label}] waiting for a quiet machine: other processes use ${busy}% CPU`);
  }
}

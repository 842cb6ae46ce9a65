/** CPU accounting from /proc and the wait for a quiet machine: the machine is shared, so every figure says who used it. */
import { readFileSync } from 'node:fs';
import { CORES, log, now, round, sleep } from './util.ts';

export const CLK_TCK = 100;

/** utime and stime of a process, in clock ticks; zeros once it is gone. */
export function procTicks(pid: number | undefined): { user: number; system: number } {
  if (!pid || pid < 0) return { user: 0, system: 0 };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]), system: Number(f[12]) };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Resident set size of a process in bytes (0 once it is gone). */
export function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

/** Machine CPU in % of one core over one second. */
export async function machineBusyPct(): Promise<number> {
  const a = machineTicks();
  await sleep(1000);
  const b = machineTicks();
  return round((100 * CORES * (b.busy - a.busy)) / Math.max(1, b.total - a.total), 0);
}

/** Waits (bounded) until other processes leave the machine nearly idle; returns the last reading (% of one core). */
export async function waitForQuietMachine(label: string, maxSeconds: number, busyPct = 30): Promise<number> {
  const limit = now() + maxSeconds * 1000;
  for (;;) {
    const busy = await machineBusyPct();
    if (busy <= busyPct) return busy;
    if (now() > limit) {
      log(
        `[${label}] machine still busy (${busy}% CPU of ${CORES * 100}) after ${maxSeconds} s; going ahead`,
      );
      return busy;
    }
    log(`[${label}] waiting for a quiet machine: other processes use ${busy}% CPU`);
  }
}

type Ticks = { user: number; system: number };

export interface CpuSnapshot {
  at: number;
  /** group → pid → ticks. */
  groups: Map<string, Map<number, Ticks>>;
  machine: { busy: number; total: number };
}

/** Ticks of every process in each named group (a server, its nodes, PostgreSQL's backends…), and of the machine. */
export function cpuSnapshot(groups: Record<string, Iterable<number | undefined>>): CpuSnapshot {
  const out = new Map<string, Map<number, Ticks>>();
  for (const [name, pids] of Object.entries(groups)) {
    const m = new Map<number, Ticks>();
    for (const pid of pids) if (pid && pid > 0) m.set(pid, procTicks(pid));
    out.set(name, m);
  }
  return { at: now(), groups: out, machine: machineTicks() };
}

export interface GroupCpu {
  /** % of one core, the group's processes together. */
  pct: number;
  userPct: number;
  systemPct: number;
  /** % of one core per process, in the order the group's pids were given. */
  perProcess: number[];
  /** CPU seconds. */
  seconds: number;
}

/** % of one core per group between two snapshots, the machine's (of cores × 100), and what the rest used. */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot) {
  const secs = (b.at - a.at) / 1000;
  const pct = (ticks: number) => round((100 * ticks) / CLK_TCK / secs, 1);
  const groups: Record<string, GroupCpu> = {};
  let sum = 0;
  for (const [name, procs] of b.groups) {
    const before = a.groups.get(name);
    let user = 0;
    let system = 0;
    const perProcess: number[] = [];
    for (const [pid, t1] of procs) {
      // A process that appeared in between (a pool's new backend) counts from its start.
      const t0 = before?.get(pid) ?? { user: 0, system: 0 };
      const u = Math.max(0, t1.user - t0.user);
      const s = Math.max(0, t1.system - t0.system);
      user += u;
      system += s;
      perProcess.push(pct(u + s));
    }
    sum += user + system;
    groups[name] = {
      pct: pct(user + system),
      userPct: pct(user),
      systemPct: pct(system),
      perProcess,
      seconds: (user + system) / CLK_TCK,
    };
  }
  const dm = b.machine.total - a.machine.total;
  const machinePct = dm > 0 ? round((100 * CORES * (b.machine.busy - a.machine.busy)) / dm, 1) : 0;
  return {
    seconds: round(secs, 2),
    groups,
    machinePct,
    /** Everything else on the machine (other processes, kernel threads): high values mean disturbed figures. */
    otherPct: Math.max(0, round(machinePct - pct(sum), 1)),
  };
}
export type CpuUse = ReturnType<typeof cpuBetween>;

/** % of one core of a group (0 when the group was not measured). */
export const cpuOf = (c: CpuUse, group: string) => c.groups[group]?.pct ?? 0;

/** A process at this share of one core is at its own limit (one event loop, one Redis thread). */
export const PROC_LIMIT_PCT = 85;

/**
 * What limited a window, as CPU figures can tell: a single-threaded process at its core, the machine
 * saturated, or nothing at a CPU limit (then the work waited: commits, locks, round trips).
 * `single` names the groups that run on one thread; `waiting` says what to suspect when nothing is at a limit.
 */
export function limitedBy(cpu: CpuUse, single: string[], waiting: string): string {
  const cap = CORES * 100;
  const saturated = cpu.machinePct >= 0.9 * cap;
  const shares = Object.entries(cpu.groups)
    .map(([k, v]) => `${k} ${v.pct}%`)
    .concat(`other ${cpu.otherPct}%`)
    .join(', ');
  const atLimit: string[] = [];
  for (const name of single) {
    const g = cpu.groups[name];
    if (!g) continue;
    const top = Math.max(0, ...g.perProcess);
    if (top >= PROC_LIMIT_PCT)
      atLimit.push(`${name} at ${top}% of a core${g.perProcess.length > 1 ? ' (busiest process)' : ''}`);
  }
  if (atLimit.length)
    return `${atLimit.join('; ')}${saturated ? `; machine saturated too (${cpu.machinePct}% of ${cap}: ${shares})` : ''}`;
  if (saturated)
    return `machine CPU saturated (${cpu.machinePct}% of ${cap}: ${shares}); no single process at its own limit`;
  return `nothing at a CPU limit (${cpu.machinePct}% of ${cap}: ${shares}); ${waiting}`;
}

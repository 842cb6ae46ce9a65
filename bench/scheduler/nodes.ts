/** The scheduler benchmark's two "nodes": child processes (bench/scheduler-node.ts) driven over IPC. */
import { fork } from 'node:child_process';
import { createInterface } from 'node:readline';
import type pg from 'pg';
import { type CpuSnapshot, cpuBetween, cpuSnapshot } from '../lib/machine.ts';
import { pgPids } from '../lib/postgres.ts';
import { track } from '../lib/processes.ts';
import { log, ROOT, round } from '../lib/util.ts';
import { type Mode, NODE_SCRIPT } from './settings.ts';

export interface NodeStats {
  cpuMicros: number;
  at: number;
  handled: number;
  counts: Record<string, { n: number; empty: number; ms: number }>;
  /** Per phase, each job's lateness (ms) when its effect was committed. */
  committed: Record<string, number[]>;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

export interface BenchNode {
  name: string;
  pid: number;
  problems: string[];
  /** monitor: sample event-loop delay until the next call (off while measuring idle CPU). */
  stats(monitor: boolean): Promise<NodeStats>;
  wake(): void;
  stop(): Promise<void>;
}

/** profDir: the node runs under --cpu-prof and writes its profile there when it exits. */
export function startNode(mode: Mode, name: string, url: string, profDir?: string): Promise<BenchNode> {
  const proc = track(
    fork(NODE_SCRIPT, [mode, name], {
      cwd: ROOT,
      env: { ...process.env, BENCH_NODE_DATABASE_URL: url },
      execArgv: [...process.execArgv, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    }),
  );
  const problems: string[] = [];
  const problem = (line: string) => {
    problems.push(line.slice(0, 500));
    if (problems.length <= 5) log(`[${name}] ${line.slice(0, 500)}`);
  };
  createInterface({ input: proc.stdout! }).on('line', problem); // the logger prints warnings and errors only
  createInterface({ input: proc.stderr! }).on('line', (l) => problem(`stderr: ${l}`));
  let nextId = 0;
  const waiting = new Map<number, (s: NodeStats) => void>();
  let stopped: (() => void) | undefined;
  let exited = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready within 30 s`)), 30_000);
    proc.once('exit', (code, signal) => {
      exited = true;
      clearTimeout(timer);
      stopped?.();
      for (const [, r] of waiting) r(undefined as never);
      if (!stopped) problem(`exited (${code ?? signal})`);
      reject(new Error(`${name} exited (${code ?? signal})`));
    });
    proc.on('message', (m: { type: string; id?: number } & NodeStats) => {
      if (m.type === 'ready') {
        clearTimeout(timer);
        resolve({
          name,
          pid: proc.pid!,
          problems,
          stats: (monitor: boolean) =>
            new Promise<NodeStats>((res, rej) => {
              if (exited) return rej(new Error(`${name} has exited`));
              const id = nextId++;
              const t = setTimeout(() => rej(new Error(`${name}: no stats within 10 s`)), 10_000);
              waiting.set(id, (s) => {
                clearTimeout(t);
                if (s) res(s);
                else rej(new Error(`${name} has exited`));
              });
              proc.send({ cmd: 'stats', id, monitor });
            }),
          wake: () => {
            if (!exited) proc.send({ cmd: 'wake' });
          },
          stop: () =>
            new Promise<void>((res) => {
              if (exited) return res();
              stopped = res;
              const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
              proc.once('exit', () => clearTimeout(t));
              proc.send({ cmd: 'stop' });
            }),
        });
      } else if (m.type === 'stats' && m.id !== undefined) {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
  });
}

export interface Snapshot {
  nodes: NodeStats[];
  cpu: CpuSnapshot;
}

export async function snapshot(nodes: BenchNode[], pids: number[], monitor = false): Promise<Snapshot> {
  const stats = await Promise.all(nodes.map((n) => n.stats(monitor)));
  return {
    nodes: stats,
    cpu: cpuSnapshot({ nodes: nodes.map((n) => n.pid), postgres: pids, loadGenerator: [process.pid] }),
  };
}

/** This database's PostgreSQL processes, read on the benchmark's own connection. */
export const dbPids = (c: pg.Client, db: string) => pgPids(db, c);

function diffCounts(a: NodeStats, b: NodeStats) {
  const out: Record<string, { n: number; empty: number; meanMs: number }> = {};
  for (const [k, v] of Object.entries(b.counts)) {
    const p = a.counts[k] ?? { n: 0, empty: 0, ms: 0 };
    if (v.n - p.n > 0)
      out[k] = { n: v.n - p.n, empty: v.empty - p.empty, meanMs: round((v.ms - p.ms) / (v.n - p.n), 2) };
  }
  return out;
}

/** CPU (% of one core) and queries between two snapshots. */
export function between(a: Snapshot, b: Snapshot) {
  const cpu = cpuBetween(a.cpu, b.cpu);
  const pct = (v: number) => round((100 * v) / cpu.seconds, 2);
  const nodes = a.nodes.map((s0, i) => {
    const s1 = b.nodes[i]!;
    return {
      cpuPct: pct((s1.cpuMicros - s0.cpuMicros) / 1e6),
      cpuPctProc: cpu.groups.nodes?.perProcess[i] ?? 0,
      handled: s1.handled - s0.handled,
      queries: diffCounts(s0, s1),
      loopDelayP99Ms: round(s1.loopDelayP99Ms, 1),
      loopDelayMaxMs: round(s1.loopDelayMaxMs, 1),
    };
  });
  return {
    seconds: cpu.seconds,
    nodes,
    postgresPct: cpu.groups.postgres?.pct ?? 0,
    benchPct: cpu.groups.loadGenerator?.pct ?? 0,
    machinePct: cpu.machinePct,
    otherPct: cpu.otherPct,
  };
}
export type Between = ReturnType<typeof between>;

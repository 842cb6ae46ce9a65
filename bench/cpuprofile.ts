import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Reads a V8 .cpuprofile (written by `node --cpu-prof`) and summarises the
 * samples taken inside a time window: where the server spent its CPU, by
 * function and by package. Timestamps in a profile are monotonic-clock
 * microseconds, the same clock as process.hrtime, so a window measured in the
 * benchmark process selects the matching samples of the server process.
 */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  samplesInWindow: number;
  /** Share of the window the process was busy (not idle), in %. */
  busyPct: number;
  /** Self time by package or area, % of busy samples. */
  byArea: { area: string; pct: number }[];
  /**
   * Self time charged to the nearest package or talkroom file on the stack, so
   * native work (a socket write, JSON) counts for whoever asked for it.
   */
  byCaller: { area: string; pct: number }[];
  /** Self time by function, % of busy samples. */
  byFunction: { fn: string; pct: number }[];
}

export function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const last = files[files.length - 1];
  return last ? join(dir, last) : undefined;
}

/** Microseconds on the monotonic clock, comparable with profile timestamps. */
export const monoMicros = (): number => Number(process.hrtime.bigint() / 1000n);

export function summariseProfile(file: string, fromUs: number, toUs: number, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const callerArea = (id: number): string => {
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)?.callFrame;
      if (!f?.url) continue;
      const area = areaOf(f.functionName, f.url);
      if (!area.startsWith('node:')) return area;
    }
    const f = byId.get(id)?.callFrame;
    return f ? areaOf(f.functionName, f.url) : '?';
  };
  const selfCount = new Map<number, number>();
  let t = p.startTime;
  let inWindow = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    inWindow++;
    const id = p.samples[i]!;
    selfCount.set(id, (selfCount.get(id) ?? 0) + 1);
  }
  const fnCounts = new Map<string, number>();
  const areaCounts = new Map<string, number>();
  const callerCounts = new Map<string, number>();
  let idle = 0;
  for (const [id, count] of selfCount) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += count;
      continue;
    }
    const area = areaOf(functionName, url);
    areaCounts.set(area, (areaCounts.get(area) ?? 0) + count);
    const caller = callerArea(id);
    callerCounts.set(caller, (callerCounts.get(caller) ?? 0) + count);
    const fn = `${functionName || '(anonymous)'} ${shortUrl(url)}${url ? `:${lineNumber + 1}` : ''}`;
    fnCounts.set(fn, (fnCounts.get(fn) ?? 0) + count);
  }
  const busy = inWindow - idle;
  const pct = (n: number) => (busy > 0 ? Math.round((1000 * n) / busy) / 10 : 0);
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return {
    file,
    samplesInWindow: inWindow,
    busyPct: inWindow > 0 ? Math.round((1000 * busy) / inWindow) / 10 : 0,
    byArea: sorted(areaCounts).map(([area, n]) => ({ area, pct: pct(n) })),
    byCaller: sorted(callerCounts).map(([area, n]) => ({ area, pct: pct(n) })),
    byFunction: sorted(fnCounts).map(([fn, n]) => ({ fn, pct: pct(n) })),
  };
}

function areaOf(functionName: string, url: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native/builtin)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? url);
  }
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const m = /\/(src|signaling|media)\/(.*)$/.exec(url);
  if (m) return `talkroom ${m[1]}/${m[2]}`;
  return url;
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const m = /\/((src|signaling|media|bench)\/.*)$/.exec(url);
  return m ? m[1]! : url;
}

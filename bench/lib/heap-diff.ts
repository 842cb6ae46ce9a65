/**
 * What a server allocated between two heap snapshots and still holds, grouped by kind, with what
 * holds it: `node bench/lib/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [per]`. The
 * snapshots are the probe's (BENCH_HEAP_SNAPSHOTS, bench/lib/heap-probe.ts) from one process, whose
 * object ids are stable across its snapshots: an object is new when its id was not in the first.
 * `per` (e.g. the number of sockets connected in between) divides the figures.
 *
 * A group is an object's constructor, a closure's function name, `(string)`, `(context)` — a
 * closure's captured variables — and so on; its retainers are the group and edge name of the
 * objects that point at its new members (weak edges left out).
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface Group {
  group: string;
  count: number;
  bytes: number;
  retainers: [string, number][];
}

const STRINGS = new Set(['string', 'concatenated string', 'sliced string']);

function read(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** The groups of what `after` holds that `before` did not, largest first. */
export function heapDiff(beforeFile: string, afterFile: string): Group[] {
  const before = read(beforeFile);
  const known = new Set<number>();
  {
    const f = before.snapshot.meta.node_fields;
    const idAt = f.indexOf('id');
    for (let i = 0; i < before.nodes.length; i += f.length) known.add(before.nodes[i + idAt]!);
  }
  const s = read(afterFile);
  const { node_fields: nf, node_types, edge_fields: ef, edge_types } = s.snapshot.meta;
  const [TYPE, NAME, ID, SIZE, EDGES] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((k) =>
    nf.indexOf(k),
  ) as [number, number, number, number, number];
  const [ETYPE, ENAME, ETO] = ['type', 'name_or_index', 'to_node'].map((k) => ef.indexOf(k)) as [
    number,
    number,
    number,
  ];
  const types = node_types[0];
  const edgeTypes = edge_types[0];
  const groupOf = (n: number): string => {
    const type = types[s.nodes[n + TYPE]!]!;
    const name = s.strings[s.nodes[n + NAME]!]!;
    if (STRINGS.has(type)) return '(string)';
    if (type === 'object') return name;
    if (type === 'closure') return `closure ${name || '(anonymous)'}`;
    if (type === 'hidden' && name === 'system / Context') return '(context)';
    if (type === 'code' || type === 'number') return `(${type})`;
    return `${type} ${name}`;
  };
  const groups = new Map<string, Group>();
  const fresh = new Map<number, Group>();
  for (let n = 0; n < s.nodes.length; n += nf.length) {
    if (known.has(s.nodes[n + ID]!)) continue;
    const key = groupOf(n);
    const g = groups.get(key) ?? { group: key, count: 0, bytes: 0, retainers: [] };
    groups.set(key, g);
    g.count++;
    g.bytes += s.nodes[n + SIZE]!;
    fresh.set(n, g);
  }
  const held = new Map<Group, Map<string, number>>();
  let e = 0;
  for (let n = 0; n < s.nodes.length; n += nf.length) {
    const from = groupOf(n);
    for (let k = s.nodes[n + EDGES]!; k > 0; k--, e += ef.length) {
      const etype = edgeTypes[s.edges[e + ETYPE]!]!;
      if (etype === 'weak') continue;
      const g = fresh.get(s.edges[e + ETO]!);
      if (!g) continue;
      const raw = s.edges[e + ENAME]!;
      const edge = etype === 'element' || etype === 'hidden' ? `[]` : `.${s.strings[raw]}`;
      const key = `${from}${edge}`;
      const m = held.get(g) ?? new Map<string, number>();
      held.set(g, m);
      m.set(key, (m.get(key) ?? 0) + 1);
    }
  }
  for (const [g, m] of held) g.retainers = [...m].sort((a, b) => b[1] - a[1]).slice(0, 3);
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes);
}

if (import.meta.main) {
  const [beforeFile, afterFile, perArg] = process.argv.slice(2);
  if (!beforeFile || !afterFile) {
    process.stderr.write('usage: node bench/lib/heap-diff.ts <before> <after> [per]\n');
    process.exit(2);
  }
  const per = Number(perArg ?? 1) || 1;
  const groups = heapDiff(beforeFile, afterFile);
  const total = groups.reduce((t, g) => t + g.bytes, 0);
  const out = [`new and still held: ${Math.round(total / per)} B per ${per > 1 ? `one of ${per}` : 'run'}`];
  out.push('B/per  count/per  group  ← held by (edges)');
  for (const g of groups.slice(0, 30)) {
    const by = g.retainers.map(([k, c]) => `${k} ×${Math.round((c / per) * 100) / 100}`).join(', ');
    out.push(
      `${String(Math.round(g.bytes / per)).padStart(5)}  ${String(Math.round((g.count / per) * 100) / 100).padStart(8)}  ${g.group}  ← ${by}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The plain-text tables and goal lines every benchmark prints. */

export const cell = (v: unknown) =>
  v === undefined || v === null || (typeof v === 'number' && Number.isNaN(v)) ? '–' : String(v);

export const fmtInt = (v: number | undefined) =>
  v === undefined ? undefined : Math.round(v).toLocaleString('en-US');

/** Left-aligned first column, right-aligned figures. */
export function renderTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)];
}

/** A table with one column per result (a target, a node count, a mode) and one row per figure. */
export class Columns<R> {
  readonly rows: string[][] = [];
  readonly #results: R[];
  constructor(results: R[]) {
    this.#results = results;
  }
  section(label: string): void {
    this.rows.push([label, ...this.#results.map(() => '')]);
  }
  row(label: string, f: (r: R) => unknown): void {
    this.rows.push([label, ...this.#results.map((r) => cell(f(r)))]);
  }
  render(columnNames: string[]): string[] {
    return renderTable(['', ...columnNames], this.rows);
  }
}

/** One row of issue 14's goals as a benchmark measured it: goal, figure, ratio, verdict. */
export interface Goal {
  id: string;
  metric: string;
  goal: string;
  figure: string;
  ratio?: number | undefined;
  pass: boolean | undefined;
  /** What limited it, or why it is not met. */
  limit?: string | undefined;
}

export const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? 'MET' : 'NOT MET');

export function goalLines(goals: Goal[], busy = true): string[] {
  const out = [
    `goals (issue 14)${busy ? ', measured on a busy machine: rerun on a quiet one for the record' : ''}`,
  ];
  for (const g of goals) {
    out.push(
      `  ${g.id.padEnd(4)} ${g.metric}: ${g.figure}${g.ratio === undefined ? '' : ` → ${g.ratio}`} (goal ${g.goal}): ${verdict(g.pass)}`,
    );
    if (g.limit) out.push(`       limited by: ${g.limit}`);
  }
  return out;
}

/** How one target's run ended: every result has these. */
export interface Outcome {
  ok: boolean;
  error?: string;
  unexpectedDisconnects?: Record<string, number>;
  serverProblems?: { count: number; samples: string[] };
}

/** Failures, server warnings and unexpected disconnects of one result, under the table. */
export function problemLines(name: string, r: Outcome): string[] {
  const out: string[] = [];
  if (!r.ok) out.push('', `${name}: FAILED: ${r.error ?? '?'}`);
  if (r.serverProblems?.count) {
    out.push('', `${name}: server logged ${r.serverProblems.count} warnings/errors, e.g.:`);
    for (const s of r.serverProblems.samples.slice(0, 3)) out.push(`  ${s}`);
  }
  if (r.unexpectedDisconnects && Object.keys(r.unexpectedDisconnects).length)
    out.push(`${name}: unexpected socket disconnects: ${JSON.stringify(r.unexpectedDisconnects)}`);
  return out;
}

/** talkroom's /metrics and /healthz as a benchmark reads them: server-side figures beside the client-side ones. */
import { now, round } from './util.ts';

export type Metrics = Map<string, number>;

export async function scrape(url: string): Promise<Metrics> {
  const m: Metrics = new Map();
  try {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    for (const line of (await res.text()).split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  } catch {
    // metrics are a diagnostic; a missing scrape leaves the fields empty
  }
  return m;
}

const sumOf = (m: Metrics, prefix: string) =>
  [...m].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

/** talkroom_socket_requests_total summed by event (a join's requests, counted by the server). */
export function requestsByEvent(m: Metrics): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of m) {
    if (!k.startsWith('talkroom_socket_requests_total{')) continue;
    const event = /event="([^"]+)"/.exec(k)?.[1] ?? '?';
    out.set(event, (out.get(event) ?? 0) + v);
  }
  return out;
}

/** What grew between two counts. */
export function countsDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of after) {
    const d = n - (before.get(k) ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

/** What the server saw between two scrapes (the event-loop histogram resets on each scrape). */
export function serverMetricsBetween(a: Metrics, b: Metrics, seconds: number) {
  if (a.size === 0 || b.size === 0) return undefined;
  const d = (k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const gc = sumOf(b, 'nodejs_gc_duration_seconds_sum') - sumOf(a, 'nodejs_gc_duration_seconds_sum');
  const count = d('talkroom_message_append_seconds_count');
  const buckets = [...b]
    .filter(([k]) => k.startsWith('talkroom_message_append_seconds_bucket'))
    .map(([k, v]) => ({ le: Number(/le="([^"]+)"/.exec(k)?.[1] ?? 'NaN'), n: v - (a.get(k) ?? 0) }))
    .sort((x, y) => x.le - y.le);
  const bucketQuantile = (q: number) => {
    const hit = buckets.find((x) => x.n >= q * count);
    return hit ? (Number.isFinite(hit.le) ? `≤ ${hit.le * 1000} ms` : '> 1000 ms') : undefined;
  };
  const outcomes: Record<string, number> = {};
  for (const [k, v] of b) {
    if (!k.startsWith('talkroom_socket_requests_total')) continue;
    const n = v - (a.get(k) ?? 0);
    const outcome = /outcome="([^"]+)"/.exec(k)?.[1] ?? '?';
    if (n > 0) outcomes[outcome] = (outcomes[outcome] ?? 0) + n;
  }
  return {
    gcPctOfWallTime: round((100 * gc) / seconds, 1),
    heapUsedMb: round((b.get('nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20, 0),
    storeAppendMs: {
      mean: count > 0 ? round((1000 * d('talkroom_message_append_seconds_sum')) / count, 2) : undefined,
      p50: bucketQuantile(0.5),
      p99: bucketQuantile(0.99),
    },
    socketRequests: outcomes,
  };
}

/** Event-loop delay in ms (monitorEventLoopDelay, 10 ms resolution: ~10 ms means no delay). */
export interface LagSummary {
  /** Median over one-second polls of the p99. */
  p99Median: number | undefined;
  p99Worst: number | undefined;
  maxWorst: number | undefined;
  /** Slowest /metrics answer: a direct view of how long a request queued on the server. */
  metricsScrapeMsWorst: number | undefined;
  /** /metrics requests not answered within 10 s: the event loop was blocked for that long. */
  metricsScrapeTimeouts: number;
  /** Slowest /healthz answer (what a load balancer's health check waits), and those not answered in 10 s. */
  healthzMsWorst?: number | undefined;
  healthzTimeouts?: number;
}

async function timedHealthz(url: string): Promise<number | undefined> {
  const t = now();
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    return now() - t;
  } catch {
    return undefined;
  }
}

/**
 * Polls the server's /metrics and /healthz once a second: the event-loop delay (its histogram
 * restarts at every scrape, so each poll covers the second before) and how long each took to answer.
 */
export class LagPoller {
  readonly #url: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  #busy = false;
  p99: number[] = [];
  max: number[] = [];
  scrapeMs: number[] = [];
  healthzMs: number[] = [];
  timeouts = 0;
  healthzTimeouts = 0;
  constructor(url: string | undefined) {
    this.#url = url;
  }
  start(): void {
    const url = this.#url;
    if (!url) return;
    // One scrape at a time: back-to-back scrapes would read a just-reset histogram.
    const poll = (record: boolean) => {
      if (this.#busy) return;
      this.#busy = true;
      this.#inFlight = (async () => {
        const t = now();
        const [m, h] = await Promise.all([scrape(url), record ? timedHealthz(url) : undefined]);
        if (!record) return;
        if (h === undefined) this.healthzTimeouts++;
        else this.healthzMs.push(h);
        if (m.size === 0) {
          this.timeouts++;
          return;
        }
        this.scrapeMs.push(now() - t);
        // Under 1 ms means no real sample since the last scrape (the 10 ms timer did not run in between).
        const p99 = m.get('nodejs_eventloop_lag_p99_seconds') ?? 0;
        if (p99 >= 0.001) this.p99.push(p99 * 1000);
        const max = m.get('nodejs_eventloop_lag_max_seconds') ?? 0;
        if (max >= 0.001) this.max.push(max * 1000);
      })().finally(() => {
        this.#busy = false;
      });
    };
    poll(false); // restarts the histogram
    this.#timer = setInterval(() => poll(true), 1000);
  }
  async stop(): Promise<LagSummary | undefined> {
    clearInterval(this.#timer);
    await this.#inFlight;
    if (this.scrapeMs.length === 0 && this.timeouts === 0) return undefined;
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const worst = (v: number[]) => (v.length ? round(Math.max(...v), 1) : undefined);
    const mid = median(this.p99);
    return {
      p99Median: mid === undefined ? undefined : round(mid, 1),
      p99Worst: worst(this.p99),
      maxWorst: worst(this.max),
      metricsScrapeMsWorst: worst(this.scrapeMs),
      metricsScrapeTimeouts: this.timeouts,
      healthzMsWorst: worst(this.healthzMs),
      healthzTimeouts: this.healthzTimeouts,
    };
  }
}

export const fmtLag = (l: LagSummary | undefined) =>
  l &&
  (l.p99Median === undefined
    ? l.metricsScrapeTimeouts
      ? `no answer (${l.metricsScrapeTimeouts} × 10 s)`
      : 'no sample'
    : `${l.p99Median} (worst ${l.p99Worst})`);

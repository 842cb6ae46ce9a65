/**
 * Part 1 of bench/live.ts: join latency against a real talkroom process
 * (`node src/main.ts`, one media worker, embedded store), provisioned through
 * the admin REST API: a client and a provider working around the clock in UTC,
 * their room, a video session booked by the client for the next slot and
 * confirmed by the provider (joinable now: POLICY_JOIN_OPENS=24h).
 *
 * The provider joins first and sends audio and video; the client then joins.
 * Measured from the moment the client emits `live:join`. Then the client
 * leaves (`live:leave`) and joins again, BENCH_JOIN_REPS times. Two routes:
 *
 *  - browser (preferred): two headless Chromium pages running the reference
 *    web client (web/client.ts, through test/helpers/browser.ts: fake camera
 *    and microphone, real WebRTC, ICE and DTLS). An init script in each page
 *    wraps WebSocket (every Socket.IO frame, timestamped) and
 *    RTCPeerConnection (getStats() every 10 ms: the first inbound-rtp packet
 *    of an SSRC that is new since the join began). Leave and rejoin are the
 *    page's own buttons (Rejoin reloads the page). End point: the first RTP
 *    packet each side receives from the other.
 *  - node (fallback, when the browser route does not work): two socket.io
 *    clients in this process send exactly the requests the reference client
 *    sends, in its order (web/client.ts setupMedia and consume), with
 *    WebRTC-shaped rtpParameters and a syntactically valid DTLS fingerprint.
 *    The signaling is real end to end; no media flows (no ICE/DTLS peer), so
 *    the end point is the other side's `live:resume` answer, after which the
 *    SFU forwards the next packet. The media part is then measured at the
 *    media layer with PlainTransports (bench/live-forward.ts).
 *
 * Both routes feed the same analysis: which requests lie on the path to each
 * first packet (one request waits for the previous one's answer), each one's
 * round trip, and how many requests one join costs (cross-checked with the
 * server's talkroom_socket_requests_total by event).
 *
 * Join links need the server's join-token key, kept in its database: the
 * bench writes that key into the fresh DATA_DIR before the server starts (the
 * server keeps an existing key), so it can sign the links itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import jwt from 'jsonwebtoken';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { mintToken } from '../src/auth/tokens.ts';
import { openStore } from '../src/store/index.ts';
import { type BrowserParticipant, launchBrowser, type TestBrowser } from '../test/helpers/browser.ts';
import { freePortBase } from '../test/media/helpers.ts';
import {
  cleanups,
  HOST,
  log,
  median,
  now,
  num,
  round,
  type Spread,
  sleep,
  spread,
  track,
} from './live-common.ts';

export const JOIN_REPS = Math.round(num('BENCH_JOIN_REPS', 10, 1, 50));
const ROUTE = (process.env.BENCH_JOIN_ROUTE ?? 'auto') as 'auto' | 'browser' | 'node';
const MEDIA_TIMEOUT_MS = 20_000;
const POLL_MS = 10;
const clock = () => performance.timeOrigin + performance.now();

type Kind = 'audio' | 'video';
const KINDS: Kind[] = ['audio', 'video'];

// ---------------------------------------------------------------- requests as seen by one side

interface Request {
  event: string;
  sentAt: number;
  ackAt: number | undefined;
  /** JSON text (maybe cut short in the browser route): fields are read with a regex. */
  payload: string;
  answer: string | undefined;
}

interface Push {
  event: string;
  at: number;
  payload: string;
}

interface SideLog {
  requests: Request[];
  pushes: Push[];
}

const field = (text: string | undefined, name: string) =>
  text ? new RegExp(`"${name}":"([^"]+)"`).exec(text)?.[1] : undefined;

function label(r: Request): string {
  if (r.event === 'live:transport') return `${r.event}(${field(r.payload, 'direction') ?? '?'})`;
  if (r.event === 'live:produce') return `${r.event}(${field(r.payload, 'kind') ?? '?'})`;
  if (r.event === 'live:consume') return `${r.event}(${field(r.answer, 'kind') ?? '?'})`;
  return r.event;
}

export interface PathStep {
  /** The request, or '⇢ event' for a push the server sent. */
  step: string;
  side: 'joiner' | 'other';
  /** When it was sent (or received, for a push), ms after the joiner's live:join. */
  atMs: number;
  /** Round trip as its sender saw it (0 for a push). */
  rttMs: number;
}

/**
 * The longest chain of requests, each sent only after the previous one was
 * answered, from `first` to `last` among `candidates`: the round trips that
 * one had to wait for in turn (requests in flight side by side count once).
 */
function longestChain(candidates: Request[], first: Request, last: Request): Request[] {
  const rs = candidates
    .filter((r) => r.sentAt >= first.sentAt && r.sentAt <= last.sentAt && r.ackAt !== undefined)
    .sort((a, b) => a.sentAt - b.sentAt);
  const best = new Map<Request, { len: number; prev: Request | undefined }>();
  for (const r of rs) {
    if (r === first) {
      best.set(r, { len: 1, prev: undefined });
      continue;
    }
    let top: { len: number; prev: Request | undefined } | undefined;
    for (const [q, b] of best) {
      if (q.ackAt! <= r.sentAt && (!top || b.len + 1 > top.len)) top = { len: b.len + 1, prev: q };
    }
    if (top) best.set(r, top);
  }
  const chain: Request[] = [];
  for (let r: Request | undefined = last; r; r = best.get(r)?.prev) chain.unshift(r);
  return chain[0] === first ? chain : [last];
}

/**
 * The requests each first packet waits for. With the reference client
 * (web/client.ts): on joining, recv transport, then send transport, then per
 * track produce (the first produce connects the send transport first); on a
 * live:producer, consume, then (first consume only) connect the recv
 * transport, then resume. The path to the other party runs through the
 * joiner's sending requests, the server's live:producer push, and the other
 * side's receiving requests; the path to the joiner through its own join,
 * recv transport and receiving requests.
 */
function analyse(joiner: SideLog, other: SideLog, t0: number, kind: Kind) {
  const rel = (t: number) => round(t - t0, 1);
  const jr = joiner.requests.filter((r) => r.sentAt >= t0);
  const joinReq = jr.find((r) => r.event === 'live:join');
  const recvTransport = jr.find(
    (r) => r.event === 'live:transport' && field(r.payload, 'direction') === 'recv',
  );
  const recvId = field(recvTransport?.answer, 'id');
  const step = (r: Request, side: 'joiner' | 'other'): PathStep => ({
    step:
      r.event === 'live:connect'
        ? `live:connect(${side === 'other' || field(r.payload, 'transportId') === recvId ? 'recv' : 'send'})`
        : label(r),
    side,
    atMs: rel(r.sentAt),
    rttMs: r.ackAt === undefined ? Number.NaN : round(r.ackAt - r.sentAt, 1),
  });
  const receiving = (r: Request, recv: string | undefined) =>
    r.event === 'live:consume' ||
    r.event === 'live:resume' ||
    (r.event === 'live:connect' && field(r.payload, 'transportId') === recv);

  // Joiner → other party.
  const produce = jr.find((r) => r.event === 'live:produce' && field(r.payload, 'kind') === kind);
  let toOther: PathStep[] | undefined;
  let otherReadyAt: number | undefined;
  if (produce && joinReq) {
    const sending = longestChain(
      jr.filter((r) => !receiving(r, recvId)),
      joinReq,
      produce,
    );
    const producerId = field(produce.answer, 'producerId');
    const push = other.pushes.find(
      (p) => p.event === 'live:producer' && p.at >= t0 && field(p.payload, 'producerId') === producerId,
    );
    const consume = other.requests.find(
      (r) => r.event === 'live:consume' && field(r.payload, 'producerId') === producerId,
    );
    const consumerId = field(consume?.answer, 'consumerId');
    const resume = other.requests.find(
      (r) => r.event === 'live:resume' && field(r.payload, 'consumerId') === consumerId,
    );
    const receivingChain =
      consume && resume
        ? longestChain(
            other.requests.filter((r) => r === consume || r === resume || r.event === 'live:connect'),
            consume,
            resume,
          )
        : [consume, resume].filter((r): r is Request => !!r);
    otherReadyAt = resume?.ackAt;
    toOther = [
      ...sending.map((r) => step(r, 'joiner')),
      ...(push ? [{ step: '⇢ live:producer', side: 'other' as const, atMs: rel(push.at), rttMs: 0 }] : []),
      ...receivingChain.map((r) => step(r, 'other')),
    ];
  }

  // Other party → joiner.
  const consume = jr.find((r) => r.event === 'live:consume' && field(r.answer, 'kind') === kind);
  let toJoiner: PathStep[] | undefined;
  let joinerReadyAt: number | undefined;
  if (consume && joinReq) {
    const consumerId = field(consume.answer, 'consumerId');
    const resume = jr.find((r) => r.event === 'live:resume' && field(r.payload, 'consumerId') === consumerId);
    if (resume) {
      joinerReadyAt = resume.ackAt;
      // The recv transport's connect (sent after the first consume's answer) counts where this resume waited for it.
      const connect = jr.find(
        (r) => r.event === 'live:connect' && field(r.payload, 'transportId') === recvId,
      );
      const waited = connect?.ackAt !== undefined && connect.ackAt <= resume.sentAt;
      const trigger = connect
        ? jr
            .filter((r) => r.event === 'live:consume' && r.ackAt !== undefined && r.ackAt <= connect.sentAt)
            .at(-1)
        : undefined;
      const candidates = [joinReq, recvTransport, consume, resume, ...(waited ? [connect, trigger] : [])];
      const chain = longestChain(
        candidates.filter((r): r is Request => !!r),
        joinReq,
        resume,
      );
      toJoiner = chain.map((r) => step(r, 'joiner'));
    }
  }
  return {
    toOther,
    toJoiner,
    otherReadyMs: otherReadyAt === undefined ? undefined : rel(otherReadyAt),
    joinerReadyMs: joinerReadyAt === undefined ? undefined : rel(joinerReadyAt),
  };
}

const countBy = (requests: Request[]) => {
  const out: Record<string, number> = {};
  for (const r of requests) out[r.event] = (out[r.event] ?? 0) + 1;
  return out;
};

export interface JoinSample {
  /** Browser route: live:join → first RTP packet, ms. */
  otherFirstPacketMs: Partial<Record<Kind, number>>;
  joinerFirstPacketMs: Partial<Record<Kind, number>>;
  /** live:join → the receiving side's live:resume answered (signaling done for that stream), ms. */
  otherReadyMs: Partial<Record<Kind, number>>;
  joinerReadyMs: Partial<Record<Kind, number>>;
  pathToOther: Partial<Record<Kind, PathStep[]>>;
  pathToJoiner: Partial<Record<Kind, PathStep[]>>;
  /** Requests each side sent from live:join until both were done, by event. */
  joinerRequests: Record<string, number>;
  otherRequests: Record<string, number>;
  /** talkroom_socket_requests_total deltas over the join (both sides). */
  serverRequests: Record<string, number>;
  /** Before live:join: page load, GET /v1/join and socket connect (browser), or socket connect (node), ms. */
  beforeJoinMs: number | undefined;
}

function sampleFrom(joiner: SideLog, other: SideLog, t0: number, until: number): JoinSample {
  const s: JoinSample = {
    otherFirstPacketMs: {},
    joinerFirstPacketMs: {},
    otherReadyMs: {},
    joinerReadyMs: {},
    pathToOther: {},
    pathToJoiner: {},
    joinerRequests: countBy(joiner.requests.filter((r) => r.sentAt >= t0 && r.sentAt <= until)),
    otherRequests: countBy(other.requests.filter((r) => r.sentAt >= t0 && r.sentAt <= until)),
    serverRequests: {},
    beforeJoinMs: undefined,
  };
  for (const kind of KINDS) {
    const a = analyse(joiner, other, t0, kind);
    if (a.toOther) s.pathToOther[kind] = a.toOther;
    if (a.toJoiner) s.pathToJoiner[kind] = a.toJoiner;
    if (a.otherReadyMs !== undefined) s.otherReadyMs[kind] = a.otherReadyMs;
    if (a.joinerReadyMs !== undefined) s.joinerReadyMs[kind] = a.joinerReadyMs;
  }
  return s;
}

// ---------------------------------------------------------------- the server

interface ServerProc {
  proc: ChildProcess;
  pid: number;
  url: string;
  problems: string[];
  /** 'media worker died' lines: the SFU process crashed (the pool replaces it). */
  workerDeaths: string[];
  exited: boolean;
}

function spawnServer(env: Record<string, string>): Promise<ServerProc> {
  const proc = track(
    spawn(process.execPath, ['src/main.ts'], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const s: ServerProc = { proc, pid: proc.pid ?? -1, url: '', problems: [], workerDeaths: [], exited: false };
  const stderr: string[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('talkroom did not start listening within 60 s')), 60_000);
    proc.once('exit', (code, signal) => {
      s.exited = true;
      clearTimeout(timer);
      reject(
        new Error(`talkroom exited (${code ?? signal}) before listening: ${stderr.slice(-10).join('\n')}`),
      );
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      let rec: { msg?: string; port?: number; level?: number; err?: { message?: string } } | undefined;
      try {
        rec = JSON.parse(line);
      } catch {
        return;
      }
      if (!s.url && rec?.msg === 'talkroom listening' && typeof rec.port === 'number') {
        s.url = `http://${HOST}:${rec.port}`;
        clearTimeout(timer);
        resolve(s);
      }
      if (rec?.msg === 'media worker died') s.workerDeaths.push(`${rec.msg}: ${rec.err?.message ?? '?'}`);
      if (typeof rec?.level === 'number' && rec.level >= 40 && s.problems.length < 30)
        s.problems.push(line.slice(0, 400));
    });
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (s.problems.length < 30) s.problems.push(`stderr: ${line.slice(0, 400)}`);
    });
  });
}

async function stopServer(s: ServerProc): Promise<void> {
  if (s.exited || s.proc.exitCode !== null) return;
  const exited = new Promise<void>((r) => s.proc.once('exit', () => r()));
  s.proc.kill('SIGTERM');
  const t = setTimeout(() => s.proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(t);
}

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

async function scrapeRequests(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith('talkroom_socket_requests_total{')) continue;
      const event = /event="([^"]+)"/.exec(line)?.[1] ?? '?';
      out.set(event, (out.get(event) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
  } catch {
    // a diagnostic only
  }
  return out;
}

function metricsDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [event, n] of after) {
    const d = n - (before.get(event) ?? 0);
    if (d > 0) out[event] = d;
  }
  return out;
}

interface Setup {
  srv: ServerProc;
  bookingId: string;
  clientId: string;
  providerId: string;
  clientJwt: string;
  providerJwt: string;
  /** The join link of a participant (a path on the server, with the signed join token). */
  link: (userId: string) => string;
  joinToken: (userId: string) => string;
}

// ---------------------------------------------------------------- browser route

/** Runs in every page before its scripts. Records Socket.IO frames and the first inbound RTP packet per kind. */
export const PAGE_PROBE = `(() => {
  if (window.__bench) return;
  const clock = () => performance.timeOrigin + performance.now();
  const b = { frames: [], pcs: [], first: {}, known: new Set() };
  window.__bench = b;
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (ev) => {
        if (typeof ev.data === 'string' && ev.data[0] === '4') b.frames.push(['in', clock(), ev.data.slice(0, 700)]);
      });
    }
    send(data) {
      if (typeof data === 'string' && data[0] === '4') b.frames.push(['out', clock(), data.slice(0, 700)]);
      return super.send(data);
    }
  };
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) { super(...args); b.pcs.push(this); }
  };
  const inbound = async (fn) => {
    for (const pc of b.pcs) {
      if (pc.signalingState === 'closed') continue;
      let report;
      try { report = await pc.getStats(); } catch { continue; }
      const t = clock();
      report.forEach((s) => { if (s.type === 'inbound-rtp') fn(s, t); });
    }
  };
  let busy = false;
  setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      await inbound((s, t) => {
        const key = String(s.ssrc);
        if (!(s.packetsReceived > 0) || b.known.has(key) || b.first[s.kind]) return;
        b.first[s.kind] = { t, packets: s.packetsReceived };
      });
    } finally {
      busy = false;
    }
  }, ${POLL_MS});
  // Forget what flows now: the next first packets are those of streams that start after this.
  b.arm = async () => {
    await inbound((s) => b.known.add(String(s.ssrc)));
    b.first = {};
    return b.frames.length;
  };
})();`;

type Frame = ['in' | 'out', number, string];
interface Probe {
  frames: Frame[];
  first: Partial<Record<Kind, { t: number; packets: number }>>;
}

const readProbe = (p: BrowserParticipant, from = 0) =>
  p.page.evaluate(
    `(() => { const b = window.__bench; return b ? { frames: b.frames.slice(${from}), first: b.first } : { frames: [], first: {} }; })()`,
  ) as Promise<Probe>;

/** Socket.IO v4 over engine.io: '42<id>["event",…]' is a request, '43<id>[…]' its answer, '42["event",…]' a push. */
export function parseFrames(frames: Frame[]): SideLog {
  const requests: Request[] = [];
  const byId = new Map<string, Request>();
  const pushes: Push[] = [];
  for (const [dir, t, data] of frames) {
    const m = /^4([23])(\d*)([\s\S]*)$/.exec(data);
    if (!m) continue;
    const type = m[1]!;
    const id = m[2]!;
    const rest = m[3]!;
    const event = /^\["([^"]+)"/.exec(rest)?.[1];
    if (dir === 'out' && type === '2' && event) {
      const r: Request = { event, sentAt: t, ackAt: undefined, payload: rest, answer: undefined };
      requests.push(r);
      if (id) byId.set(id, r);
    } else if (dir === 'in' && type === '3') {
      const r = byId.get(id);
      if (r) {
        r.ackAt = t;
        r.answer = rest;
      }
    } else if (dir === 'in' && type === '2' && event) {
      pushes.push({ event, at: t, payload: rest });
    }
  }
  return { requests, pushes };
}

class WorkerDied extends Error {}

async function browserRoute(setup: Setup, result: JoinResult): Promise<void> {
  const { srv } = setup;
  const deathsBefore = srv.workerDeaths.length;
  const check = () => {
    if (srv.workerDeaths.length > deathsBefore)
      throw new WorkerDied(`the media worker died: ${srv.workerDeaths.at(-1)}`);
  };
  let browser: TestBrowser | undefined;
  try {
    browser = await launchBrowser();
    result.chromium = browser.browser.version();
    const provider = await browser.participant('provider');
    const client = await browser.participant('client');
    for (const p of [provider, client]) await p.context.addInitScript({ content: PAGE_PROBE });

    await provider.open(setup.link(setup.providerId), setup.providerJwt);
    const deadline0 = now() + MEDIA_TIMEOUT_MS;
    for (;;) {
      await sleep(100);
      check();
      const st = await provider.stats();
      if (st.outboundAudioPackets > 0 && st.outboundVideoPackets > 0) break;
      if (now() > deadline0) throw new Error('the provider page did not start sending within 20 s');
    }
    log('[join/browser] provider waiting and sending; the client joins');

    for (let rep = 0; rep <= JOIN_REPS; rep++) {
      if (rep > 0) {
        await client.page.locator('#leave').click();
        await client.waitForPhase('left', 10_000);
        await provider.waitForState(
          (s) => s.participants.length === 1 && s.consumers.length === 0,
          'the client gone',
          10_000,
        );
        await sleep(300);
      }
      const mark = (await provider.page.evaluate('window.__bench.arm()')) as number;
      const before = await scrapeRequests(srv.url);
      const openedAt = clock();
      if (rep === 0) await client.open(setup.link(setup.clientId), setup.clientJwt);
      else await client.page.locator('#rejoin').click();
      const deadline = now() + MEDIA_TIMEOUT_MS;
      let cp: Probe;
      let pp: Probe;
      for (;;) {
        await sleep(50);
        check();
        cp = await readProbe(client).catch(() => ({ frames: [], first: {} }) as Probe);
        pp = await readProbe(provider, mark);
        if (cp.first.audio && cp.first.video && pp.first.audio && pp.first.video) break;
        if (now() > deadline) {
          throw new Error(
            `rep ${rep}: media did not flow both ways within ${MEDIA_TIMEOUT_MS} ms (client got ${JSON.stringify(cp.first)}, provider got ${JSON.stringify(pp.first)})\n${client.logs.slice(-10).join('\n')}`,
          );
        }
      }
      await sleep(200); // the server counts a request once its answer is sent
      const after = await scrapeRequests(srv.url);
      const joiner = parseFrames(cp.frames);
      const other = parseFrames(pp.frames);
      const joinReq = joiner.requests.find((r) => r.event === 'live:join');
      if (!joinReq) throw new Error(`rep ${rep}: no live:join frame seen in the client page`);
      const t0 = joinReq.sentAt;
      const firsts = [cp.first.audio!, cp.first.video!, pp.first.audio!, pp.first.video!];
      const sample = sampleFrom(joiner, other, t0, Math.max(...firsts.map((f) => f.t)));
      for (const kind of KINDS) {
        sample.otherFirstPacketMs[kind] = round(pp.first[kind]!.t - t0, 1);
        sample.joinerFirstPacketMs[kind] = round(cp.first[kind]!.t - t0, 1);
      }
      sample.serverRequests = metricsDelta(before, after);
      sample.beforeJoinMs = round(t0 - openedAt, 0);
      if (rep === 0) result.first = sample;
      else result.samples.push(sample);
      log(
        `[join/browser] ${rep === 0 ? 'first join' : `rejoin ${rep}`}: other party's first audio ${sample.otherFirstPacketMs.audio} ms, video ${sample.otherFirstPacketMs.video} ms; joiner's first audio ${sample.joinerFirstPacketMs.audio} ms, video ${sample.joinerFirstPacketMs.video} ms`,
      );
    }
  } finally {
    await browser?.close().catch(() => {});
  }
}

// ---------------------------------------------------------------- node route

/** A participant's socket, recording its requests and the pushes it gets, as the page probe does. */
class SigClient {
  readonly log: SideLog = { requests: [], pushes: [] };
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    socket.onAny((event: string, payload: unknown) => {
      this.log.pushes.push({ event, at: clock(), payload: JSON.stringify(payload ?? null) });
    });
  }

  static connect(url: string, token: string): Promise<SigClient> {
    return new Promise((resolve, reject) => {
      const s = connectSocket(url, {
        auth: { token },
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        timeout: 10_000,
      });
      s.once('connect', () => resolve(new SigClient(s)));
      s.once('connect_error', (e) => {
        s.close();
        reject(new Error(`socket connect failed: ${e.message}`));
      });
    });
  }

  request<T = any>(event: string, payload: unknown): Promise<T> {
    const r: Request = {
      event,
      sentAt: clock(),
      ackAt: undefined,
      payload: JSON.stringify([event, payload]),
      answer: undefined,
    };
    this.log.requests.push(r);
    return new Promise((resolve, reject) => {
      this.socket
        .timeout(15_000)
        .emit(
          event,
          payload,
          (err: Error | null, ack: { ok: boolean; data?: T; error?: { code: string; message: string } }) => {
            r.ackAt = clock();
            if (err) return reject(new Error(`${event}: no answer`));
            r.answer = JSON.stringify(ack);
            if (ack?.ok) resolve(ack.data as T);
            else reject(new Error(`${event}: ${ack?.error?.code}: ${ack?.error?.message}`));
          },
        );
    });
  }

  close(): void {
    this.socket.disconnect();
  }
}

const fakeDtls = () => ({
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
    },
  ],
});

const rtpExtensions = [
  { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 },
  { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2 },
  { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3 },
];

/** What mediasoup-client sends for Chrome's opus and VP8 (+RTX) tracks. */
function webrtcParameters(kind: Kind) {
  const ssrc = 100_000 + Math.floor(Math.random() * 1e9);
  const rtcp = { cname: randomBytes(6).toString('hex'), reducedSize: true };
  if (kind === 'audio') {
    return {
      mid: '0',
      codecs: [
        {
          mimeType: 'audio/opus',
          payloadType: 111,
          clockRate: 48000,
          channels: 2,
          parameters: { minptime: 10, useinbandfec: 1 },
          rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
        },
      ],
      headerExtensions: [...rtpExtensions, { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }],
      encodings: [{ ssrc, dtx: false }],
      rtcp,
    };
  }
  return {
    mid: '1',
    codecs: [
      {
        mimeType: 'video/VP8',
        payloadType: 96,
        clockRate: 90000,
        parameters: {},
        rtcpFeedback: [
          { type: 'goog-remb', parameter: '' },
          { type: 'transport-cc', parameter: '' },
          { type: 'ccm', parameter: 'fir' },
          { type: 'nack', parameter: '' },
          { type: 'nack', parameter: 'pli' },
        ],
      },
      { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 }, rtcpFeedback: [] },
    ],
    headerExtensions: [...rtpExtensions, { uri: 'urn:3gpp:video-orientation', id: 13 }],
    encodings: [{ ssrc, rtx: { ssrc: ssrc + 1 }, maxBitrate: 1_500_000 }],
    rtcp,
  };
}

/**
 * A participant doing what web/client.ts does after live:join: recv transport,
 * consume whatever is announced (the first consume connects the recv
 * transport), send transport, then produce audio and video (the first
 * produce connects the send transport first).
 */
class NodeParticipant {
  readonly c: SigClient;
  readonly bookingId: string;
  readonly userId: string;
  caps: unknown;
  recvId: string | undefined;
  recvConnected: Promise<unknown> | undefined;
  readonly queued: string[] = [];
  readonly consumed = new Set<string>();
  /** producerId → resolved when this participant's consumer of it is resumed. */
  readonly resumed = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  readonly produced: string[] = [];

  constructor(c: SigClient, bookingId: string, userId: string) {
    this.c = c;
    this.bookingId = bookingId;
    this.userId = userId;
    c.socket.on('live:producer', (ev: { producerId: string; userId: string }) => {
      if (ev.userId === this.userId) return;
      if (!this.recvId) this.queued.push(ev.producerId);
      else void this.consume(ev.producerId);
    });
    c.socket.on('live:participant', (ev: { userId: string; state: string }) => {
      if (ev.state === 'left' && ev.userId !== this.userId) this.consumed.clear();
    });
  }

  waitResumed(producerId: string): Promise<void> {
    let entry = this.resumed.get(producerId);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      entry = { promise, resolve };
      this.resumed.set(producerId, entry);
    }
    return entry.promise;
  }

  async consume(producerId: string): Promise<void> {
    if (this.consumed.has(producerId)) return;
    this.consumed.add(producerId);
    const b = this.bookingId;
    const ans = await this.c.request('live:consume', {
      bookingId: b,
      transportId: this.recvId,
      producerId,
      rtpCapabilities: this.caps,
    });
    this.recvConnected ??= this.c.request('live:connect', {
      bookingId: b,
      transportId: this.recvId,
      dtlsParameters: fakeDtls(),
    });
    await this.recvConnected;
    await this.c.request('live:resume', { bookingId: b, consumerId: ans.consumerId });
    void this.waitResumed(producerId);
    this.resumed.get(producerId)!.resolve();
  }

  async join(ref: { joinToken: string }): Promise<void> {
    const b = this.bookingId;
    const answer = await this.c.request('live:join', ref);
    this.caps = answer.routerRtpCapabilities;
    const recv = await this.c.request('live:transport', { bookingId: b, direction: 'recv' });
    this.recvId = recv.id;
    for (const p of this.queued.splice(0)) void this.consume(p);
    const send = await this.c.request('live:transport', { bookingId: b, direction: 'send' });
    await this.c.request('live:connect', { bookingId: b, transportId: send.id, dtlsParameters: fakeDtls() });
    for (const kind of KINDS) {
      const { producerId } = await this.c.request('live:produce', {
        bookingId: b,
        transportId: send.id,
        kind,
        rtpParameters: webrtcParameters(kind),
        appData: { source: kind },
      });
      this.produced.push(producerId);
    }
  }
}

async function nodeRoute(setup: Setup, result: JoinResult): Promise<void> {
  const { srv } = setup;
  const provider = new NodeParticipant(
    await SigClient.connect(srv.url, setup.providerJwt),
    setup.bookingId,
    setup.providerId,
  );
  let client: NodeParticipant | undefined;
  try {
    await provider.join({ joinToken: setup.joinToken(setup.providerId) });
    log('[join/node] provider joined and producing; the client joins');
    for (let rep = 0; rep <= JOIN_REPS; rep++) {
      if (client) {
        await client.c.request('live:leave', { bookingId: setup.bookingId });
        client.c.close();
        await sleep(300);
      }
      const before = await scrapeRequests(srv.url);
      const openedAt = clock();
      const c = new NodeParticipant(
        await SigClient.connect(srv.url, setup.clientJwt),
        setup.bookingId,
        setup.clientId,
      );
      client = c;
      const providerMark = { requests: provider.c.log.requests.length, pushes: provider.c.log.pushes.length };
      const done = c.join({ joinToken: setup.joinToken(setup.clientId) });
      const timeout = sleep(MEDIA_TIMEOUT_MS).then(() => {
        throw new Error(`rep ${rep}: signaling did not complete within ${MEDIA_TIMEOUT_MS} ms`);
      });
      await Promise.race([done, timeout]);
      await Promise.race([
        Promise.all([
          ...c.produced.map((p) => provider.waitResumed(p)),
          ...provider.produced.map((p) => c.waitResumed(p)),
        ]),
        timeout,
      ]);
      await sleep(200);
      const after = await scrapeRequests(srv.url);
      const joiner = c.c.log;
      const other: SideLog = {
        requests: provider.c.log.requests.slice(providerMark.requests),
        pushes: provider.c.log.pushes.slice(providerMark.pushes),
      };
      const t0 = joiner.requests.find((r) => r.event === 'live:join')!.sentAt;
      const until = Math.max(...[...joiner.requests, ...other.requests].map((r) => r.ackAt ?? 0));
      const sample = sampleFrom(joiner, other, t0, until);
      sample.serverRequests = metricsDelta(before, after);
      sample.beforeJoinMs = round(t0 - openedAt, 1);
      if (rep === 0) result.first = sample;
      else result.samples.push(sample);
      log(
        `[join/node] ${rep === 0 ? 'first join' : `rejoin ${rep}`}: other party resumed audio at ${sample.otherReadyMs.audio} ms, video ${sample.otherReadyMs.video} ms; joiner resumed audio ${sample.joinerReadyMs.audio} ms, video ${sample.joinerReadyMs.video} ms`,
      );
    }
  } finally {
    client?.c.close();
    provider.c.close();
  }
}

// ---------------------------------------------------------------- the run

export interface RoundTrips {
  joiner: number;
  other: number;
  total: number;
  pushes: number;
  path: string[];
}

export interface JoinResult {
  ok: boolean;
  error?: string;
  route: 'browser' | 'node' | 'none';
  routeDescription?: string;
  /** Why the browser route was not used (when it was tried and failed). */
  browserFailure?: { error: string; workerDeaths: string[] };
  chromium?: string;
  reps: number;
  first?: JoinSample;
  samples: JoinSample[];
  summary?: ReturnType<typeof summarise>;
  serverProblems?: string[];
}

export async function runJoin(secret: string): Promise<JoinResult> {
  const result: JoinResult = { ok: false, route: 'none', reps: JOIN_REPS, samples: [] };
  let server: ServerProc | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-live-'));
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  cleanups.push(removeDir);
  try {
    // The join-token key, known to the bench, in place before the server starts.
    const joinKey = randomBytes(48).toString('base64url');
    const store = await openStore({ dataDir });
    await store.db.query(`INSERT INTO server_secrets (name, value) VALUES ('join_token_key', $1)`, [joinKey]);
    await store.db.close();

    const mediaPorts = await freePortBase(20);
    server = await spawnServer({
      PORT: '0',
      HOST,
      DATA_DIR: dataDir,
      AUTH_JWT_SECRET: secret,
      // 'talkroom listening' (which carries the port) is an info line.
      LOG_LEVEL: 'info',
      DATABASE_URL: '',
      REDIS_URL: '',
      PUBLIC_URL: '',
      MEDIA_WORKERS: '1',
      MEDIA_LISTEN_IP: HOST,
      MEDIA_RTC_MIN_PORT: String(mediaPorts),
      MEDIA_RTC_MAX_PORT: String(mediaPorts + 19),
      POLICY_JOIN_OPENS: '24h',
      POLICY_SLOT_STEP: '1m',
      SOCKET_RATE_LIMIT: '1000',
      HTTP_RATE_LIMIT: '1000',
      CONNECT_RATE_LIMIT: '100000',
      AUTH_FAILURE_LIMIT: '100000',
    });
    const srv = server;
    log(`[join] talkroom pid ${srv.pid} on ${srv.url}`);

    const admin = mintToken(secret, { sub: 'bench-admin', role: 'admin' }, { expiresInSec: 3600 });
    const clientId = 'bench-live-client';
    const providerId = 'bench-live-provider';
    const allDay: Record<string, [string, string][]> = {};
    for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) allDay[d] = [['00:00', '24:00']];
    await api(srv.url, admin, 'PUT', `/v1/users/${clientId}`, {
      role: 'client',
      displayName: 'Bench client',
      timezone: 'UTC',
    });
    await api(srv.url, admin, 'PUT', `/v1/users/${providerId}`, {
      role: 'provider',
      displayName: 'Bench provider',
      timezone: 'UTC',
      specialty: 'therapy',
      workingHours: allDay,
    });
    await api(srv.url, admin, 'PUT', `/v1/users/${clientId}/plan`, {
      kind: 'out_of_pocket',
      includesMessaging: true,
      liveSessionsPerPeriod: 4,
      periodStart: `${new Date().toISOString().slice(0, 8)}01`,
    });
    const { room } = await api(srv.url, admin, 'POST', '/v1/rooms', {
      kind: 'therapy',
      clientId,
      providerId,
      service: 'therapy',
    });
    const clientJwt = mintToken(secret, { sub: clientId, role: 'client' }, { expiresInSec: 3600 });
    const providerJwt = mintToken(secret, { sub: providerId, role: 'provider' }, { expiresInSec: 3600 });
    const { slots } = await api(srv.url, clientJwt, 'GET', `/v1/providers/${providerId}/slots`);
    const slot = (slots as { startsAt: string }[])[0];
    if (!slot) throw new Error('no open slot for the provider');
    const { booking } = await api(srv.url, clientJwt, 'POST', '/v1/bookings', {
      roomId: room.id,
      modality: 'video',
      startsAt: slot.startsAt,
    });
    await api(srv.url, providerJwt, 'POST', `/v1/bookings/${booking.id}/confirm`, {});
    const joinToken = (userId: string) =>
      jwt.sign(
        {
          typ: 'join',
          bid: booking.id,
          sub: userId,
          nbf: Math.floor((Date.parse(booking.startsAt) - 24 * 3_600_000) / 1000),
          exp: Math.ceil(Date.parse(booking.endsAt) / 1000),
        },
        joinKey,
        { algorithm: 'HS256', noTimestamp: true },
      );
    const setup: Setup = {
      srv,
      bookingId: booking.id,
      clientId,
      providerId,
      clientJwt,
      providerJwt,
      joinToken,
      link: (userId) => `${srv.url}/join/${joinToken(userId)}`,
    };
    log(`[join] video session ${booking.id} at ${booking.startsAt}, confirmed`);

    if (ROUTE !== 'node') {
      try {
        result.route = 'browser';
        result.routeDescription =
          'REAL end to end: talkroom process + 2 headless Chromium pages (reference web client, WebRTC, ICE, DTLS) on loopback; first RTP packet from getStats()';
        await browserRoute(setup, result);
      } catch (e) {
        const msg = (e as Error).message;
        log(`[join/browser] not usable: ${msg.split('\n')[0]}`);
        result.browserFailure = { error: msg, workerDeaths: [...srv.workerDeaths] };
        if (ROUTE === 'browser') throw e;
        result.first = undefined;
        result.samples = [];
        result.route = 'none';
      }
    }
    if (result.route === 'none') {
      result.route = 'node';
      result.routeDescription =
        'signaling REAL (talkroom process, socket.io clients sending what the reference client sends, in its order); no ICE/DTLS/RTP (end point: the receiving side’s live:resume answer); media part measured separately at the media layer with PlainTransports';
      await sleep(500);
      await nodeRoute(setup, result);
    }
    result.summary = summarise(result.samples);
    result.ok = true;
  } catch (e) {
    result.error = (e as Error).stack ?? String(e);
    log(`[join] FAILED: ${(e as Error).message}`);
    if (result.samples.length) result.summary = summarise(result.samples);
  } finally {
    if (server) {
      result.serverProblems = server.problems;
      await stopServer(server);
    }
    removeDir();
    const i = cleanups.indexOf(removeDir);
    if (i >= 0) cleanups.splice(i, 1);
  }
  return result;
}

function mode<T>(values: T[], key: (v: T) => string): { value: T; count: number } | undefined {
  const counts = new Map<string, { count: number; value: T }>();
  for (const value of values) {
    const k = key(value);
    const c = counts.get(k) ?? { count: 0, value };
    c.count++;
    counts.set(k, c);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count)[0];
}

function summarise(samples: JoinSample[]) {
  const pick = (f: (s: JoinSample) => number | undefined) =>
    samples.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const trips = (
    f: (s: JoinSample) => PathStep[] | undefined,
  ): (RoundTrips & { seenIn: string }) | undefined => {
    const paths = samples.map(f).filter((p): p is PathStep[] => !!p);
    const common = mode(paths, (p) => p.map((s) => `${s.side}:${s.step}`).join(','));
    if (!common) return undefined;
    const isPush = (s: PathStep) => s.step.startsWith('⇢');
    const joiner = common.value.filter((s) => s.side === 'joiner' && !isPush(s)).length;
    const other = common.value.filter((s) => s.side === 'other' && !isPush(s)).length;
    return {
      joiner,
      other,
      total: joiner + other,
      pushes: common.value.filter(isPush).length,
      path: common.value.map((s) => (s.side === 'other' && !isPush(s) ? `other:${s.step}` : s.step)),
      seenIn: `${common.count}/${samples.length}`,
    };
  };
  /** Per step on a path: p50 of its round trip, and of when it was sent (ms after live:join). */
  const steps = (f: (s: JoinSample) => PathStep[] | undefined) => {
    const by = new Map<string, { rtt: number[]; at: number[] }>();
    for (const s of samples) {
      for (const p of f(s) ?? []) {
        const k = `${p.side === 'other' && !p.step.startsWith('⇢') ? 'other:' : ''}${p.step}`;
        const e = by.get(k) ?? { rtt: [], at: [] };
        if (Number.isFinite(p.rttMs)) e.rtt.push(p.rttMs);
        e.at.push(p.atMs);
        by.set(k, e);
      }
    }
    return [...by].map(([step, e]) => ({
      step,
      atMsP50: round(median(e.at) ?? Number.NaN, 1),
      rttMsP50: round(median(e.rtt) ?? Number.NaN, 1),
    }));
  };
  const perJoin = (f: (s: JoinSample) => Record<string, number>) => {
    const keys = new Set(samples.flatMap((s) => Object.keys(f(s))));
    const out: Record<string, number> = {};
    for (const k of [...keys].sort()) out[k] = round(median(samples.map((s) => f(s)[k] ?? 0)) ?? 0, 1);
    return out;
  };
  const byKind = (f: (s: JoinSample) => Partial<Record<Kind, number>>) => ({
    audio: spread(pick((s) => f(s).audio)),
    video: spread(pick((s) => f(s).video)),
  });
  return {
    otherFirstPacketMs: byKind((s) => s.otherFirstPacketMs),
    joinerFirstPacketMs: byKind((s) => s.joinerFirstPacketMs),
    otherReadyMs: byKind((s) => s.otherReadyMs),
    joinerReadyMs: byKind((s) => s.joinerReadyMs),
    beforeJoinMs: spread(pick((s) => s.beforeJoinMs)) as Spread,
    roundTrips: {
      toOtherAudio: trips((s) => s.pathToOther.audio),
      toOtherVideo: trips((s) => s.pathToOther.video),
      toJoinerAudio: trips((s) => s.pathToJoiner.audio),
      toJoinerVideo: trips((s) => s.pathToJoiner.video),
    },
    stepsToOtherAudio: steps((s) => s.pathToOther.audio),
    stepsToOtherVideo: steps((s) => s.pathToOther.video),
    stepsToJoinerAudio: steps((s) => s.pathToJoiner.audio),
    joinerRequestsPerJoin: perJoin((s) => s.joinerRequests),
    otherRequestsPerJoin: perJoin((s) => s.otherRequests),
    serverRequestsPerJoin: perJoin((s) => s.serverRequests),
  };
}

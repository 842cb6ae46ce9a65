/**
 * The join benchmark's browser route: two headless Chromium pages running the reference web client
 * (fake camera and microphone, real WebRTC, ICE and DTLS); a probe in each page records every
 * Socket.IO frame and the first inbound RTP packet of each new stream.
 */
import { type BrowserParticipant, launchBrowser, type TestBrowser } from '../../test/helpers/browser.ts';
import { countsDelta } from '../lib/metrics.ts';
import { log, now, round, sleep } from '../lib/util.ts';
import { KINDS, type Kind, type Push, type Request, type SideLog, sampleFrom } from './join-analysis.ts';
import {
  clock,
  JOIN_REPS,
  type JoinResult,
  MEDIA_TIMEOUT_MS,
  POLL_MS,
  type Setup,
  serverRequests,
} from './join-setup.ts';

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
        // Answers whole (a join's or live:receive's carries consumers); pushes and requests cut short.
        if (typeof ev.data === 'string' && ev.data[0] === '4')
          b.frames.push(['in', clock(), ev.data.startsWith('43') ? ev.data : ev.data.slice(0, 700)]);
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

export class WorkerDied extends Error {}

export async function browserRoute(setup: Setup, result: JoinResult): Promise<void> {
  const { srv, workerDeaths } = setup;
  const deathsBefore = workerDeaths.length;
  const check = () => {
    if (workerDeaths.length > deathsBefore)
      throw new WorkerDied(`the media worker died: ${workerDeaths.at(-1)}`);
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
        await client.page.locator('#confirm-yes').click(); // the page asks before leaving
        await client.waitForPhase('left', 10_000);
        await provider.waitForState(
          (s) => s.participants.length === 1 && s.consumers.length === 0,
          'the client gone',
          10_000,
        );
        await sleep(300);
      }
      const mark = (await provider.page.evaluate('window.__bench.arm()')) as number;
      // Join again keeps the page (and its frames) since the session page became the SDK's: from here on.
      const clientMark = rep === 0 ? 0 : ((await client.page.evaluate('window.__bench.arm()')) as number);
      const before = await serverRequests(srv.url);
      const openedAt = clock();
      if (rep === 0) await client.open(setup.link(setup.clientId), setup.clientJwt);
      else await client.page.locator('#rejoin').click();
      const deadline = now() + MEDIA_TIMEOUT_MS;
      let cp: Probe;
      let pp: Probe;
      for (;;) {
        await sleep(50);
        check();
        cp = await readProbe(client, clientMark).catch(() => ({ frames: [], first: {} }) as Probe);
        pp = await readProbe(provider, mark);
        if (cp.first.audio && cp.first.video && pp.first.audio && pp.first.video) break;
        if (now() > deadline) {
          throw new Error(
            `rep ${rep}: media did not flow both ways within ${MEDIA_TIMEOUT_MS} ms (client got ${JSON.stringify(cp.first)}, provider got ${JSON.stringify(pp.first)})\n${client.logs.slice(-10).join('\n')}`,
          );
        }
      }
      await sleep(200); // the server counts a request once its answer is sent
      const after = await serverRequests(srv.url);
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
      sample.serverRequests = countsDelta(before, after);
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

/** What a join waited for: the requests on the path from `live:join` to each first packet, from both sides' logs. */
import { median, round, type Spread, spread } from '../lib/util.ts';

export type Kind = 'audio' | 'video';
export const KINDS: Kind[] = ['audio', 'video'];

// ---------------------------------------------------------------- requests as seen by one side

export interface Request {
  event: string;
  sentAt: number;
  ackAt: number | undefined;
  /** JSON text (pushes cut short in the browser route): fields are read with a regex, consumers parsed. */
  payload: string;
  answer: string | undefined;
}

export interface Push {
  event: string;
  at: number;
  payload: string;
}

export interface SideLog {
  requests: Request[];
  pushes: Push[];
}

const field = (text: string | undefined, name: string) =>
  text ? new RegExp(`"${name}":"([^"]+)"`).exec(text)?.[1] : undefined;

/** The consumers an answer (a join's, live:receive's) carries: its JSON text parsed, ack or [ack]. */
function consumersIn(
  answer: string | undefined,
): Array<{ consumerId: string; producerId: string; kind: string }> {
  try {
    const parsed = answer ? (JSON.parse(answer) as unknown) : undefined;
    const ack = (Array.isArray(parsed) ? parsed[0] : parsed) as
      | { data?: { consumers?: unknown } }
      | undefined;
    const consumers = ack?.data?.consumers;
    return Array.isArray(consumers) ? consumers : [];
  } catch {
    return []; // cut short: no consumers read from it
  }
}

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
 * The requests each first packet waits for. With the reference client (the
 * session page through the SDK's LiveSession): the join (both transports in
 * its answer; with receive capabilities when the page knows the server's, and
 * then the consumers of what the other side sends in the answer too), else
 * live:receive right after it, answered with those consumers; per track
 * produce (the first produce connects the send transport first). Each
 * consumer the server makes — in those answers, or pushed as live:consumer
 * when the other side produces — is set up in the page (the first connects
 * the recv transport, optimistically) and, if paused (video), resumed. The
 * path to the other party runs through the joiner's sending requests, the
 * server's live:consumer push and the other side's resume; the path to the
 * joiner through its join, its live:receive if it had to give its
 * capabilities then, and its resume. A server or client without
 * server-initiated consumers shows the older path: ⇢ live:producer, consume,
 * resume.
 */
function analyse(joiner: SideLog, other: SideLog, t0: number, kind: Kind) {
  const rel = (t: number) => round(t - t0, 1);
  const jr = joiner.requests.filter((r) => r.sentAt >= t0);
  const joinReq = jr.find((r) => r.event === 'live:join');
  const recvTransport = jr.find(
    (r) => r.event === 'live:transport' && field(r.payload, 'direction') === 'recv',
  );
  // The recv transport: asked for, or (as the clients do) made in the join and named in its answer.
  const recvId =
    field(recvTransport?.answer, 'id') ?? /"recv":\{"id":"([^"]+)"/.exec(joinReq?.answer ?? '')?.[1];
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
    r.event === 'live:receive' ||
    (r.event === 'live:connect' && field(r.payload, 'transportId') === recv);

  // Joiner → other party.
  const produce = jr.find((r) => r.event === 'live:produce' && field(r.payload, 'kind') === kind);
  let toOther: PathStep[] | undefined;
  let otherReadyAt: number | undefined;
  if (produce && joinReq) {
    // Only the media's requests that something waits for: the page's own (its chat history), and
    // live:connect (optimistic: mediasoup-client is told it is done before it is sent), may be
    // answered before a produce is sent without the produce having waited for them.
    const waitedOn = (r: Request) => r.event.startsWith('live:') && r.event !== 'live:connect';
    const sending = longestChain(
      jr.filter((r) => waitedOn(r) && !receiving(r, recvId)),
      joinReq,
      produce,
    ).map((r) => step(r, 'joiner'));
    const producerId = field(produce.answer, 'producerId');
    const pushed = (event: string) =>
      other.pushes.find(
        (p) => p.event === event && p.at >= t0 && field(p.payload, 'producerId') === producerId,
      );
    const made = pushed('live:consumer');
    const push = pushed('live:producer');
    if (made) {
      // Server-initiated: the consumer arrives made; only a paused one (video) waits for its resume.
      const madeId = field(made.payload, 'consumerId');
      const resume = other.requests.find(
        (r) => r.event === 'live:resume' && field(r.payload, 'consumerId') === madeId,
      );
      otherReadyAt = resume?.ackAt ?? made.at;
      toOther = [
        ...sending,
        { step: '⇢ live:consumer', side: 'other', atMs: rel(made.at), rttMs: 0 },
        ...(resume ? [step(resume, 'other')] : []),
      ];
    } else {
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
        ...sending,
        ...(push ? [{ step: '⇢ live:producer', side: 'other' as const, atMs: rel(push.at), rttMs: 0 }] : []),
        ...receivingChain.map((r) => step(r, 'other')),
      ];
    }
  }

  // Other party → joiner.
  const consume = jr.find((r) => r.event === 'live:consume' && field(r.answer, 'kind') === kind);
  let toJoiner: PathStep[] | undefined;
  let joinerReadyAt: number | undefined;
  const made = joinReq && madeForJoiner(joiner, jr, joinReq, t0, kind);
  if (made && joinReq) {
    const resume = jr.find(
      (r) => r.event === 'live:resume' && field(r.payload, 'consumerId') === made.consumerId,
    );
    const via = made.request && made.request !== joinReq ? [made.request] : [];
    const last = resume ?? via[0] ?? joinReq;
    toJoiner = longestChain([joinReq, ...via, ...(resume ? [resume] : [])], joinReq, last).map((r) =>
      step(r, 'joiner'),
    );
    if (made.push) {
      const at = rel(made.push.at);
      toJoiner.splice(1, 0, { step: '⇢ live:consumer', side: 'joiner', atMs: at, rttMs: 0 });
    }
    joinerReadyAt = resume?.ackAt ?? made.readyAt;
  } else if (consume && joinReq) {
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

/** The consumer of `kind` the server made for the joiner: in its join answer, its live:receive answer, or pushed. */
function madeForJoiner(joiner: SideLog, jr: Request[], joinReq: Request, t0: number, kind: Kind) {
  const receive = jr.find((r) => r.event === 'live:receive');
  for (const request of [joinReq, receive]) {
    const c = consumersIn(request?.answer).find((x) => x.kind === kind);
    if (c && request) return { consumerId: c.consumerId, request, push: undefined, readyAt: request.ackAt };
  }
  const push = joiner.pushes.find(
    (p) => p.event === 'live:consumer' && p.at >= t0 && field(p.payload, 'kind') === kind,
  );
  if (!push) return undefined;
  return { consumerId: field(push.payload, 'consumerId'), request: undefined, push, readyAt: push.at };
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

export function sampleFrom(joiner: SideLog, other: SideLog, t0: number, until: number): JoinSample {
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

export interface RoundTrips {
  joiner: number;
  other: number;
  total: number;
  pushes: number;
  path: string[];
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

export function summarise(samples: JoinSample[]) {
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

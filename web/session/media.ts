/// <reference lib="dom" />
/**
 * The page's side of the SDK's LiveSession: joining with the local tracks,
 * following its status and the other side's tracks, and reading WebRTC
 * statistics (the connection check, a paused remote track, the test hook).
 */
import { LiveSession, type RemoteTrack, type Source, type TalkroomClient } from '@talkroom/client';
import type { MediaHost } from './state.ts';

export interface TalkroomStats {
  inboundAudioPackets: number;
  inboundVideoPackets: number;
  outboundAudioPackets: number;
  outboundVideoPackets: number;
  /** Each transport's selected ICE candidate pair, once it has one. */
  candidatePairs: SelectedPair[];
}

export interface SelectedPair {
  direction: 'send' | 'recv';
  state: string;
  /** host, srflx, prflx or relay: `relay` means the browser's side goes through a TURN server. */
  localType: string;
  remoteType: string;
  protocol: string;
  /** For a relay candidate: how the browser reaches the TURN server. */
  relayProtocol: string | null;
  url: string | null;
}

/**
 * The server's router capabilities, kept for this tab: after a reload the join
 * carries the receive capabilities and its answer the other side's tracks,
 * one request sooner (LiveOptions.routerRtpCapabilities).
 */
const CAPABILITIES_KEY = 'talkroom.routerRtpCapabilities';

function knownCapabilities(): unknown {
  try {
    const kept = sessionStorage.getItem(CAPABILITIES_KEY);
    return kept ? JSON.parse(kept) : undefined;
  } catch {
    return undefined; // storage blocked, or not JSON: the join learns them
  }
}

function keepCapabilities(live: LiveSession): void {
  if (live.routerRtpCapabilities === undefined) return;
  try {
    sessionStorage.setItem(CAPABILITIES_KEY, JSON.stringify(live.routerRtpCapabilities));
  } catch {
    // storage blocked or full: the next join asks again
  }
}

export async function joinLive(
  page: MediaHost,
  client: TalkroomClient,
  joinToken: string,
  iceTransportPolicy: RTCIceTransportPolicy | undefined,
): Promise<LiveSession> {
  const tracks: Array<{ track: MediaStreamTrack; source: Source }> = [];
  if (page.local.mic) tracks.push({ track: page.local.mic, source: 'mic' });
  if (page.local.camera && page.state.modality === 'video')
    tracks.push({ track: page.local.camera, source: 'camera' });
  const known = knownCapabilities();
  const live = await LiveSession.join(
    client,
    { joinToken },
    {
      tracks,
      ...(iceTransportPolicy ? { iceTransportPolicy } : {}),
      ...(known ? { routerRtpCapabilities: known } : {}),
    },
  );
  const syncRemotes = () => page.set({ consumers: page.remotes.map(({ track: _t, ...rest }) => rest) });
  const statusPatch = () => {
    switch (live.status) {
      case 'waiting':
      case 'in_progress':
        return { phase: live.status, notice: null };
      case 'reconnecting':
        return { notice: 'Reconnecting…' };
      case 'left':
        return { phase: 'left' as const };
      default:
        return {};
    }
  };
  live.on('status', (status) => {
    if (status === 'superseded') return page.finish({ phase: 'superseded' });
    page.set(statusPatch());
  });
  live.on('participants', (participants) => {
    const otherId = page.state.other?.userId;
    const here = participants.some((p) => p.userId === otherId);
    // Gone while the session is on: the other party's connection dropped (or they stepped out).
    const away = !here && page.state.phase === 'in_progress';
    page.set({ participants: [...participants], otherAway: away, ...(here ? { otherOnline: true } : {}) });
  });
  live.on('track', (t: RemoteTrack) => {
    page.remotes = [...page.remotes.filter((r) => r.consumerId !== t.consumerId), { ...t, paused: false }];
    syncRemotes();
  });
  live.on('trackEnded', (t: RemoteTrack) => {
    page.remotes = page.remotes.filter((r) => r.consumerId !== t.consumerId);
    syncRemotes();
  });
  live.on('ended', (status) => page.finish({ phase: 'ended', endedStatus: status }));
  live.on('error', (e) => page.set({ notice: e.message }));
  page.set({ ...statusPatch(), participants: [...live.participants] });
  return live;
}

/** Per-track packet counts from the last look: a track whose count stands still is shown paused. */
const lastPackets = new Map<string, number>();

/** Once a second: the other side's paused tracks, what this side sends, and the connection check. */
export async function watchRemotes(page: MediaHost): Promise<void> {
  const live = page.live;
  if (!live?.active) return;
  keepCapabilities(live);
  page.syncSending();
  const received = await live.received();
  let changed = false;
  for (const r of page.remotes) {
    const now = received[r.consumerId];
    if (now === undefined) continue;
    const before = lastPackets.get(r.consumerId);
    lastPackets.set(r.consumerId, now);
    const paused = before !== undefined && now === before;
    if (paused !== r.paused) {
      r.paused = paused;
      changed = true;
    }
  }
  const stats = await pageStats(live);
  const pairs = stats.candidatePairs.filter((p) => p.state === 'succeeded');
  const media =
    page.state.modality === 'chat' || page.state.modality === 'messaging'
      ? ('none' as const)
      : pairs.length === 0
        ? ('checking' as const)
        : pairs.some((p) => p.localType === 'relay')
          ? ('relay' as const)
          : ('direct' as const);
  page.set({
    check: { ...page.state.check, media },
    ...(changed ? { consumers: page.remotes.map(({ track: _t, ...rest }) => rest) } : {}),
  });
}

/** RTP packets summed over the send and recv transports, and each transport's selected pair. */
export async function pageStats(live: LiveSession | null): Promise<TalkroomStats> {
  const out: TalkroomStats = {
    inboundAudioPackets: 0,
    inboundVideoPackets: 0,
    outboundAudioPackets: 0,
    outboundVideoPackets: 0,
    candidatePairs: [],
  };
  if (!live) return out;
  const { send, recv } = await live.getStats().catch(() => ({ send: null, recv: null }));
  for (const [direction, report] of [
    ['send', send],
    ['recv', recv],
  ] as const) {
    if (!report) continue;
    const pair = selectedPair(report, direction);
    if (pair) out.candidatePairs.push(pair);
    report.forEach((s: { type: string; kind?: string; packetsReceived?: number; packetsSent?: number }) => {
      if (s.type === 'inbound-rtp') {
        if (s.kind === 'audio') out.inboundAudioPackets += s.packetsReceived ?? 0;
        if (s.kind === 'video') out.inboundVideoPackets += s.packetsReceived ?? 0;
      } else if (s.type === 'outbound-rtp') {
        if (s.kind === 'audio') out.outboundAudioPackets += s.packetsSent ?? 0;
        if (s.kind === 'video') out.outboundVideoPackets += s.packetsSent ?? 0;
      }
    });
  }
  return out;
}

/** The pair ICE chose, read from the peer connection's transport stats (or, where there are none, the nominated pair). */
function selectedPair(report: RTCStatsReport, direction: 'send' | 'recv'): SelectedPair | null {
  type Stat = Record<string, unknown> & { id: string; type: string };
  const all = [...report.values()] as Stat[];
  const transport = all.find((x) => x.type === 'transport' && typeof x.selectedCandidatePairId === 'string');
  const pair =
    (transport && report.get(transport.selectedCandidatePairId as string)) ??
    all.find(
      // Firefox has no transport stats: it marks the pair in use `selected`.
      (x) =>
        x.type === 'candidate-pair' &&
        (x.selected === true || x.nominated === true) &&
        x.state === 'succeeded',
    );
  if (!pair) return null;
  const local = report.get(pair.localCandidateId as string);
  const remote = report.get(pair.remoteCandidateId as string);
  return {
    direction,
    state: String(pair.state),
    localType: String(local?.candidateType),
    remoteType: String(remote?.candidateType),
    protocol: String(local?.protocol),
    relayProtocol: local?.relayProtocol ?? null,
    url: local?.url ?? null,
  };
}

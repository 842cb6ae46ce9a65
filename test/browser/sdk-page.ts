/// <reference lib="dom" />
/**
 * A test page that runs a live session through @talkroom/client, bundled with
 * esbuild as web/build.ts bundles the web client. Its settings come in the
 * URL fragment: `#url=…&token=…&bookingId=…`. `window.sdkPage` exposes what
 * the test reads.
 */
import { LiveSession, TalkroomClient } from '@talkroom/client';

const params = new URLSearchParams(location.hash.slice(1));
const state = {
  status: 'starting' as string,
  connected: false,
  participants: 0,
  remote: [] as string[],
  error: null as string | null,
  ended: null as string | null,
};
let session: LiveSession | null = null;

async function packets(): Promise<Record<string, number>> {
  const out = { inboundAudio: 0, inboundVideo: 0, outboundAudio: 0, outboundVideo: 0 };
  if (!session) return out;
  const { send, recv } = await session.getStats();
  for (const report of [send, recv]) {
    report?.forEach((s: { type: string; kind?: string; packetsReceived?: number; packetsSent?: number }) => {
      if (s.type === 'inbound-rtp') {
        if (s.kind === 'audio') out.inboundAudio += s.packetsReceived ?? 0;
        if (s.kind === 'video') out.inboundVideo += s.packetsReceived ?? 0;
      } else if (s.type === 'outbound-rtp') {
        if (s.kind === 'audio') out.outboundAudio += s.packetsSent ?? 0;
        if (s.kind === 'video') out.outboundVideo += s.packetsSent ?? 0;
      }
    });
  }
  return out;
}

(window as unknown as { sdkPage: unknown }).sdkPage = {
  state,
  packets,
  leave: () => session?.leave(),
  end: () => session?.end(),
  mute: (paused: boolean) => session?.mute('mic', paused),
};

async function main(): Promise<void> {
  // Default transports: long-polling first, then the upgrade to WebSocket.
  const client = new TalkroomClient({ url: params.get('url')!, token: params.get('token')! });
  client.on('connected', () => {
    state.connected = true;
  });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  session = await LiveSession.join(
    client,
    { bookingId: params.get('bookingId')! },
    { tracks: stream.getTracks().map((track) => ({ track })) },
  );
  state.status = session.status;
  state.participants = session.participants.length;
  session.on('status', (s) => {
    state.status = s;
  });
  session.on('participants', (p) => {
    state.participants = p.length;
  });
  session.on('track', (t) => {
    state.remote.push(t.kind);
    const el = document.createElement(t.kind === 'video' ? 'video' : 'audio');
    el.autoplay = true;
    if (el instanceof HTMLVideoElement) el.muted = true;
    el.srcObject = new MediaStream([t.track]);
    document.body.append(el);
  });
  session.on('ended', (status) => {
    state.ended = status;
  });
  session.on('error', (e) => {
    state.error = `${e.code}: ${e.message}`;
  });
}

main().catch((e: unknown) => {
  state.error = String((e as Error)?.message ?? e);
});

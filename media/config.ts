import { availableParallelism } from 'node:os';
import type { RouterRtpCodecCapability, TransportListenInfo } from 'mediasoup/types';
import { MediaError } from './errors.ts';

export interface MediaConfig {
  /** Worker processes; default (and 0) = os.availableParallelism(). */
  workers?: number | undefined;
  listenIp: string;
  /** Address put in ICE candidates when listenIp is not reachable by clients (NAT, 0.0.0.0). */
  announcedIp?: string | undefined;
  rtcMinPort: number;
  rtcMaxPort: number;
}

/**
 * Ports: worker i owns one WebRtcServer on rtcMinPort + i, UDP and TCP, shared
 * by every WebRTC transport of that worker. The firewall then opens a handful
 * of fixed ports, and a transport costs no socket. Per-transport port ranges
 * would need one port per transport and a range sized to peak load.
 * The rest of the range, [rtcMinPort + workers, rtcMaxPort], is left to plain
 * transports (RTP tools, benchmarks), which cannot share a server.
 */
export interface MediaSettings {
  workers: number;
  listenIp: string;
  announcedIp: string | undefined;
  webRtcServerListenInfos(workerIndex: number): TransportListenInfo[];
  /** undefined when the range holds only the WebRtcServer ports. */
  plainListenInfo: TransportListenInfo | undefined;
}

const isPort = (n: unknown): n is number =>
  Number.isInteger(n) && (n as number) >= 1 && (n as number) <= 65535;

export function resolveMediaSettings(config: MediaConfig): MediaSettings {
  const invalid = (message: string) => new MediaError('invalid_input', `media config: ${message}`);
  const workers = config.workers || availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw invalid(`workers must be a positive integer`);
  if (typeof config.listenIp !== 'string' || config.listenIp === '') throw invalid('listenIp is required');
  if (!isPort(config.rtcMinPort)) throw invalid('rtcMinPort must be a port number');
  if (!isPort(config.rtcMaxPort)) throw invalid('rtcMaxPort must be a port number');
  const size = config.rtcMaxPort - config.rtcMinPort + 1;
  if (size < workers) {
    throw invalid(
      `rtcMinPort..rtcMaxPort holds ${Math.max(size, 0)} ports; ${workers} workers need one each`,
    );
  }
  const listenIp = config.listenIp;
  const announcedIp = config.announcedIp || undefined;
  const address = announcedIp ? { announcedAddress: announcedIp } : {};
  const plainMin = config.rtcMinPort + workers;
  return {
    workers,
    listenIp,
    announcedIp,
    webRtcServerListenInfos: (i) => [
      { protocol: 'udp', ip: listenIp, port: config.rtcMinPort + i, ...address },
      { protocol: 'tcp', ip: listenIp, port: config.rtcMinPort + i, ...address },
    ],
    plainListenInfo:
      plainMin <= config.rtcMaxPort
        ? { protocol: 'udp', ip: listenIp, portRange: { min: plainMin, max: config.rtcMaxPort }, ...address }
        : undefined,
  };
}

/**
 * Opus for audio; VP8 for every browser; H264 constrained baseline for Safari
 * and hardware encoders (packetization-mode 1 is what browsers send).
 */
export const mediaCodecs: RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
  },
];

/** WebRTC transport options; the WebRtcServer is added per worker. */
export const webRtcTransportOptions = {
  enableUdp: true,
  enableTcp: true,
  preferUdp: true,
  // Above mediasoup's 600 kbps default so video starts near 720p instead of
  // ramping up from a blurry first seconds.
  initialAvailableOutgoingBitrate: 1_000_000,
} as const;

/**
 * Per-peer ceilings. Clients are untrusted and each entity costs worker memory;
 * these are far above what a call needs (2 transports, 2–3 producers, a
 * consumer per remote producer) and leave room for reconnections that create
 * transports again.
 */
export const peerLimits = { transports: 8, producers: 16, consumers: 64 } as const;

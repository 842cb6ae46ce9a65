/**
 * What a browser's mediasoup-client sends through signaling, without a
 * browser: Chrome's opus and VP8 (+RTX) parameters and a DTLS fingerprint of
 * the right shape. For the tests and benchmarks that drive signaling from Node
 * (no ICE or DTLS peer behind them, so no media flows on these transports).
 */
import { randomBytes } from 'node:crypto';

export const chromeOpus = {
  mimeType: 'audio/opus',
  payloadType: 111,
  clockRate: 48000,
  channels: 2,
  parameters: { minptime: 10, useinbandfec: 1 },
  rtcpFeedback: [{ type: 'transport-cc', parameter: '' }],
};

export const chromeVp8 = {
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
};

const rtpExtensions = [
  { uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', id: 4 },
  { uri: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', id: 2 },
  { uri: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01', id: 3 },
];

/** What mediasoup-client sends for Chrome's opus and VP8 (+RTX) tracks. */
export function webrtcParameters(kind: 'audio' | 'video') {
  const ssrc = 100_000 + Math.floor(Math.random() * 1e9);
  const rtcp = { cname: randomBytes(6).toString('hex'), reducedSize: true };
  if (kind === 'audio') {
    return {
      mid: '0',
      codecs: [chromeOpus],
      headerExtensions: [...rtpExtensions, { uri: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level', id: 1 }],
      encodings: [{ ssrc, dtx: false }],
      rtcp,
    };
  }
  return {
    mid: '1',
    codecs: [
      chromeVp8,
      { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 }, rtcpFeedback: [] },
    ],
    headerExtensions: [...rtpExtensions, { uri: 'urn:3gpp:video-orientation', id: 13 }],
    encodings: [{ ssrc, rtx: { ssrc: ssrc + 1 }, maxBitrate: 1_500_000 }],
    rtcp,
  };
}

/** A syntactically valid DTLS client role and fingerprint (nobody holds its key). */
export const fakeDtls = () => ({
  role: 'client',
  fingerprints: [
    {
      algorithm: 'sha-256',
      value: [...randomBytes(32)].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
    },
  ],
});

// Smoke test for a mediasoup worker binary (e.g. one built by build-worker.sh).
//
//   MEDIASOUP_WORKER_BIN=/path/to/mediasoup-worker node scripts/mediasoup/smoke.mjs [dir]
//
// `mediasoup` is resolved from [dir] (default: the current directory), so this
// runs against any install of it. The test, all on 127.0.0.1 and bounded in time:
//  - starts a worker, reads getResourceUsage() and dump();
//  - three routers with opus + VP8; a WebRtcTransport (UDP and TCP);
//  - sends 50 synthetic opus RTP packets from a local UDP socket into a
//    PlainTransport; they cross pipeToRouter() with SRTP (AES_CM_128_HMAC_SHA1_80),
//    then two PlainTransports with SRTP (AEAD_AES_256_GCM, or the suite named in
//    SMOKE_SRTP_SUITE), and leave by a last PlainTransport for a second local UDP
//    socket, where the payloads are compared byte for byte. A UDP relay on the
//    second hop checks that no payload crosses it in plaintext (so SRTP really
//    encrypts, and decrypts), and the consumer's round-trip time shows SRTCP
//    working both ways;
//  - closes everything and waits for the worker process to exit.
// Exits 0 and prints 'smoke: ok' when all holds.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import path from 'node:path';

const baseDir = path.resolve(process.argv[2] ?? process.cwd());
const require = createRequire(path.join(baseDir, 'noop.js'));
const mediasoup = require('mediasoup');

const ip = '127.0.0.1';
const listenInfo = { protocol: 'udp', ip };
const mediaCodecs = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000 },
];
const PACKETS = 50;
const srtpSuite = process.env.SMOKE_SRTP_SUITE ?? 'AEAD_AES_256_GCM';
const deadline = setTimeout(() => {
  console.error('smoke: timed out');
  process.exit(1);
}, 30_000);

const log = (...args) => console.log('smoke:', ...args);

async function bindSocket() {
  const socket = dgram.createSocket('udp4');
  socket.bind(0, ip);
  await once(socket, 'listening');
  return socket;
}

function rtpPacket(seq, timestamp, ssrc, payloadType, payload) {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = payloadType & 0x7f;
  header.writeUInt16BE(seq & 0xffff, 2);
  header.writeUInt32BE(timestamp >>> 0, 4);
  header.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([header, payload]);
}

// RTP payload offset (CSRCs and header extension skipped), or -1 for RTCP.
function rtpPayloadOffset(buf) {
  if (buf.length < 12 || buf[0] >> 6 !== 2) return -1;
  const pt = buf[1] & 0x7f;
  if (pt >= 64 && pt <= 95) return -1; // RTCP (RFC 5761)
  let offset = 12 + (buf[0] & 0x0f) * 4;
  if (buf[0] & 0x10) offset += 4 + buf.readUInt16BE(offset + 2) * 4;
  return offset;
}

const workerBin = process.env.MEDIASOUP_WORKER_BIN;
log(`mediasoup ${mediasoup.version}, worker binary ${workerBin ?? mediasoup.workerBin}`);

const worker = await mediasoup.createWorker({ logLevel: 'warn', rtcMinPort: 40000, rtcMaxPort: 40999 });
let died = false;
worker.on('died', (error) => {
  died = true;
  console.error('smoke: worker died', error);
});
const subprocessClosed = once(worker, 'subprocessclose');

const usage = await worker.getResourceUsage();
assert.ok(typeof usage.ru_maxrss === 'number' && usage.ru_maxrss > 0, 'getResourceUsage().ru_maxrss');
log(`worker pid ${worker.pid}, ru_maxrss ${usage.ru_maxrss} KiB`);

const [router1, router2, router3] = await Promise.all(
  [1, 2, 3].map(() => worker.createRouter({ mediaCodecs })),
);
const caps = router1.rtpCapabilities;
const mimeTypes = caps.codecs.map((c) => c.mimeType);
assert.ok(mimeTypes.includes('audio/opus') && mimeTypes.includes('video/VP8'), `codecs: ${mimeTypes}`);
log(`router rtpCapabilities: ${mimeTypes.join(', ')}; ${caps.headerExtensions.length} header extensions`);

const webRtc = await router1.createWebRtcTransport({
  listenInfos: [
    { protocol: 'udp', ip },
    { protocol: 'tcp', ip },
  ],
});
assert.equal(webRtc.iceCandidates.length, 2);
assert.ok(webRtc.dtlsParameters.fingerprints.some((f) => f.algorithm === 'sha-256'));
log(
  `WebRtcTransport: ${webRtc.iceCandidates.map((c) => `${c.protocol}/${c.ip}:${c.port}`).join(' ')}, ` +
    `${webRtc.dtlsParameters.fingerprints.length} DTLS fingerprints, ICE ${webRtc.iceState}`,
);

// Ingest: plain RTP from socket A into router1.
const socketA = await bindSocket();
const plainIn = await router1.createPlainTransport({ listenInfo, rtcpMux: true, comedia: true });
const ssrc = 11_111_111;
const opusPt = 101;
const producer = await plainIn.produce({
  kind: 'audio',
  rtpParameters: {
    codecs: [{ mimeType: 'audio/opus', payloadType: opusPt, clockRate: 48000, channels: 2 }],
    encodings: [{ ssrc }],
  },
});
const vp8Producer = await plainIn.produce({
  kind: 'video',
  rtpParameters: {
    codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
    encodings: [{ ssrc: 22_222_222 }],
  },
});

// Hop 1: router1 -> router2 through PipeTransports with SRTP (AES-CM + HMAC-SHA1).
const { pipeProducer } = await router1.pipeToRouter({
  producerId: producer.id,
  router: router2,
  keepId: false,
  enableSrtp: true,
  enableSctp: false,
  listenInfo,
});

// Hop 2: router2 -> router3 through two PlainTransports with SRTP (AES-256-GCM by default).
const gcm = {
  listenInfo,
  rtcpMux: true,
  comedia: false,
  enableSrtp: true,
  srtpCryptoSuite: srtpSuite,
};
// A UDP relay between them checks that what crosses the wire is not plaintext.
const srtpOut = await router2.createPlainTransport(gcm);
const srtpIn = await router3.createPlainTransport(gcm);
const relay = await bindSocket();
const relayPort = relay.address().port;
const sentPayloads = [];
let onWire = 0;
let plaintextOnWire = 0;
relay.on('message', (msg, rinfo) => {
  if (rinfo.port === srtpOut.tuple.localPort) {
    if (rtpPayloadOffset(msg) >= 0) {
      onWire += 1;
      if (sentPayloads.some((p) => msg.includes(p.subarray(0, 16)))) plaintextOnWire += 1;
    }
    relay.send(msg, srtpIn.tuple.localPort, ip);
  } else {
    relay.send(msg, srtpOut.tuple.localPort, ip);
  }
});
await srtpOut.connect({ ip, port: relayPort, srtpParameters: srtpIn.srtpParameters });
await srtpIn.connect({ ip, port: relayPort, srtpParameters: srtpOut.srtpParameters });
const srtpConsumer = await srtpOut.consume({
  producerId: pipeProducer.id,
  rtpCapabilities: router2.rtpCapabilities,
});
const producer3 = await srtpIn.produce({ kind: 'audio', rtpParameters: srtpConsumer.rtpParameters });

// Egress: router3 -> socket B, plain RTP.
const socketB = await bindSocket();
const plainOut = await router3.createPlainTransport({ listenInfo, rtcpMux: true, comedia: false });
await plainOut.connect({ ip, port: socketB.address().port });
const outConsumer = await plainOut.consume({
  producerId: producer3.id,
  rtpCapabilities: router3.rtpCapabilities,
});
const outPt = outConsumer.rtpParameters.codecs[0].payloadType;

const sent = new Map();
let received = 0;
let matched = 0;
socketB.on('message', (msg) => {
  const offset = rtpPayloadOffset(msg);
  if (offset < 0 || (msg[1] & 0x7f) !== outPt) return;
  received += 1;
  const payload = msg.subarray(offset);
  const key = payload.subarray(0, 8).toString('hex');
  if (sent.get(key)?.equals(payload)) matched += 1;
});

for (let i = 0; i < PACKETS; i += 1) {
  const payload = randomBytes(120);
  sent.set(payload.subarray(0, 8).toString('hex'), payload);
  sentPayloads.push(payload);
  socketA.send(rtpPacket(1000 + i, 960 * i, ssrc, opusPt, payload), plainIn.tuple.localPort, ip);
  await new Promise((r) => setTimeout(r, 20));
}
await new Promise((r) => setTimeout(r, 500));

const [srtpOutStats] = await srtpOut.getStats();
const [srtpInStats] = await srtpIn.getStats();
log(
  `RTP: sent ${PACKETS}, received ${received}, payloads identical ${matched}; ` +
    `${srtpSuite} hop: ${srtpOutStats.rtpBytesSent} B sent, ${srtpInStats.rtpBytesReceived} B received, ` +
    `${onWire} SRTP packets on the wire, ${plaintextOnWire} with plaintext payload`,
);
assert.ok(received >= PACKETS * 0.9, `received ${received} of ${PACKETS}`);
assert.equal(matched, received, 'every received payload equals a sent one');
assert.ok(srtpInStats.rtpBytesReceived > 0);
assert.ok(onWire >= received, 'the second hop carried the packets');
assert.equal(plaintextOnWire, 0, 'no plaintext payload on the SRTP wire');

// SRTCP both ways across the second hop: the consumer's round-trip time comes
// from its Sender Report and the Receiver Report that answers it.
let rtt = 0;
for (let i = 0; i < 60 && !(rtt > 0); i += 1) {
  const stats = await srtpConsumer.getStats();
  rtt = stats.find((s) => s.type === 'outbound-rtp')?.roundTripTime ?? 0;
  if (rtt > 0) break;
  socketA.send(
    rtpPacket(2000 + i, 960 * (PACKETS + i), ssrc, opusPt, randomBytes(120)),
    plainIn.tuple.localPort,
    ip,
  );
  await new Promise((r) => setTimeout(r, 100));
}
assert.ok(rtt > 0, 'SRTCP: round-trip time measured over the second hop');
log(`SRTCP: round-trip time ${rtt.toFixed(2)} ms over the ${srtpSuite} hop`);

const dump = await worker.dump();
assert.equal(dump.routerIds.length, 3);
log(`worker.dump(): ${dump.routerIds.length} routers, ${vp8Producer.kind} producer ${vp8Producer.type}`);

socketA.close();
socketB.close();
relay.close();
worker.close();
await subprocessClosed;
assert.ok(!died, 'worker did not die');
clearTimeout(deadline);
log('ok');

/**
 * Part 1 of bench/live.ts (its parts in bench/live/): join latency against a real talkroom process
 * (`node server/main.ts`, one media worker, embedded store), provisioned through
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
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { SlotsPage } from '../../protocol/answers.ts';
import { openStore } from '../../src/store/index.ts';
import { freePortBase } from '../../test/media/helpers.ts';
import { cleanupLater, type ServerProc, spawnServer, stopServer } from '../lib/processes.ts';
import { api, BookingAnswer, provisionRooms } from '../lib/rooms.ts';
import { HOST, log, sleep } from '../lib/util.ts';
import { summarise } from './join-analysis.ts';
import { browserRoute } from './join-browser.ts';
import { nodeRoute } from './join-node.ts';
import { JOIN_REPS, type JoinResult, ROUTE, type Setup } from './join-setup.ts';

export type { RoundTrips } from './join-analysis.ts';
export { JOIN_REPS, type JoinResult } from './join-setup.ts';

export async function runJoin(secret: string): Promise<JoinResult> {
  const result: JoinResult = { ok: false, route: 'none', reps: JOIN_REPS, samples: [] };
  let server: ServerProc | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-live-'));
  const removeDir = cleanupLater(() => rmSync(dataDir, { recursive: true, force: true }));
  const workerDeaths: string[] = [];
  try {
    // The join-token key, known to the bench, in place before the server starts.
    const joinKey = randomBytes(48).toString('base64url');
    const store = await openStore({ dataDir });
    await store.db.query(`INSERT INTO server_secrets (name, value) VALUES ('join_token_key', $1)`, [joinKey]);
    await store.db.close();

    const mediaPorts = await freePortBase(20);
    server = await spawnServer({
      label: 'talkroom',
      onRecord: (rec) => {
        if (rec.msg === 'media worker died') workerDeaths.push(`${rec.msg}: ${rec.err?.message ?? '?'}`);
      },
      env: {
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
      },
    });
    const srv = server;
    log(`[join] talkroom pid ${srv.pid} on ${srv.url}`);

    const allDay: Record<string, [string, string][]> = {};
    for (const d of ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) allDay[d] = [['00:00', '24:00']];
    const [spec] = await provisionRooms(srv.url, secret, 1, {
      prefix: 'bench-live',
      provider: { workingHours: allDay },
      periodStart: `${new Date().toISOString().slice(0, 8)}01`,
    });
    const room = { id: spec!.roomId };
    const [clientId, providerId] = spec!.userIds;
    const [clientJwt, providerJwt] = spec!.tokens;
    const { slots } = SlotsPage.parse(
      await api(srv.url, clientJwt, 'GET', `/v1/providers/${providerId}/slots`),
    );
    const slot = slots[0];
    if (!slot) throw new Error('no open slot for the provider');
    const { booking } = BookingAnswer.parse(
      await api(srv.url, clientJwt, 'POST', '/v1/bookings', {
        roomId: room.id,
        modality: 'video',
        startsAt: slot.startsAt,
      }),
    );
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
      workerDeaths,
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
        result.browserFailure = { error: msg, workerDeaths: [...workerDeaths] };
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
      result.serverProblems = server.problems.samples;
      await stopServer(server);
    }
    await removeDir();
  }
  return result;
}

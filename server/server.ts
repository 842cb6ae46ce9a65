import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MediaPool } from '../media/index.ts';
import { logSocketConnections } from '../signaling/connection-log.ts';
import { socketLiveEvents } from '../signaling/live.ts';
import type { IoServer } from '../signaling/room-events.ts';
import { socketRoomEvents } from '../signaling/room-events.ts';
import { attachSignaling, createIo } from '../signaling/server.ts';
import { AddressLimiter } from '../src/auth/address-limiter.ts';
import { JoinTokens } from '../src/auth/join-tokens.ts';
import { embeddedSecret, TokenVerifier } from '../src/auth/tokens.ts';
import { type Clock, systemClock } from '../src/clock.ts';
import { ClusterMedia } from '../src/cluster/media/cluster-media.ts';
import type { Config } from '../src/config.ts';
import { createHttpApp } from '../src/http/app.ts';
import { extension } from '../src/http/attachments.ts';
import { InFlight } from '../src/inflight.ts';
import type { Scheduler } from '../src/jobs/scheduler.ts';
import { createLogger, type Logger } from '../src/log.ts';
import { createMetrics } from '../src/metrics.ts';
import { AttachmentService } from '../src/services/attachments.ts';
import { AuditLog } from '../src/services/audit.ts';
import { BookingService } from '../src/services/bookings.ts';
import { CreditService } from '../src/services/credits.ts';
import type { ServiceDeps } from '../src/services/deps.ts';
import { Erasure } from '../src/services/erasure.ts';
import { UserExport } from '../src/services/export.ts';
import { FailedJobs } from '../src/services/failed-jobs.ts';
import { JoinAccess } from '../src/services/join-access.ts';
import { JoinLinks } from '../src/services/join-links.ts';
import { LiveService } from '../src/services/live.ts';
import { Attendance } from '../src/services/live-attendance.ts';
import { MessageService } from '../src/services/messages.ts';
import type { MessagingSessionGate } from '../src/services/ports.ts';
import { ProvisioningService } from '../src/services/provisioning.ts';
import { RekeyService } from '../src/services/rekey.ts';
import { Retention } from '../src/services/retention.ts';
import { RoomService } from '../src/services/rooms.ts';
import { turnIceServers } from '../src/services/turn.ts';
import { DomainEvents, UnitOfWork } from '../src/services/unit-of-work.ts';
import { Webhooks } from '../src/services/webhooks.ts';
import type { Store } from '../src/store/index.ts';
import { JobStore } from '../src/store/jobs.ts';
import { OpsQueries } from '../src/store/ops.ts';
import { openMedia, openStoreFor } from './resources.ts';
import { createScheduler } from './scheduler.ts';
import { openSharedState } from './shared-state.ts';

export interface StartOptions {
  clock?: Clock;
  /** Replaces the bookings-backed messaging-session gate (tests). */
  gate?: MessagingSessionGate;
  /** false: no media workers (tests that need no live media start faster). */
  media?: boolean;
  /** Run the scheduler's loop (default). Tests on a manual clock turn it off and call scheduler.runDue(). */
  runScheduler?: boolean;
  logger?: Logger;
  /** Use an in-memory embedded store instead of DATA_DIR (tests). */
  memoryStore?: boolean;
  /** false: store message text, meta and recordings in clear (the messaging benchmark's comparison run only; no setting reaches it). */
  encryption?: false;
}

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  store: Store;
  io: IoServer;
  http: HttpServer;
  log: Logger;
  scheduler: Scheduler;
  bookings: BookingService;
  /** The SFU, when this node runs one. */
  media: MediaPool | undefined;
  /** Graceful: stops taking work, finishes in-flight acknowledgements, then closes everything. */
  close(): Promise<void>;
}

/**
 * The composition root: config → store → shared state → services →
 * transports, each piece made once and handed down. It sits above src/,
 * signaling/ and media/, and only server/main.ts (with the tests and
 * benchmarks) imports it, so arrows run one way: server → transports →
 * services → domain and store.
 */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const inflight = new InFlight();
  const store = await openStoreFor(config, opts);

  // With AUTH_JWKS_URL alone, tokens must name a key of the set: nothing is generated.
  const generatedSecret = !config.auth.secret && !config.auth.publicKey && !config.auth.jwksUrl;
  const verifier = new TokenVerifier(
    generatedSecret ? { ...config.auth, secret: embeddedSecret(config.dataDir) } : config.auth,
  );

  const shared = await openSharedState(config, log);
  const { redis, nodeId, liveness, presence, wake } = shared;

  const http = createServer();
  const addresses = new AddressLimiter(config.addressLimits);
  // Attached to the HTTP server below, once the Express app is its request listener.
  const io = await createIo(
    undefined,
    redis && { ...redis, prefix: config.redisPrefix, adapter: config.redisAdapter },
    addresses,
    config.corsOrigins,
  );
  const roomEvents = socketRoomEvents(io);
  const liveEvents = socketLiveEvents(io);

  // What a committed change makes happen beyond the store: the hooks, wired once.
  const events = new DomainEvents(log)
    .on('message.stored', (e) => roomEvents.messageNew(e.message, e.audience))
    .on('booking.changed', (e) => metrics.bookingTransitions.inc({ to: e.status }))
    .on('jobs.scheduled', () => wake.notify());
  const uow = new UnitOfWork(store.db, events);
  const wakeScheduler = () => wake.notify();

  // Known once listening (PORT=0 picks the port).
  const publicUrl = () => config.publicUrl ?? listeningUrl(config, http);
  const webhooks = new Webhooks(config.webhook);
  const joinTokens = await JoinTokens.load(store.db);
  const joinAccess = new JoinAccess({ db: store.db, joinTokens, clock });
  const credits = new CreditService({ uow, clock, webhooks, policy: config.policy });
  const bookings = new BookingService({
    uow,
    store,
    clock,
    credits,
    webhooks,
    joinTokens,
    publicUrl,
    policy: config.policy,
  });
  const deps: ServiceDeps = {
    store,
    clock,
    log,
    metrics,
    config,
    events: roomEvents,
    // eap and bh_insurance clients message inside a booked messaging session.
    gate: opts.gate ?? bookings.gate,
    wakeScheduler,
    publish: (...e) => events.publish(e),
  };

  // MEDIA_WORKERS=0: a node that serves messaging and bookings only.
  const wantMedia = opts.media !== false && config.media.workers !== 0;
  const media = wantMedia ? await openMedia(config, log) : undefined;
  // In a cluster a live session's router lives on one node; the others relay to it.
  const placed =
    media && redis
      ? await new ClusterMedia({
          local: media,
          redis,
          prefix: config.redisPrefix,
          log,
          nodeId,
          liveness,
        }).start()
      : undefined;
  const sessions = placed ?? media;
  const live = new LiveService({
    attendance: new Attendance(bookings.lifecycle, liveness),
    media: sessions,
    events: liveEvents,
    log,
    iceServers: (userId) => turnIceServers(config.turn, userId),
  });
  sessions?.onSessionLost((bookingId: string) => live.mediaLost(bookingId));
  events
    .on('session.started', (e) => {
      if (e.modality !== 'messaging') liveEvents.started({ bookingId: e.bookingId, startedAt: e.startedAt });
    })
    .on('session.ended', (e) => live.sessionEnded(e.bookingId, e.status));

  const rooms = new RoomService(deps, presence);
  const messages = new MessageService(deps);
  const provisioning = new ProvisioningService(deps, credits);
  const attachments = new AttachmentService(deps);
  const rekey = new RekeyService({ db: store.db, clock, log, wakeScheduler });
  const retention = new Retention({ db: store.db, clock, log, metrics, retention: config.retention });
  await retention.schedule();
  const scheduler = createScheduler({
    db: store.db,
    clock,
    log,
    metrics,
    config,
    handlers: {
      ...bookings.timers,
      'billing.rollover': credits.rollover,
      'webhook.deliver': webhooks.deliver,
      'privacy.rekey': rekey.run,
      'privacy.retention': retention.run,
    },
  });
  wake.onWake(() => scheduler.wake());

  const ops = new OpsQueries(store.db);
  const jobStore = new JobStore(store.db);
  metrics.observe({
    socketsByRole: () => {
      const counts: Record<string, number> = {};
      for (const socket of io.of('/').sockets.values()) {
        const role = socket.data.identity?.role;
        if (role) counts[role] = (counts[role] ?? 0) + 1;
      }
      return counts;
    },
    liveSessions: () => ops.liveSessions(),
    media: () => {
      if (!media) return undefined;
      const workers = media.stats();
      return { workers: workers.length, consumers: workers.reduce((n, w) => n + w.consumers, 0) };
    },
    jobsDue: () => jobStore.countDue(clock.now()),
  });

  attachSignaling({
    io,
    verifier,
    joinAccess,
    rooms,
    messages,
    live,
    presence,
    clock,
    log,
    metrics,
    inflight,
    messageMaxChars: config.messageMaxChars,
    rateLimit: config.socketRateLimit,
    maxSocketsPerUser: config.socketsPerUser,
    addressLimiter: addresses,
  });
  const app = createHttpApp({
    config,
    verifier,
    addresses,
    clock,
    log,
    metrics,
    inflight,
    provisioning,
    rooms,
    messages,
    attachments,
    bookings,
    credits,
    failedJobs: new FailedJobs({ db: store.db, clock, wakeScheduler }),
    rekey,
    audit: new AuditLog(store.db),
    exports: new UserExport({ store, clock, extension }),
    erasure: new Erasure({ db: store.db, clock }),
    joinLinks: new JoinLinks({ db: store.db, bookings, policy: config.policy }),
    joinAccess,
    readiness: async () => {
      const checks: Record<string, 'ok' | 'degraded' | 'down'> = {};
      checks.store = await store.db.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      );
      if (redis) checks.redis = redis.ready() ? 'ok' : 'degraded';
      if (wantMedia) checks.media = media?.ready ? 'ok' : 'degraded';
      return checks;
    },
  });

  // The HTTP server gets the Express app before Socket.IO attaches: engine.io then
  // takes its own path and hands every other request on. A listener added after it
  // would also answer /socket.io/ and race engine.io for the same response.
  http.on('request', app);
  io.attach(http);
  // Its engine exists once attached.
  logSocketConnections(io, log);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  if (opts.runScheduler ?? true) scheduler.start();
  const url = `http://${config.host}:${port}`;
  log.info(
    { port, url, store: store.db.kind, redis: !!redis, publicUrl: publicUrl(), nodeId },
    'talkroom listening',
  );
  if (generatedSecret) {
    log.info(
      { secretFile: `${config.dataDir}/jwt-secret` },
      'no AUTH_JWT_SECRET set: using a generated one; mint a token with `npm run token -- --sub alice --role client`',
    );
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      log.info({ inFlight: inflight.count }, 'shutting down');
      // /readyz answers 503 from here on: a load balancer stops sending new work at once.
      inflight.stopTaking();
      http.close();
      await scheduler.stop();
      await placed?.close();
      await media?.close();
      const drained = await inflight.drain(config.shutdownGraceMs);
      if (!drained) log.warn({ inFlight: inflight.count }, 'shutdown grace ran out with requests in flight');
      // What clients sent before they heard is read and answered (`unavailable`) before their connections close.
      await inflight.quiesce(100, 2000);
      // Closing the transport, not the Socket.IO session ("io server disconnect"),
      // is what makes clients reconnect by themselves, to another node in a
      // cluster. engine.io closes each connection once its buffered answers are written.
      for (const socket of io.of('/').sockets.values()) socket.conn.close();
      const flushBy = Date.now() + 2000;
      while (io.engine.clientsCount > 0 && Date.now() < flushBy) await new Promise((r) => setTimeout(r, 10));
      // Idle keep-alive connections would hold the HTTP server open forever.
      http.closeAllConnections();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await shared.close();
      await store.db.close();
      log.info('stopped');
    })());

  return { url, port, config, store, io, http, log, scheduler, bookings, media, close };
}

/** This node's own address: the configured port until it listens, then the one it got (PORT=0 picks it). */
function listeningUrl(config: Config, http: HttpServer): string {
  const bound = http.address() as AddressInfo | null;
  return `http://${config.host}:${bound?.port ?? config.port}`;
}

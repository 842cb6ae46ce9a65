import { randomBytes } from 'node:crypto';
import {
  createServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { MediaPool } from '../media/index.ts';
import { socketLiveEvents } from '../signaling/live.ts';
import type { IoServer } from '../signaling/room-events.ts';
import { socketRoomEvents } from '../signaling/room-events.ts';
import { attachSignaling, createIo } from '../signaling/server.ts';
import { AddressLimiter } from './auth/address-limiter.ts';
import { JoinTokens } from './auth/join-tokens.ts';
import { embeddedSecret, TokenVerifier } from './auth/tokens.ts';
import { type Clock, systemClock } from './clock.ts';
import { ClusterMedia } from './cluster/media/cluster-media.ts';
import { RedisNodeLiveness } from './cluster/node-liveness.ts';
import { RedisPresence } from './cluster/presence.ts';
import { connectRedis } from './cluster/redis.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { logSocketConnections } from './http/access-log.ts';
import { createHttpApp } from './http/app.ts';
import { extension } from './http/attachments.ts';
import { InFlight } from './inflight.ts';
import { Scheduler } from './jobs/scheduler.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { embeddedKeys, Keyring } from './privacy/keyring.ts';
import { AttachmentService } from './services/attachments.ts';
import { AuditLog } from './services/audit.ts';
import { BookingService } from './services/bookings.ts';
import { CreditService } from './services/credits.ts';
import type { ServiceDeps } from './services/deps.ts';
import { Erasure } from './services/erasure.ts';
import { UserExport } from './services/export.ts';
import { FailedJobs } from './services/failed-jobs.ts';
import { JoinAccess } from './services/join-access.ts';
import { JoinLinks } from './services/join-links.ts';
import { LiveService } from './services/live.ts';
import { localLiveness, type NodeLiveness } from './services/liveness.ts';
import { MessageService } from './services/messages.ts';
import { type MessagingSessionGate, noMessagingSessions } from './services/ports.ts';
import { localPresence, type PresenceStore } from './services/presence.ts';
import { ProvisioningService } from './services/provisioning.ts';
import { REKEY_JOB, RekeyService } from './services/rekey.ts';
import { RETENTION_JOB, Retention } from './services/retention.ts';
import { RoomService } from './services/rooms.ts';
import { turnIceServers } from './services/turn.ts';
import { Webhooks } from './services/webhooks.ts';
import { openStore, type Store } from './store/index.ts';
import { JobStore } from './store/jobs.ts';
import { MigrationChecksumError } from './store/migrate.ts';
import { OpsQueries } from './store/ops.ts';

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

/** The one place that assembles talkroom: config → store → services → transports. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const inflight = new InFlight();

  // ENCRYPTION_KEYS, else (embedded only) a key generated under DATA_DIR; an in-memory store's dies with it.
  const keyring =
    opts.encryption === false
      ? undefined
      : config.encryptionKeys
        ? new Keyring(config.encryptionKeys)
        : opts.memoryStore
          ? Keyring.ephemeral()
          : new Keyring(embeddedKeys(config.dataDir));
  const store = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: opts.memoryStore ? undefined : config.dataDir,
    poolSize: config.dbPoolSize,
    keyring,
  });

  // With AUTH_JWKS_URL alone, tokens must name a key of the set: nothing is generated.
  const generatedSecret = !config.auth.secret && !config.auth.publicKey && !config.auth.jwksUrl;
  const verifier = new TokenVerifier(
    generatedSecret ? { ...config.auth, secret: embeddedSecret(config.dataDir) } : config.auth,
  );

  const redis = config.redisUrl ? await connectRedis(config.redisUrl, log) : undefined;

  // One id per process: live presence and live-session placement both name the node by it.
  const nodeId = randomBytes(8).toString('hex');
  const heartbeat = redis
    ? await new RedisNodeLiveness({
        redis,
        prefix: config.redisPrefix,
        nodeId,
        log,
        ttlMs: config.cluster.heartbeatTtlMs,
      }).start()
    : undefined;
  const liveness: NodeLiveness = heartbeat ?? localLiveness(nodeId);
  // Who has a socket open: cluster-wide over Redis, with this node's counts expiring with its heartbeat.
  const presence: PresenceStore = redis
    ? await new RedisPresence({
        redis,
        prefix: config.redisPrefix,
        nodeId,
        liveness,
        log,
        ttlMs: config.cluster.heartbeatTtlMs,
      }).start()
    : localPresence();

  // The HTTP server gets the Express app before Socket.IO attaches: engine.io then
  // takes its own path and hands every other request on. A listener added after it
  // would also answer /socket.io/ and race engine.io for the same response.
  let app: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const http = createServer((req, res) => app!(req, res));
  const addresses = new AddressLimiter(config.addressLimits);
  const io = createIo(http, redis && { ...redis, prefix: config.redisPrefix }, addresses, config.corsOrigins);
  // The gate is the bookings' (eap and bh_insurance clients message inside a
  // booked messaging session); it is resolved late because bookings need deps too.
  let gate: MessagingSessionGate = opts.gate ?? noMessagingSessions;
  const deps: ServiceDeps = {
    store,
    clock,
    log,
    metrics,
    config,
    events: socketRoomEvents(io),
    gate: {
      isOpen: (roomId, clientId, at) => gate.isOpen(roomId, clientId, at),
      sessionChat: (roomId, bookingId, at) => gate.sessionChat(roomId, bookingId, at),
    },
    wakeScheduler: () => wakeScheduler(),
  };
  // Known once listening (PORT=0 picks the port).
  let publicUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
  const webhooks = new Webhooks(config.webhook);
  const joinTokens = await JoinTokens.load(store.db);
  const joinAccess = new JoinAccess({ db: store.db, joinTokens, clock });
  const wakeChannel = `${config.redisPrefix}:jobs`;
  let scheduler: Scheduler;
  const wakeScheduler = () => {
    scheduler.wake();
    // Other nodes sleep until their next known job; tell them about this one.
    redis?.pub.publish(wakeChannel, '1').catch(() => {});
  };
  const credits = new CreditService({ ...deps, webhooks });
  const bookings = new BookingService({
    ...deps,
    credits,
    webhooks,
    joinTokens,
    publicUrl: () => publicUrl,
    policy: config.policy,
    sessionEnded: (bookingId, status) => live.sessionEnded(bookingId, status),
    liveness,
  });
  if (!opts.gate) gate = bookings.gate;
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
    bookings,
    media: sessions,
    events: socketLiveEvents(io),
    log,
    iceServers: (userId) => turnIceServers(config.turn, userId),
  });
  sessions?.onSessionLost((bookingId: string) => live.mediaLost(bookingId));
  const rooms = new RoomService(deps, presence);
  const messages = new MessageService(deps);
  const provisioning = new ProvisioningService(deps, credits);
  const attachments = new AttachmentService(deps);
  const rekey = new RekeyService({ db: store.db, clock, log, wakeScheduler });
  const retention = new Retention({ db: store.db, clock, log, metrics, retention: config.retention });
  await retention.schedule();
  scheduler = new Scheduler({
    db: store.db,
    clock,
    log,
    leaseMs: config.scheduler.leaseMs,
    maxIdleMs: config.scheduler.maxIdleMs,
    handlers: {
      ...bookings.jobHandlers,
      'billing.rollover': (job) => credits.rollover(String(job.payload.clientId)),
      'webhook.deliver': webhooks.deliver,
      [REKEY_JOB]: rekey.run,
      [RETENTION_JOB]: retention.run,
    },
    maxAttempts: (kind) => (kind === 'webhook.deliver' ? 12 : 5),
    onOutcome: (job, outcome) => {
      if (outcome === 'failed') metrics.jobsFailed.inc({ kind: job.kind });
      if (job.kind === 'webhook.deliver') {
        metrics.webhookDeliveries.inc({
          outcome: outcome === 'done' ? 'delivered' : outcome === 'retry' ? 'retried' : 'failed',
        });
      }
    },
  });
  if (redis) await redis.sub.subscribe(wakeChannel, () => scheduler.wake());

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

  logSocketConnections(io, log);
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
  app = createHttpApp({
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

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  if (opts.runScheduler ?? true) scheduler.start();
  const url = `http://${config.host}:${port}`;
  publicUrl = config.publicUrl ?? url;
  log.info({ port, url, store: store.db.kind, redis: !!redis, publicUrl, nodeId }, 'talkroom listening');
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
      await presence.close();
      await heartbeat?.close();
      await redis?.close();
      await store.db.close();
      log.info('stopped');
    })());

  return { url, port, config, store, io, http, log, scheduler, bookings, media, close };
}

/** The SFU; a node without it still serves messaging and bookings (/readyz says degraded). */
async function openMedia(config: Config, log: Logger): Promise<MediaPool | undefined> {
  try {
    return await MediaPool.create(config.media, log);
  } catch (e) {
    log.error(
      { err: (e as Error).message },
      'media workers failed to start; live audio and video are unavailable',
    );
    return undefined;
  }
}

if (import.meta.main) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
  let server: RunningServer;
  try {
    server = await startServer(config);
  } catch (e) {
    // Like a bad setting: a changed migration is fixed by the operator, not by a restart.
    if (e instanceof MigrationChecksumError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      server.close().then(
        () => process.exit(0),
        (e) => {
          server.log.error({ err: e }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

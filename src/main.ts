import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IoServer } from '../signaling/room-events.ts';
import { socketRoomEvents } from '../signaling/room-events.ts';
import { attachSignaling, createIo } from '../signaling/server.ts';
import { embeddedSecret, TokenVerifier } from './auth/tokens.ts';
import { type Clock, systemClock } from './clock.ts';
import { connectRedis } from './cluster/redis.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { createHttpApp } from './http/app.ts';
import { InFlight } from './inflight.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { AttachmentService } from './services/attachments.ts';
import type { ServiceDeps } from './services/deps.ts';
import { MessageService } from './services/messages.ts';
import { type MessagingSessionGate, noMessagingSessions } from './services/ports.ts';
import { ProvisioningService } from './services/provisioning.ts';
import { RoomService } from './services/rooms.ts';
import { openStore, type Store } from './store/index.ts';

export interface StartOptions {
  clock?: Clock;
  gate?: MessagingSessionGate;
  logger?: Logger;
  /** Use an in-memory embedded store instead of DATA_DIR (tests). */
  memoryStore?: boolean;
}

export interface RunningServer {
  url: string;
  port: number;
  config: Config;
  store: Store;
  io: IoServer;
  http: HttpServer;
  log: Logger;
  /** Graceful: stops taking work, finishes in-flight acknowledgements, then closes everything. */
  close(): Promise<void>;
}

/** The one place that assembles talkroom: config → store → services → transports. */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const inflight = new InFlight();

  const store = await openStore({
    databaseUrl: config.databaseUrl,
    dataDir: opts.memoryStore ? undefined : config.dataDir,
    poolSize: config.dbPoolSize,
  });

  const generatedSecret = !config.auth.secret && !config.auth.publicKey;
  const verifier = new TokenVerifier(
    generatedSecret ? { ...config.auth, secret: embeddedSecret(config.dataDir) } : config.auth,
  );

  const redis = config.redisUrl ? await connectRedis(config.redisUrl, log) : undefined;

  const http = createServer();
  const io = createIo(http, redis && { ...redis, prefix: config.redisPrefix });
  const deps: ServiceDeps = {
    store,
    clock,
    log,
    metrics,
    config,
    events: socketRoomEvents(io),
    gate: opts.gate ?? noMessagingSessions,
  };
  const rooms = new RoomService(deps);
  const messages = new MessageService(deps);
  const provisioning = new ProvisioningService(deps);
  const attachments = new AttachmentService(deps);

  attachSignaling({
    io,
    verifier,
    rooms,
    messages,
    clock,
    log,
    metrics,
    inflight,
    messageMaxChars: config.messageMaxChars,
    rateLimit: config.socketRateLimit,
  });
  const app = createHttpApp({
    config,
    verifier,
    clock,
    log,
    metrics,
    inflight,
    provisioning,
    rooms,
    messages,
    attachments,
    readiness: async () => {
      const checks: Record<string, 'ok' | 'degraded' | 'down'> = {};
      checks.store = await store.db.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      );
      if (redis) checks.redis = redis.ready() ? 'ok' : 'degraded';
      return checks;
    },
  });
  http.on('request', app);

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  const url = `http://${config.host}:${port}`;
  log.info(
    { port, url, store: store.db.kind, redis: !!redis, publicUrl: config.publicUrl ?? url },
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
      http.close();
      const drained = await inflight.drain(config.shutdownGraceMs);
      if (!drained) log.warn({ inFlight: inflight.count }, 'shutdown grace ran out with requests in flight');
      // Each connection closes once its last buffered acknowledgement is written;
      // forcing them (engine.io's own close) would discard what is still buffered.
      io.local.disconnectSockets(true);
      const flushBy = Date.now() + 2000;
      while (io.engine.clientsCount > 0 && Date.now() < flushBy) await new Promise((r) => setTimeout(r, 10));
      // Idle keep-alive connections would hold the HTTP server open forever.
      http.closeAllConnections();
      await new Promise<void>((resolve) => io.close(() => resolve()));
      await redis?.close();
      await store.db.close();
      log.info('stopped');
    })());

  return { url, port, config, store, io, http, log, close };
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
  const server = await startServer(config);
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

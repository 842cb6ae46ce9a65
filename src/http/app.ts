import { createHash, timingSafeEqual } from 'node:crypto';
import cors from 'cors';
import express, { type NextFunction, type Request, type Response } from 'express';
import { RateLimiterMemory, type RateLimiterRes } from 'rate-limiter-flexible';
import { API_VERSION, asyncApiDocument, openApiDocument } from '../../protocol/documents.ts';
import {
  CreateRoomBody,
  EmptyBody,
  EscalationBody,
  FailedJobsQuery,
  HistoryQuery,
  PutPlanBody,
  PutUserBody,
  RoomsQuery,
  sendMessageSchema,
  TicketBody,
} from '../../protocol/inputs.ts';
import type { AddressLimiter } from '../auth/address-limiter.ts';
import { bearerToken, type Identity, type TokenVerifier } from '../auth/tokens.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { AppError, toPublicError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { parse } from '../parse.ts';
import type { AttachmentService } from '../services/attachments.ts';
import type { AuditLog } from '../services/audit.ts';
import type { BookingService } from '../services/bookings.ts';
import type { CreditService } from '../services/credits.ts';
import type { Erasure } from '../services/erasure.ts';
import type { UserExport } from '../services/export.ts';
import type { FailedJobs } from '../services/failed-jobs.ts';
import type { JoinAccess } from '../services/join-access.ts';
import type { JoinLinks } from '../services/join-links.ts';
import type { MessageService } from '../services/messages.ts';
import type { ProvisioningService } from '../services/provisioning.ts';
import type { RekeyService } from '../services/rekey.ts';
import { publicRoom } from '../services/room-view.ts';
import type { RoomService } from '../services/rooms.ts';
import { accessLog } from './access-log.ts';
import { attachmentRoutes } from './attachments.ts';
import { bookingRoutes } from './bookings.ts';
import { privacyRoutes } from './privacy.ts';
import { actor, areaRoutes, only, param } from './route-kit.ts';
import { webRoutes } from './web.ts';

export interface HttpDeps {
  config: Config;
  verifier: TokenVerifier;
  /** Throttles failed sign-ins by address. */
  addresses: AddressLimiter;
  clock: Clock;
  log: Logger;
  metrics: Metrics;
  inflight: InFlight;
  provisioning: ProvisioningService;
  rooms: RoomService;
  messages: MessageService;
  attachments: AttachmentService;
  bookings: BookingService;
  credits: CreditService;
  failedJobs: FailedJobs;
  joinLinks: JoinLinks;
  joinAccess: JoinAccess;
  rekey: RekeyService;
  audit: AuditLog;
  exports: UserExport;
  erasure: Erasure;
  /** Where the built web pages are (web/dist unless a test says otherwise). */
  webDist?: string;
  /** Readiness of each dependency: name → healthy. */
  readiness: () => Promise<Record<string, 'ok' | 'degraded' | 'down'>>;
}

declare module 'express-serve-static-core' {
  interface Request {
    identity?: Identity;
  }
}

export function createHttpApp(d: HttpDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  const sendSchema = sendMessageSchema(d.config.messageMaxChars);
  const limiter = new RateLimiterMemory({ points: d.config.httpRateLimit, duration: 1 });

  app.use(accessLog(d.log));
  // Browsers on the listed origins may call the API; a preflight is answered
  // here (204) before any token is asked for. Tokens travel in a header, never
  // in cookies, so no credentials mode.
  app.use(
    cors({
      origin: d.config.corsOrigins,
      methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['Retry-After', 'X-Request-Id', 'WWW-Authenticate'],
      maxAge: 600,
    }),
  );

  app.use((req, res, next) => {
    res.on('finish', () => {
      const route = req.route?.path
        ? `${req.method} ${req.baseUrl}${req.route.path}`
        : `${req.method} (unmatched)`;
      d.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
    });
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const checks = await d.readiness();
    const values = Object.values(checks);
    const status =
      d.inflight.draining || values.includes('down')
        ? 'down'
        : values.includes('degraded')
          ? 'degraded'
          : 'ok';
    res.status(status === 'down' ? 503 : 200).json({ status, checks });
  });
  app.get('/metrics', async (req, res) => {
    if (d.config.metricsToken && !sameSecret(bearerOrNothing(req), d.config.metricsToken)) {
      res.set('WWW-Authenticate', 'Bearer');
      throw new AppError('unauthenticated', 'metrics need the METRICS_TOKEN as a bearer token');
    }
    res.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });

  // The reference web pages (a join link's session page, /app) and their built assets.
  app.use(webRoutes(d));

  const { router: v1, tracked, answer } = areaRoutes(d.inflight);
  v1.use(async (req, res, next) => {
    if (d.inflight.draining) throw new AppError('unavailable', 'the server is shutting down; retry');
    const ip = req.socket.remoteAddress ?? 'unknown';
    // An address that keeps failing is refused before its token is even read.
    if (await d.addresses.blocked(ip)) {
      res.set('Retry-After', String(await d.addresses.retryAfter(ip)));
      throw new AppError('rate_limited', 'too many failed sign-ins from this address; wait a moment');
    }
    // A join link is a credential of its own: its page reads what it grants with nothing else.
    if (req.method === 'GET' && JOIN_INFO.test(req.path) && !req.headers.authorization) {
      await consume(limiter, `address:${ip}`, res);
      return next();
    }
    try {
      req.identity = await d.verifier.verify(bearerToken(req.headers.authorization), d.clock.now().getTime());
    } catch (e) {
      // An unreachable key set (AUTH_JWKS_URL) is not the caller's failed sign-in.
      if (!(e instanceof AppError && e.code === 'unavailable')) await d.addresses.failed(ip);
      throw e;
    }
    await consume(limiter, req.identity.id, res);
    next();
  });
  v1.use(express.json({ limit: '256kb' }));

  // Provisioning (the platform's backend).
  v1.put(
    '/users/:id',
    only('admin'),
    tracked(async (req, res) => {
      const { user, created } = await d.provisioning.putUser(
        actor(req),
        param(req, 'id'),
        parse(PutUserBody, req.body),
      );
      res.status(created ? 201 : 200).json({ user });
    }),
  );
  v1.put(
    '/users/:id/plan',
    only('admin'),
    answer(async (req) => ({
      plan: await d.provisioning.putPlan(actor(req), param(req, 'id'), parse(PutPlanBody, req.body)),
    })),
  );

  // Rooms.
  v1.post(
    '/rooms',
    only('admin'),
    tracked(async (req, res) => {
      const { room, created } = await d.provisioning.createRoom(actor(req), parse(CreateRoomBody, req.body));
      res.status(created ? 201 : 200).json({ room: publicRoom(room) });
    }),
  );
  v1.get(
    '/rooms',
    answer((req) => d.rooms.page(actor(req), parse(RoomsQuery, req.query, 'query'))),
  );
  v1.get(
    '/rooms/:id',
    answer(async (req) => ({ room: await d.rooms.get(actor(req), param(req, 'id')) })),
  );
  v1.get(
    '/rooms/:id/messages',
    answer((req) =>
      d.messages.history(actor(req), parse(HistoryQuery, { ...req.query, roomId: req.params.id }, 'query')),
    ),
  );
  v1.post(
    '/rooms/:id/messages',
    tracked(async (req, res) => {
      const roomId = param(req, 'id');
      const body = req.body && typeof req.body === 'object' ? req.body : {};
      if (body.roomId !== undefined && body.roomId !== roomId) {
        throw new AppError('invalid_input', 'roomId: differs from the room in the path');
      }
      const input = parse(sendSchema, { ...body, roomId });
      res.status(201).json({ message: await d.messages.send(actor(req), input) });
    }),
  );
  v1.post(
    '/rooms/:id/escalations',
    answer(async (req) => {
      const { to } = parse(EscalationBody, req.body);
      return { room: await d.rooms.escalate(actor(req), param(req, 'id'), to) };
    }, 201),
  );
  v1.put(
    '/rooms/:id/ticket',
    answer(async (req) => {
      const change = parse(TicketBody, req.body);
      return { room: await d.rooms.updateTicket(actor(req), param(req, 'id'), change) };
    }),
  );

  // Voice and video recordings: streamed in and out one chunk at a time.
  v1.use(attachmentRoutes(d));

  // Bookings, credits and join links.
  v1.use(bookingRoutes(d));

  // Jobs that used up their attempts (webhook deliveries among them): listed and run again.
  v1.get(
    '/admin/jobs/failed',
    only('admin'),
    answer((req) => d.failedJobs.list(parse(FailedJobsQuery, req.query, 'query'))),
  );
  v1.post(
    '/admin/jobs/:id/retry',
    only('admin'),
    answer((req) => {
      parse(EmptyBody, req.body ?? {});
      return d.failedJobs.retry(param(req, 'id'));
    }),
  );

  // The API descriptions, generated from the contract's schemas once per app. No token needed: they
  // describe the API and grant nothing (served before the /v1 router's sign-in).
  let documents: { openapi: object; asyncapi: object } | undefined;
  const described = () => {
    documents ??= {
      openapi: openApiDocument({
        version: API_VERSION,
        ...(d.config.publicUrl ? { serverUrl: d.config.publicUrl } : {}),
      }),
      asyncapi: asyncApiDocument({
        version: API_VERSION,
        ...(d.config.publicUrl ? { host: new URL(d.config.publicUrl).host } : {}),
      }),
    };
    return documents;
  };
  app.get('/v1/openapi.json', (_req, res) => {
    res.json(described().openapi);
  });
  app.get('/v1/asyncapi.json', (_req, res) => {
    res.json(described().asyncapi);
  });

  v1.use(privacyRoutes(d));
  app.use('/v1', v1);

  app.use((_req, _res, next) => next(new AppError('not_found', 'no such route')));
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    // A failure after the answer began (a stream) can only end the connection.
    if (res.headersSent) return next(err);
    const mapped = unreadableRequest(err) ?? err;
    const pub = toPublicError(mapped);
    // Only a fault of ours is an error in the log; what clients get wrong is theirs to see.
    if (pub.code === 'internal') d.log.error({ err, reqId: req.requestId }, 'request failed');
    const status = mapped instanceof AppError ? mapped.httpStatus : 500;
    if (pub.code === 'unauthenticated' || pub.code === 'token_expired') res.set('WWW-Authenticate', 'Bearer');
    // Every 429 says when to come back; the limiters set a precise one, anything else a second.
    if (status === 429 && !res.get('Retry-After')) res.set('Retry-After', '1');
    res.status(status).json({ error: pub });
  });
  return app;
}

const bearerOrNothing = (req: Request): string => {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1] ?? '';
};

/** Compares secrets in constant time (over their hashes, so lengths may differ). */
const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(
    createHash('sha256').update(given).digest(),
    createHash('sha256').update(expected).digest(),
  );

/**
 * A request Express or body-parser could not read (a path that is not valid
 * percent-encoding, malformed JSON, a body that is not the gzip it claims, an
 * unknown charset, an aborted upload) is the client's fault: a 4xx with our
 * code. Their own messages quote the request, so they are replaced.
 */
function unreadableRequest(err: unknown): AppError | null {
  if (err instanceof AppError || typeof err !== 'object' || err === null) return null;
  const { type, status, statusCode } = err as { type?: unknown; status?: unknown; statusCode?: unknown };
  switch (type) {
    case 'entity.parse.failed':
      return new AppError('invalid_input', 'body: malformed JSON');
    case 'entity.too.large':
      return new AppError('payload_too_large', 'body: too large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError('invalid_input', 'body: unsupported encoding');
  }
  // Express's router marks a path it cannot decode as a 400 URIError.
  if (err instanceof URIError) return new AppError('invalid_input', 'path: malformed percent-encoding');
  const code = typeof status === 'number' ? status : statusCode;
  if (typeof code === 'number' && code >= 400 && code < 500) {
    return code === 413
      ? new AppError('payload_too_large', 'body: too large')
      : new AppError('invalid_input', 'body: could not be read');
  }
  return null;
}

/** GET /v1/join/:token: the one route a join link opens without a platform token. */
const JOIN_INFO = /^\/join\/[^/]+$/;

async function consume(limiter: RateLimiterMemory, key: string, res: Response): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (e) {
    res.set(
      'Retry-After',
      String(Math.max(1, Math.ceil(((e as RateLimiterRes).msBeforeNext ?? 1000) / 1000))),
    );
    throw new AppError('rate_limited', 'too many requests; slow down');
  }
}

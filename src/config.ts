import { z } from 'zod';
import { commaList } from './comma-list.ts';
import type { Policy } from './domain/bookings.ts';
import { DAY, duration, durationList, HOUR, MINUTE, optionalDuration, SECOND } from './durations.ts';
import { type DataKey, parseKeys } from './privacy/keyring.ts';

/**
 * Configuration is built once: defaults, then the environment, then
 * validation. A bad setting stops the start with a message that names it.
 */

/**
 * Policy lengths beyond a year are typos. The settings that feed a timer
 * (SHUTDOWN_GRACE, SCHEDULER_MAX_IDLE, CLUSTER_HEARTBEAT_TTL) stop at an hour:
 * far below the 2^31-1 ms a timer can wait, beyond which it fires at once.
 */
const YEAR = 365 * DAY;

/** How many bytes a whsec_ secret's base64 holds, or 0 when it is not base64. */
function whsecBytes(b64: string): number {
  return /^[A-Za-z0-9+/]+={0,2}$/.test(b64) && b64.length % 4 === 0 ? Buffer.from(b64, 'base64').length : 0;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** A list of origins, separated by commas (or spaces, as CSP writes them), each checked; trailing slashes dropped. */
function originList(pattern: RegExp, what: string) {
  return z
    .string()
    .default('')
    .transform((v, ctx) => {
      const list = v
        .split(/[\s,]+/)
        .map((s) => s.trim().replace(/\/+$/, ''))
        .filter(Boolean);
      for (const o of list) {
        if (!pattern.test(o)) ctx.addIssue({ code: 'custom', message: `"${o}" is not ${what}` });
      }
      return list;
    });
}

const EnvSchema = z.object({
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: z.url().optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DB_POOL_SIZE: int(1, 200).default(20),
  /** `kid:base64key,…`: the first seals, all open. */
  ENCRYPTION_KEYS: z
    .string()
    .transform((v, ctx) => {
      const keys = parseKeys(v);
      if (typeof keys === 'string') {
        ctx.addIssue({ code: 'custom', message: keys });
        return z.NEVER;
      }
      return keys;
    })
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  REDIS_PREFIX: z.string().min(1).default('talkroom'),
  REDIS_ADAPTER: z.enum(['classic', 'sharded']).default('classic'),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTH_JWT_PUBLIC_KEY: z
    .string()
    .includes('BEGIN PUBLIC KEY', { message: 'must be a PEM public key' })
    .optional(),
  AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional(),
  AUTH_JWKS_CACHE: duration('10m', {
    min: SECOND,
    max: DAY,
    maxWhy: 'a key removed from the set is still accepted this long after it was fetched',
  }),
  // 0: an unknown kid always refetches (tests); more keeps made-up kids from hammering the endpoint.
  AUTH_JWKS_COOLDOWN: duration('30s', { min: 0, max: HOUR }),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MESSAGE_MAX_CHARS: int(1, 100_000).default(10_000),
  ATTACHMENT_MAX_BYTES: int(1, 512 * 1024 * 1024).default(25 * 1024 * 1024),
  ATTACHMENT_TYPES: z
    .string()
    .default('audio/webm,audio/ogg,audio/mpeg,audio/mp4,audio/wav,video/webm,video/mp4,video/quicktime')
    .transform((v) => commaList(v.toLowerCase())),
  SOCKET_RATE_LIMIT: int(1, 100_000).default(30),
  HTTP_RATE_LIMIT: int(1, 100_000).default(60),
  SOCKETS_PER_USER: int(1, 10_000).default(20),
  AUTH_FAILURE_LIMIT: int(1, 1_000_000).default(60),
  CONNECT_RATE_LIMIT: int(1, 1_000_000).default(600),
  // 0 stops at once, dropping what is still in flight.
  SHUTDOWN_GRACE: duration('10s', { min: 0, max: HOUR }),
  // 0: never late.
  POLICY_LATE_WINDOW: duration('24h', { min: 0, max: YEAR }),
  // 0: late from the moment a booking exists.
  POLICY_CANCEL_GRACE: duration('1h', { min: 0, max: 30 * DAY }),
  // 0: a returned credit keeps its own expiry.
  POLICY_RESTORE_VALIDITY: duration('30d', { min: 0, max: YEAR }),
  // 0: the provider may confirm until the start.
  POLICY_CONFIRM_DEADLINE: duration('24h', { min: 0, max: YEAR }),
  POLICY_NO_SHOW_GRACE: duration('15m', {
    min: SECOND,
    minWhy: 'with none, a session would be a no-show the moment it starts',
    max: DAY,
  }),
  // 0: the link works from the start.
  POLICY_JOIN_OPENS: duration('10m', { min: 0, max: 30 * DAY }),
  POLICY_REMINDERS: durationList('24h,10m', {
    min: SECOND,
    minWhy: 'a reminder goes out this long before the start',
    max: 30 * DAY,
    maxEntries: 10,
  }),
  POLICY_MESSAGING_SESSION: duration('7d', { min: SECOND, max: YEAR }),
  // 0: any time ahead can be booked.
  POLICY_MIN_NOTICE: duration('0s', { min: 0, max: YEAR }),
  POLICY_SLOT_STEP: duration('30m', {
    min: SECOND,
    minWhy: 'slots are this far apart',
    max: DAY,
    maxWhy: 'slots repeat within each working day',
  }),
  WEBHOOK_URL: z.url().optional(),
  WEBHOOK_SECRET: z
    .string()
    .min(16, 'must be at least 16 characters')
    // Standard Webhooks' form: the key is the bytes after the prefix.
    .refine((v) => !v.startsWith('whsec_') || whsecBytes(v.slice(6)) >= 16, {
      message:
        'a whsec_ secret must be base64 of at least 16 bytes (whsec_ followed by e.g. `openssl rand -base64 32`)',
    })
    .optional(),
  SCHEDULER_LEASE: duration('30s', {
    min: 10 * SECOND,
    minWhy:
      'a job must finish inside its lease (a webhook delivery waits up to 5s) or another node runs it again',
    max: DAY,
    maxWhy: 'a job held by a node that died waits this long',
  }),
  SCHEDULER_MAX_IDLE: duration('30s', {
    min: SECOND,
    minWhy: 'shorter would poll the job table without rest',
    max: HOUR,
    maxWhy: 'a job scheduled by a node that died waits this long to be noticed',
  }),
  /** How long a node's heartbeat lasts in Redis: a node silent for that long is dead to the others. */
  CLUSTER_HEARTBEAT_TTL: duration('10s', {
    min: SECOND,
    minWhy: 'it is renewed every third of it, so a shorter one lapses while a busy node is alive',
    max: HOUR,
    maxWhy: 'a node that died counts as alive this long',
  }),
  /** TURN relays handed to live-session participants (coturn's REST API credentials). */
  TURN_URLS: z
    .string()
    .transform((v, ctx) => {
      const urls = commaList(v);
      const bad = urls.find((u) => !/^turns?:[^\s]+$/.test(u));
      if (bad) {
        ctx.addIssue({ code: 'custom', message: `"${bad}" is not a turn: or turns: URL` });
        return z.NEVER;
      }
      return urls;
    })
    .optional(),
  TURN_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  TURN_TTL: duration('6h', {
    min: MINUTE,
    minWhy: 'a credential must outlast the connection set-up and an ICE restart',
    max: 7 * DAY,
    maxWhy: 'a leaked credential relays for this long',
  }),
  // Unset: kept for ever.
  RETENTION_THERAPY: optionalDuration({
    min: HOUR,
    minWhy: 'messages younger than this are never removed',
    max: 100 * YEAR,
  }),
  RETENTION_SUPPORT: optionalDuration({
    min: HOUR,
    minWhy: 'messages younger than this are never removed',
    max: 100 * YEAR,
  }),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  CORS_ORIGINS: originList(
    /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i,
    'an origin: scheme, host and optional port, no path (e.g. https://app.example.com)',
  ),
  FRAME_ANCESTORS: originList(
    /^('self'|https?:\/\/(\*\.)?[a-z0-9.-]+(:\d{1,5})?)$/i,
    "an origin (https://platform.example.com, https://*.example.com) or 'self'",
  ),
  MEDIA_WORKERS: int(0, 256).optional(),
  MEDIA_LISTEN_IP: z.string().default('127.0.0.1'),
  MEDIA_ANNOUNCED_IP: z.string().optional(),
  MEDIA_RTC_MIN_PORT: int(1024, 65535).default(40000),
  MEDIA_RTC_MAX_PORT: int(1024, 65535).default(49999),
});

export type Env = z.input<typeof EnvSchema>;

export interface Config {
  port: number;
  host: string;
  publicUrl: string | undefined;
  dataDir: string;
  databaseUrl: string | undefined;
  dbPoolSize: number;
  /** Keys for message text, meta and recordings at rest; unset on the embedded store: one generated under DATA_DIR. */
  encryptionKeys: DataKey[] | undefined;
  redisUrl: string | undefined;
  redisPrefix: string;
  /** Which Socket.IO Redis adapter carries broadcasts between nodes (README "Several nodes"). */
  redisAdapter: 'classic' | 'sharded';
  auth: {
    secret?: string;
    publicKey?: string;
    jwksUrl?: string;
    jwksCacheMs: number;
    jwksCooldownMs: number;
    issuer?: string;
    audience?: string;
  };
  logLevel: string;
  messageMaxChars: number;
  attachmentMaxBytes: number;
  attachmentTypes: string[];
  socketRateLimit: number;
  httpRateLimit: number;
  socketsPerUser: number;
  /** Per network address and minute: failed sign-ins, and new Socket.IO connections. */
  addressLimits: { authFailures: number; connects: number };
  shutdownGraceMs: number;
  /** How long messages and recordings are kept, by room kind; undefined: for ever. */
  retention: { therapyMs: number | undefined; supportMs: number | undefined };
  /** When set, GET /metrics needs `Authorization: Bearer <it>`. */
  metricsToken: string | undefined;
  /** Origins that may call REST and Socket.IO from a browser (CORS). */
  corsOrigins: string[];
  /** Who may embed the session page in a frame (CSP frame-ancestors); none: nobody. */
  frameAncestors: string[];
  webhook: { url: string | undefined; secret: string | undefined };
  scheduler: { leaseMs: number; maxIdleMs: number };
  cluster: { heartbeatTtlMs: number };
  policy: Policy;
  /** TURN relays for live sessions; none when `urls` is empty. */
  turn: { urls: string[]; secret: string | undefined; ttlMs: number };
  media: {
    workers: number | undefined;
    listenIp: string;
    announcedIp: string | undefined;
    rtcMinPort: number;
    rtcMaxPort: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const invalid = (lines: string[]) => new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);

/** Settings each valid alone that do not go together; each problem names its setting. */
function contradictions(e: z.output<typeof EnvSchema>): string[] {
  const out: string[] = [];
  if (e.AUTH_JWT_SECRET && e.AUTH_JWT_PUBLIC_KEY) {
    out.push('AUTH_JWT_SECRET, AUTH_JWT_PUBLIC_KEY: set one, not both');
  }
  if (e.DATABASE_URL && !e.AUTH_JWT_SECRET && !e.AUTH_JWT_PUBLIC_KEY && !e.AUTH_JWKS_URL) {
    // A generated secret lives on one node's disk; a shared database means
    // several nodes, which must all verify the platform's tokens.
    out.push(
      'DATABASE_URL: AUTH_JWKS_URL, AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required with DATABASE_URL',
    );
  }
  if (e.DATABASE_URL && !e.ENCRYPTION_KEYS) {
    // A generated key lives on one node's disk; every node must open what the others sealed.
    out.push(
      'ENCRYPTION_KEYS: is required with DATABASE_URL (kid:base64key,…; e.g. k1:$(openssl rand -base64 32))',
    );
  }
  if (e.WEBHOOK_URL && !e.WEBHOOK_SECRET) {
    out.push('WEBHOOK_SECRET: is required with WEBHOOK_URL (deliveries are signed)');
  }
  if (e.TURN_URLS?.length && !e.TURN_SECRET) {
    out.push("TURN_SECRET: is required with TURN_URLS (coturn's static-auth-secret, for the credentials)");
  }
  if (e.TURN_SECRET && !e.TURN_URLS?.length) {
    out.push('TURN_URLS: is required with TURN_SECRET (the turn: or turns: URLs of the relays)');
  }
  if (e.MEDIA_RTC_MIN_PORT > e.MEDIA_RTC_MAX_PORT) {
    out.push('MEDIA_RTC_MIN_PORT: must not exceed MEDIA_RTC_MAX_PORT');
  }
  return out;
}

/** Reads the settings from an environment-like record (process.env by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "not set", as they do in most shells and compose files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw invalid(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const problems = contradictions(e);
  if (problems.length) throw invalid(problems);
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.DB_POOL_SIZE,
    encryptionKeys: e.ENCRYPTION_KEYS,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    redisAdapter: e.REDIS_ADAPTER,
    auth: {
      secret: e.AUTH_JWT_SECRET,
      publicKey: e.AUTH_JWT_PUBLIC_KEY,
      jwksUrl: e.AUTH_JWKS_URL,
      jwksCacheMs: e.AUTH_JWKS_CACHE,
      jwksCooldownMs: e.AUTH_JWKS_COOLDOWN,
      issuer: e.AUTH_JWT_ISSUER,
      audience: e.AUTH_JWT_AUDIENCE,
    },
    logLevel: e.LOG_LEVEL,
    messageMaxChars: e.MESSAGE_MAX_CHARS,
    attachmentMaxBytes: e.ATTACHMENT_MAX_BYTES,
    attachmentTypes: e.ATTACHMENT_TYPES,
    socketRateLimit: e.SOCKET_RATE_LIMIT,
    httpRateLimit: e.HTTP_RATE_LIMIT,
    socketsPerUser: e.SOCKETS_PER_USER,
    addressLimits: { authFailures: e.AUTH_FAILURE_LIMIT, connects: e.CONNECT_RATE_LIMIT },
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    retention: { therapyMs: e.RETENTION_THERAPY, supportMs: e.RETENTION_SUPPORT },
    metricsToken: e.METRICS_TOKEN,
    corsOrigins: e.CORS_ORIGINS,
    frameAncestors: e.FRAME_ANCESTORS,
    webhook: { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET },
    scheduler: { leaseMs: e.SCHEDULER_LEASE, maxIdleMs: e.SCHEDULER_MAX_IDLE },
    cluster: { heartbeatTtlMs: e.CLUSTER_HEARTBEAT_TTL },
    policy: {
      lateWindowMs: e.POLICY_LATE_WINDOW,
      confirmDeadlineMs: e.POLICY_CONFIRM_DEADLINE,
      noShowGraceMs: e.POLICY_NO_SHOW_GRACE,
      joinOpensMs: e.POLICY_JOIN_OPENS,
      remindersMs: e.POLICY_REMINDERS,
      messagingSessionMs: e.POLICY_MESSAGING_SESSION,
      minNoticeMs: e.POLICY_MIN_NOTICE,
      slotStepMs: e.POLICY_SLOT_STEP,
      cancelGraceMs: e.POLICY_CANCEL_GRACE,
      restoreValidityMs: e.POLICY_RESTORE_VALIDITY,
    },
    turn: { urls: e.TURN_URLS ?? [], secret: e.TURN_SECRET, ttlMs: e.TURN_TTL },
    media: {
      workers: e.MEDIA_WORKERS,
      listenIp: e.MEDIA_LISTEN_IP,
      announcedIp: e.MEDIA_ANNOUNCED_IP,
      rtcMinPort: e.MEDIA_RTC_MIN_PORT,
      rtcMaxPort: e.MEDIA_RTC_MAX_PORT,
    },
  };
}

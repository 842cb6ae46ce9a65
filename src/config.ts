import ms from 'ms';
import { z } from 'zod';
import type { Policy } from './domain/bookings.ts';

/**
 * Configuration is built once: defaults, then the environment, then
 * validation. A bad setting stops the start with a message that names it.
 */

const duration = z.string().transform((v, ctx) => {
  const n = ms(v as ms.StringValue);
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: "${v}" (use e.g. 10s, 15m, 24h, 7d)` });
    return z.NEVER;
  }
  return n;
});

const durationList = z.string().transform((v, ctx) => {
  const out: number[] = [];
  for (const part of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const n = ms(part as ms.StringValue);
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
      ctx.addIssue({ code: 'custom', message: `not a duration: "${part}"` });
      return z.NEVER;
    }
    out.push(n);
  }
  return out.sort((a, b) => b - a);
});

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

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
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  REDIS_PREFIX: z.string().min(1).default('talkroom'),
  AUTH_JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  AUTH_JWT_PUBLIC_KEY: z
    .string()
    .includes('BEGIN PUBLIC KEY', { message: 'must be a PEM public key' })
    .optional(),
  AUTH_JWT_ISSUER: z.string().optional(),
  AUTH_JWT_AUDIENCE: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MESSAGE_MAX_CHARS: int(1, 100_000).default(10_000),
  ATTACHMENT_MAX_BYTES: int(1, 512 * 1024 * 1024).default(25 * 1024 * 1024),
  ATTACHMENT_TYPES: z
    .string()
    .default('audio/webm,audio/ogg,audio/mpeg,audio/mp4,audio/wav,video/webm,video/mp4,video/quicktime')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    ),
  SOCKET_RATE_LIMIT: int(1, 100_000).default(30),
  HTTP_RATE_LIMIT: int(1, 100_000).default(60),
  SOCKETS_PER_USER: int(1, 10_000).default(20),
  AUTH_FAILURE_LIMIT: int(1, 1_000_000).default(60),
  CONNECT_RATE_LIMIT: int(1, 1_000_000).default(600),
  SHUTDOWN_GRACE: duration.default(10_000),
  POLICY_LATE_WINDOW: duration.default(ms('24h')),
  POLICY_CONFIRM_DEADLINE: duration.default(ms('24h')),
  POLICY_NO_SHOW_GRACE: duration.default(ms('15m')),
  POLICY_JOIN_OPENS: duration.default(ms('10m')),
  POLICY_REMINDERS: durationList.default([ms('24h'), ms('10m')]),
  POLICY_MESSAGING_SESSION: duration.default(ms('7d')),
  POLICY_MIN_NOTICE: duration.default(0),
  POLICY_SLOT_STEP: duration.default(30 * 60_000),
  WEBHOOK_URL: z.url().optional(),
  WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  SCHEDULER_LEASE: duration.default(30_000),
  SCHEDULER_MAX_IDLE: duration.default(30_000),
  /** How long a node's heartbeat lasts in Redis: a node silent for that long is dead to the others. */
  CLUSTER_HEARTBEAT_TTL: duration.default(10_000),
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
  redisUrl: string | undefined;
  redisPrefix: string;
  auth: { secret?: string; publicKey?: string; issuer?: string; audience?: string };
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
  webhook: { url: string | undefined; secret: string | undefined };
  scheduler: { leaseMs: number; maxIdleMs: number };
  cluster: { heartbeatTtlMs: number };
  policy: Policy;
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

/** Reads the settings from an environment-like record (process.env by default). */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "not set", as they do in most shells and compose files.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.AUTH_JWT_SECRET && e.AUTH_JWT_PUBLIC_KEY) {
    throw new ConfigError('invalid configuration: set AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY, not both');
  }
  if (e.DATABASE_URL && !e.AUTH_JWT_SECRET && !e.AUTH_JWT_PUBLIC_KEY) {
    // A generated secret lives on one node's disk; a shared database means
    // several nodes, which must all verify the platform's tokens.
    throw new ConfigError(
      'invalid configuration: AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required with DATABASE_URL',
    );
  }
  if (e.WEBHOOK_URL && !e.WEBHOOK_SECRET) {
    throw new ConfigError(
      'invalid configuration: WEBHOOK_SECRET is required with WEBHOOK_URL (deliveries are signed)',
    );
  }
  if (e.MEDIA_RTC_MIN_PORT > e.MEDIA_RTC_MAX_PORT) {
    throw new ConfigError('invalid configuration: MEDIA_RTC_MIN_PORT must not exceed MEDIA_RTC_MAX_PORT');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: e.PUBLIC_URL?.replace(/\/+$/, ''),
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.DB_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    auth: {
      secret: e.AUTH_JWT_SECRET,
      publicKey: e.AUTH_JWT_PUBLIC_KEY,
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
    },
    media: {
      workers: e.MEDIA_WORKERS,
      listenIp: e.MEDIA_LISTEN_IP,
      announcedIp: e.MEDIA_ANNOUNCED_IP,
      rtcMinPort: e.MEDIA_RTC_MIN_PORT,
      rtcMaxPort: e.MEDIA_RTC_MAX_PORT,
    },
  };
}

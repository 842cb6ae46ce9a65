import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { parseDuration } from '../../src/durations.ts';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;

describe('configuration', () => {
  it('has working defaults for the embedded server', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, host: '127.0.0.1', dataDir: './data', databaseUrl: undefined });
    expect(c.policy.remindersMs).toEqual([24 * 3600_000, 10 * 60_000]);
    expect(c.policy.noShowGraceMs).toBe(15 * 60_000);
  });

  it('reads policy durations, seconds included', () => {
    const c = loadConfig({
      POLICY_LATE_WINDOW: '10s',
      POLICY_REMINDERS: '30s, 2m',
      POLICY_MESSAGING_SESSION: '7d',
    });
    expect(c.policy.lateWindowMs).toBe(10_000);
    expect(c.policy.remindersMs).toEqual([120_000, 30_000]);
    expect(c.policy.messagingSessionMs).toBe(7 * 86_400_000);
  });

  it('stops with a message that names each bad setting', () => {
    expect(() => loadConfig({ PORT: 'eighty', POLICY_NO_SHOW_GRACE: 'soon' })).toThrow(
      /PORT[\s\S]*POLICY_NO_SHOW_GRACE: not a duration/,
    );
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL: must be a postgres/);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://x/y' })).toThrow(
      /AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required/,
    );
    expect(() => loadConfig({ AUTH_JWT_SECRET: 'short' })).toThrow(/AUTH_JWT_SECRET: must be at least 32/);
  });

  it('RETENTION_THERAPY, RETENTION_SUPPORT: unset keeps everything; durations of at least an hour', () => {
    expect(loadConfig({}).retention).toEqual({ therapyMs: undefined, supportMs: undefined });
    expect(loadConfig({ RETENTION_THERAPY: '3650d', RETENTION_SUPPORT: '365d' }).retention).toEqual({
      therapyMs: 3650 * 86_400_000,
      supportMs: 365 * 86_400_000,
    });
    expect(() => loadConfig({ RETENTION_SUPPORT: '10m' })).toThrow(/RETENTION_SUPPORT: must be at least 1h/);
    expect(() => loadConfig({ RETENTION_THERAPY: '7' })).toThrow(/RETENTION_THERAPY: "7" has no unit/);
  });

  it('ENCRYPTION_KEYS: required with DATABASE_URL, kid:base64 of 32 bytes each, first first', () => {
    const secret = { AUTH_JWT_SECRET: 'x'.repeat(32) };
    const key = (b: number) => Buffer.alloc(32, b).toString('base64');
    expect(() => loadConfig({ ...secret, DATABASE_URL: 'postgres://x/y' })).toThrow(
      /ENCRYPTION_KEYS: is required with DATABASE_URL/,
    );
    expect(() => loadConfig({ ENCRYPTION_KEYS: 'k1:c2hvcnQ=' })).toThrow(
      /ENCRYPTION_KEYS: key k1 must be 32 bytes/,
    );
    expect(() => loadConfig({ ENCRYPTION_KEYS: key(1) })).toThrow(
      /ENCRYPTION_KEYS: each key is kid:base64key/,
    );
    expect(() => loadConfig({ ENCRYPTION_KEYS: `a:${key(1)},a:${key(2)}` })).toThrow(
      /key id a is listed twice/,
    );
    const c = loadConfig({
      ...secret,
      DATABASE_URL: 'postgres://x/y',
      ENCRYPTION_KEYS: `new:${key(2)}, old:${key(1)}`,
    });
    expect(c.encryptionKeys?.map((k) => [k.kid, k.key.toString('base64')])).toEqual([
      ['new', key(2)],
      ['old', key(1)],
    ]);
  });
});

describe('duration settings', () => {
  const DURATIONS = [
    'SHUTDOWN_GRACE',
    'POLICY_LATE_WINDOW',
    'POLICY_CANCEL_GRACE',
    'POLICY_RESTORE_VALIDITY',
    'POLICY_CONFIRM_DEADLINE',
    'POLICY_NO_SHOW_GRACE',
    'POLICY_JOIN_OPENS',
    'POLICY_REMINDERS',
    'POLICY_MESSAGING_SESSION',
    'POLICY_MIN_NOTICE',
    'POLICY_SLOT_STEP',
    'SCHEDULER_LEASE',
    'SCHEDULER_MAX_IDLE',
    'CLUSTER_HEARTBEAT_TTL',
  ];

  it('the defaults pass every rule and mean what the README says', () => {
    const c = loadConfig({});
    expect(c.shutdownGraceMs).toBe(10_000);
    expect(c.policy).toEqual({
      lateWindowMs: 24 * H,
      confirmDeadlineMs: 24 * H,
      noShowGraceMs: 15 * M,
      joinOpensMs: 10 * M,
      remindersMs: [24 * H, 10 * M],
      messagingSessionMs: 7 * D,
      minNoticeMs: 0,
      slotStepMs: 30 * M,
      cancelGraceMs: H,
      restoreValidityMs: 30 * D,
    });
    expect(c.scheduler).toEqual({ leaseMs: 30_000, maxIdleMs: 30_000 });
    expect(c.cluster).toEqual({ heartbeatTtlMs: 10_000 });
  });

  it('take every unit: ms, s, m, h and d', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('15m')).toBe(15 * M);
    expect(parseDuration('1.5h')).toBe(90 * M);
    expect(parseDuration('7d')).toBe(7 * D);
    expect(loadConfig({ SHUTDOWN_GRACE: '2500ms' }).shutdownGraceMs).toBe(2500);
  });

  it.each(DURATIONS)('%s without a unit is refused, not read as milliseconds', (name) => {
    expect(() => loadConfig({ [name]: '600' })).toThrow(
      new RegExp(`${name}: "600" has no unit: write it with one of ms, s, m, h or d`),
    );
  });

  it('a unit-less duration in a list is refused too', () => {
    expect(() => loadConfig({ POLICY_REMINDERS: '24h, 600' })).toThrow(/POLICY_REMINDERS: "600" has no unit/);
  });

  it.each(DURATIONS)('%s refuses a negative value and other words', (name) => {
    expect(() => loadConfig({ [name]: '-5m' })).toThrow(new RegExp(`${name}: "-5m" is negative`));
    expect(() => loadConfig({ [name]: '2 weeks' })).toThrow(new RegExp(`${name}: not a duration: "2 weeks"`));
  });

  it.each([
    'POLICY_SLOT_STEP',
    'POLICY_REMINDERS',
    'POLICY_NO_SHOW_GRACE',
    'POLICY_MESSAGING_SESSION',
    'SCHEDULER_LEASE',
    'SCHEDULER_MAX_IDLE',
    'CLUSTER_HEARTBEAT_TTL',
  ])('%s of zero is refused: it makes no sense there', (name) => {
    expect(() => loadConfig({ [name]: '0s' })).toThrow(new RegExp(`${name}: .*must be at least`));
  });

  it('zero is taken where it means something: no minimum notice, never late, confirm until the start, no grace on shutdown', () => {
    const c = loadConfig({
      POLICY_MIN_NOTICE: '0s',
      POLICY_LATE_WINDOW: '0s',
      POLICY_CONFIRM_DEADLINE: '0s',
      SHUTDOWN_GRACE: '0s',
    });
    expect(c.policy).toMatchObject({ minNoticeMs: 0, lateWindowMs: 0, confirmDeadlineMs: 0 });
    expect(c.shutdownGraceMs).toBe(0);
  });

  it('a bare 0 needs no unit: POLICY_MIN_NOTICE=0 is no notice, POLICY_SLOT_STEP=0 is still refused', () => {
    expect(loadConfig({ POLICY_MIN_NOTICE: '0' }).policy.minNoticeMs).toBe(0);
    expect(loadConfig({ SHUTDOWN_GRACE: '0' }).shutdownGraceMs).toBe(0);
    expect(() => loadConfig({ POLICY_SLOT_STEP: '0' })).toThrow(/POLICY_SLOT_STEP: must be at least 1s/);
    expect(() => loadConfig({ POLICY_REMINDERS: '24h,0' })).toThrow(
      /POLICY_REMINDERS: 0: must be at least 1s/,
    );
  });

  it('a slot step is between one second and one day', () => {
    expect(() => loadConfig({ POLICY_SLOT_STEP: '0s' })).toThrow(/POLICY_SLOT_STEP: must be at least 1s/);
    expect(() => loadConfig({ POLICY_SLOT_STEP: '500ms' })).toThrow(/POLICY_SLOT_STEP: must be at least 1s/);
    expect(() => loadConfig({ POLICY_SLOT_STEP: '25h' })).toThrow(/POLICY_SLOT_STEP: must be at most 1d/);
    expect(loadConfig({ POLICY_SLOT_STEP: '1s' }).policy.slotStepMs).toBe(1000);
    expect(loadConfig({ POLICY_SLOT_STEP: '1d' }).policy.slotStepMs).toBe(D);
  });

  it('settings that feed a timer stop far below what a timer can wait (2^31-1 ms fires at once)', () => {
    for (const name of ['SHUTDOWN_GRACE', 'SCHEDULER_MAX_IDLE', 'CLUSTER_HEARTBEAT_TTL']) {
      expect(() => loadConfig({ [name]: '25d' })).toThrow(new RegExp(`${name}: must be at most 1h`));
      expect(() => loadConfig({ [name]: '61m' })).toThrow(new RegExp(`${name}: must be at most 1h`));
    }
    expect(loadConfig({ SCHEDULER_MAX_IDLE: '1h' }).scheduler.maxIdleMs).toBe(H);
  });

  it('policy lengths stop at a year, join windows and reminders at 30 days, the no-show grace at a day', () => {
    for (const name of [
      'POLICY_LATE_WINDOW',
      'POLICY_CONFIRM_DEADLINE',
      'POLICY_MESSAGING_SESSION',
      'POLICY_MIN_NOTICE',
    ]) {
      expect(() => loadConfig({ [name]: '366d' })).toThrow(new RegExp(`${name}: must be at most 365d`));
      expect(() => loadConfig({ [name]: '99999999999999999999d' })).toThrow(
        new RegExp(`${name}: must be at most`),
      );
    }
    expect(() => loadConfig({ POLICY_JOIN_OPENS: '31d' })).toThrow(/POLICY_JOIN_OPENS: must be at most 30d/);
    expect(() => loadConfig({ POLICY_REMINDERS: '31d,10m' })).toThrow(
      /POLICY_REMINDERS: 31d: must be at most 30d/,
    );
    expect(() => loadConfig({ POLICY_NO_SHOW_GRACE: '25h' })).toThrow(
      /POLICY_NO_SHOW_GRACE: must be at most 1d/,
    );
  });

  it('fractions of a millisecond are refused', () => {
    expect(() => loadConfig({ POLICY_SLOT_STEP: '1.5ms' })).toThrow(
      /POLICY_SLOT_STEP: "1.5ms" is not a whole number of milliseconds/,
    );
  });

  it('the same reminder offset twice is refused, however it is written', () => {
    expect(() => loadConfig({ POLICY_REMINDERS: '10m,600s' })).toThrow(
      /POLICY_REMINDERS: 10m and 600s are the same offset; list it once/,
    );
    expect(() => loadConfig({ POLICY_REMINDERS: '1h,1h' })).toThrow(
      /POLICY_REMINDERS: 1h and 1h are the same/,
    );
  });

  it('at most ten reminders per session', () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `${i + 1}m`).join(',');
    expect(() => loadConfig({ POLICY_REMINDERS: eleven })).toThrow(
      /POLICY_REMINDERS: at most 10 durations, not 11/,
    );
  });

  it('a scheduler lease shorter than a job can run is refused', () => {
    expect(() => loadConfig({ SCHEDULER_LEASE: '5s' })).toThrow(
      /SCHEDULER_LEASE: must be at least 10s \(a job must finish inside its lease/,
    );
    expect(loadConfig({ SCHEDULER_LEASE: '10s' }).scheduler.leaseMs).toBe(10_000);
  });

  it('a heartbeat TTL too short for its renewals (every third of it) is refused', () => {
    expect(() => loadConfig({ CLUSTER_HEARTBEAT_TTL: '100ms' })).toThrow(
      /CLUSTER_HEARTBEAT_TTL: must be at least 1s \(it is renewed every third of it/,
    );
    expect(loadConfig({ CLUSTER_HEARTBEAT_TTL: '2s' }).cluster.heartbeatTtlMs).toBe(2000);
  });

  it('a scheduler that would poll without rest is refused', () => {
    expect(() => loadConfig({ SCHEDULER_MAX_IDLE: '10ms' })).toThrow(
      /SCHEDULER_MAX_IDLE: must be at least 1s/,
    );
  });

  it('names every bad setting at once', () => {
    expect(() => loadConfig({ POLICY_SLOT_STEP: '0s' })).toThrow(ConfigError);
    expect(() =>
      loadConfig({ POLICY_SLOT_STEP: '0s', SHUTDOWN_GRACE: '30', POLICY_REMINDERS: '1h,60m' }),
    ).toThrow(
      /SHUTDOWN_GRACE: "30" has no unit[\s\S]*POLICY_REMINDERS: 1h and 60m[\s\S]*POLICY_SLOT_STEP: must be at least 1s/,
    );
  });

  it('the short settings the cluster tests run with stay valid', () => {
    expect(() =>
      loadConfig({
        POLICY_SLOT_STEP: '5s',
        POLICY_REMINDERS: '6s,3s',
        POLICY_JOIN_OPENS: '4s',
        POLICY_CONFIRM_DEADLINE: '1s',
        POLICY_NO_SHOW_GRACE: '60s',
        POLICY_LATE_WINDOW: '1s',
        SCHEDULER_MAX_IDLE: '2s',
        CLUSTER_HEARTBEAT_TTL: '2s',
      }),
    ).not.toThrow();
  });
});

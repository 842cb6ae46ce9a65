import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

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
});

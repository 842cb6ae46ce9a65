import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { loggablePath, requestIdOf } from '../../src/http/access-log.ts';

describe('operations settings', () => {
  it('reads the CORS and framing allow-lists and the metrics token', () => {
    const c = loadConfig({
      CORS_ORIGINS: 'https://app.example.com, http://localhost:5173/',
      FRAME_ANCESTORS: "'self' https://*.platform.example.com",
      METRICS_TOKEN: 'a-long-enough-token',
    });
    expect(c.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:5173']);
    expect(c.frameAncestors).toEqual(["'self'", 'https://*.platform.example.com']);
    expect(c.metricsToken).toBe('a-long-enough-token');
    expect(loadConfig({})).toMatchObject({ corsOrigins: [], frameAncestors: [], metricsToken: undefined });
  });

  it('stops with a message naming a bad origin, a path, or a short token', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'https://app.example.com/path' })).toThrow(
      /CORS_ORIGINS: "https:\/\/app.example.com\/path" is not an origin/,
    );
    expect(() => loadConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ FRAME_ANCESTORS: 'platform.example.com' })).toThrow(/FRAME_ANCESTORS/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN: must be at least 16/);
  });
});

describe('access log helpers', () => {
  it('keeps a well-formed request id and replaces anything else', () => {
    expect(requestIdOf('lb-7f3a:42')).toBe('lb-7f3a:42');
    for (const bad of ['', 'has space', 'x'.repeat(129), '<script>', undefined, ['a', 'b']]) {
      expect(requestIdOf(bad)).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('redacts join tokens in paths and credentials in queries', () => {
    expect(loggablePath('/join/eyJabc.def.ghi')).toBe('/join/[redacted]');
    expect(loggablePath('/v1/join/eyJabc.def.ghi?x=1')).toBe('/v1/join/[redacted]?x=1');
    expect(loggablePath('/v1/rooms?token=abc&joinToken=def&limit=5')).toBe(
      '/v1/rooms?token=%5Bredacted%5D&joinToken=%5Bredacted%5D&limit=5',
    );
    expect(loggablePath('/v1/bookings/b1/join-links')).toBe('/v1/bookings/b1/join-links');
  });
});

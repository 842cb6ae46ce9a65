import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createHttpApp, type HttpDeps } from '../../src/http/app.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';

/**
 * The web pages are built ahead of time (npm run build:web, run by
 * scripts/setup.sh): the server only reads web/dist. Without a build the pages
 * answer a 503 that names the command; with one, hashed assets are served for
 * good and nothing else from the folder is.
 */

async function serve(deps: Partial<HttpDeps>): Promise<{ url: string; server: Server }> {
  const config = loadConfig({});
  const server = createServer(
    createHttpApp({
      config,
      log: createLogger('silent'),
      metrics: createMetrics(),
      ...deps,
    } as HttpDeps),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('the built web pages', () => {
  const servers: Server[] = [];
  let built: string;
  let missing: string;
  beforeAll(async () => {
    const a = await serve({});
    const b = await serve({ webDist: '/nonexistent/web-dist' });
    servers.push(a.server, b.server);
    built = a.url;
    missing = b.url;
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('serves /join/:token and /app with a strict policy, and their hashed assets cacheable for good', async () => {
    for (const path of ['/join/some-token', '/app']) {
      const res = await fetch(`${built}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("style-src 'self';"); // no inline style blocks, no hashes
      expect(csp).toContain("frame-ancestors 'none'");
      const html = await res.text();
      expect(html).not.toMatch(/<style|style=/);
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(assets.length).toBe(2);
      for (const asset of assets) {
        expect(asset).toMatch(/^\/assets\/(session|app)-[A-Z0-9]{8}\.(js|css)$/);
        const got = await fetch(`${built}${asset}`);
        expect(got.status).toBe(200);
        expect(got.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
        expect(got.headers.get('content-type')).toMatch(
          asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/,
        );
      }
    }
    for (const path of ['/assets/manifest.json', '/assets/..%2Fmanifest.json', '/assets/nope-AAAAAAAA.js']) {
      const res = await fetch(`${built}${path}`);
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code).toBe('not_found');
    }
  });

  it('answers the pages with a 503 naming `npm run build:web` when web/dist is missing', async () => {
    for (const path of ['/join/some-token', '/app', '/assets/session-AAAAAAAA.js']) {
      const res = await fetch(`${missing}${path}`);
      expect(res.status, path).toBe(503);
      const body = await res.json();
      expect(body.error.code).toBe('unavailable');
      expect(body.error.message).toContain('npm run build:web');
    }
  });
});

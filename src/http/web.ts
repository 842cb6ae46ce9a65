import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type Response } from 'express';
import { ASSET_PREFIX, DIST, type PageName, type WebManifest } from '../../web/manifest.ts';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';

/**
 * The reference web pages, built ahead of time into web/dist (`npm run
 * build:web`): GET /join/:token (the session page a join link opens), GET /app
 * (the web app) and GET /assets/:file (their content-hashed scripts and styles,
 * cacheable for good). Only what web/dist/manifest.json lists is served.
 */
export interface WebDeps {
  config: Pick<Config, 'frameAncestors'>;
  /** The built pages' folder; web/dist unless a test says otherwise. */
  webDist?: string;
}

interface Loaded {
  manifest: WebManifest;
  html: Map<PageName, string>;
}

export function webRoutes(d: WebDeps): express.Router {
  const dist = d.webDist ?? DIST;
  const csp = pagePolicy(d.config.frameAncestors.length ? d.config.frameAncestors.join(' ') : "'none'");
  const noFraming = d.config.frameAncestors.length ? {} : { 'X-Frame-Options': 'DENY' };
  // Read once; a missing build is not remembered, so building while the server runs is enough.
  let loading: Promise<Loaded> | undefined;
  const load = () => {
    loading ??= readBuilt(dist).catch((e: unknown) => {
      loading = undefined;
      throw e;
    });
    return loading;
  };

  const page = (name: PageName) => async (_req: express.Request, res: Response) => {
    const { html } = await load();
    res
      .type('html')
      .set({
        'Cache-Control': 'no-store',
        // The join token is in the session page's address, the sign-in token in the app's fragment.
        'Referrer-Policy': 'no-referrer',
        'Content-Security-Policy': csp,
        'X-Content-Type-Options': 'nosniff',
        // Older browsers that ignore frame-ancestors: no framing unless the platform is allowed to.
        ...noFraming,
      })
      .send(html.get(name));
  };

  const router = express.Router();
  router.get('/join/:token', page('session'));
  router.get('/app', page('app'));
  router.get(`${ASSET_PREFIX}:file`, async (req, res) => {
    const { manifest } = await load();
    const file = req.params.file;
    const type =
      typeof file === 'string' && Object.hasOwn(manifest.assets, file) ? manifest.assets[file] : null;
    if (!type) throw new AppError('not_found', 'no such asset');
    res
      .type(type)
      .set({ 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff' })
      .send(await readFile(join(dist, 'assets', file as string)));
  });
  return router;
}

async function readBuilt(dist: string): Promise<Loaded> {
  let manifest: WebManifest;
  try {
    manifest = JSON.parse(await readFile(join(dist, 'manifest.json'), 'utf8')) as WebManifest;
  } catch {
    throw new AppError('unavailable', 'the web pages are not built: run `npm run build:web`');
  }
  const html = new Map<PageName, string>();
  for (const [name, file] of Object.entries(manifest.pages) as [PageName, string][]) {
    html.set(name, await readFile(join(dist, file), 'utf8'));
  }
  return { manifest, html };
}

/**
 * The pages' Content-Security-Policy: scripts and styles only from this origin
 * (no inline code or style blocks), Socket.IO and the API on this origin
 * (connect-src 'self' covers ws: and wss: to it), media from MediaStreams
 * (blob:), and framing only by the allowed ancestors.
 */
function pagePolicy(frameAncestors: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "media-src 'self' blob:",
    "img-src 'self' data: blob:",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
}

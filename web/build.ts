import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The reference web client, ready to serve: GET /join/:token answers `html`, GET /web/client.js answers `js`. */
export interface WebClient {
  js: string;
  html: string;
}

const CLIENT_ENTRY = fileURLToPath(new URL('./client.ts', import.meta.url));
const PAGE = fileURLToPath(new URL('./join.html', import.meta.url));
const SCRIPT_SRC = '/web/client.js';

let cached: Promise<WebClient> | undefined;

/**
 * Bundles web/client.ts (socket.io-client and mediasoup-client inside) with
 * esbuild, in memory, once per process: every later call gets the same result
 * (a failed build is not cached, so the next call tries again). The page's
 * script URL carries the bundle's hash (`/web/client.js?v=…`), so the script
 * may be cached by browsers for as long as the server likes.
 */
export async function buildWebClient(): Promise<WebClient> {
  cached ??= bundle().catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function bundle(): Promise<WebClient> {
  const [result, page] = await Promise.all([
    build({
      entryPoints: [CLIENT_ENTRY],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      minify: true,
      logLevel: 'silent',
      // @talkroom/client from its TypeScript sources (the workspace package's `development` export):
      // the server bundles the SDK with the page, so no SDK build has to run first.
      conditions: ['development'],
      // Libraries that read process.env.NODE_ENV (debug, engine.io's) get a constant, not a ReferenceError.
      define: { 'process.env.NODE_ENV': '"production"' },
    }),
    readFile(PAGE, 'utf8'),
  ]);
  const out = result.outputFiles[0];
  if (!out || result.errors.length > 0) throw new Error('web client: esbuild produced no bundle');
  const js = out.text;
  if (!page.includes(`src="${SCRIPT_SRC}"`)) throw new Error(`web client: join.html must load ${SCRIPT_SRC}`);
  const version = createHash('sha256').update(js).digest('hex').slice(0, 12);
  const html = page.replace(`src="${SCRIPT_SRC}"`, `src="${SCRIPT_SRC}?v=${version}"`);
  return { js, html };
}

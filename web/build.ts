/**
 * Builds the web pages ahead of time (`npm run build:web`, run by
 * scripts/setup.sh when the web sources changed, and in the Dockerfile):
 * each page's entry (web/<page>/main.tsx, with the CSS it imports) is bundled
 * by esbuild into web/dist/assets/ under content-hashed names, and its HTML
 * (web/<page>/index.html with the hashed assets filled in) goes beside them.
 * web/dist/manifest.json lists the pages and every asset; the server
 * (src/http/web.ts) serves only what the manifest names, and no bundler runs
 * at request time.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ASSET_PREFIX, DIST, PAGES, type PageName, type WebManifest } from './manifest.ts';

const WEB = fileURLToPath(new URL('.', import.meta.url));
const ASSETS_MARK = '<!-- assets -->';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

export async function buildWeb(opts: { outdir?: string; sources?: string } = {}): Promise<WebManifest> {
  const outdir = opts.outdir ?? DIST;
  const assetsDir = join(outdir, 'assets');
  await rm(outdir, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  const result = await build({
    entryPoints: Object.fromEntries(PAGES.map((p) => [p, join(WEB, p, 'main.tsx')])),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome111', 'firefox115', 'safari16'],
    outdir: assetsDir,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    assetNames: '[name]-[hash]',
    minify: true,
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // @talkroom/client from its TypeScript sources (the workspace package's `development` export).
    conditions: ['development'],
    // Libraries that read process.env.NODE_ENV (debug, engine.io's) get a constant, not a ReferenceError.
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const assets: Record<string, string> = {};
  for (const file of Object.keys(result.metafile.outputs)) {
    const name = basename(file);
    const type = TYPES[name.slice(name.lastIndexOf('.'))];
    if (type) assets[name] = type;
  }
  const pages = {} as Record<PageName, string>;
  for (const page of PAGES) {
    const entry = Object.entries(result.metafile.outputs).find(
      ([, o]) => o.entryPoint && relative(WEB, o.entryPoint) === join(page, 'main.tsx'),
    );
    if (!entry) throw new Error(`web build: no output for ${page}/main.tsx`);
    const [js, out] = entry;
    const tags = [
      ...(out.cssBundle ? [`<link rel="stylesheet" href="${ASSET_PREFIX}${basename(out.cssBundle)}">`] : []),
      `<script type="module" src="${ASSET_PREFIX}${basename(js)}"></script>`,
    ].join('\n');
    const template = await readFile(join(WEB, page, 'index.html'), 'utf8');
    if (!template.includes(ASSETS_MARK))
      throw new Error(`web build: ${page}/index.html lacks ${ASSETS_MARK}`);
    pages[page] = `${page}.html`;
    await writeFile(join(outdir, pages[page]), template.replace(ASSETS_MARK, tags));
  }
  const manifest: WebManifest = { pages, assets, sources: opts.sources ?? '' };
  await writeFile(join(outdir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const sources = process.argv[2] ?? '';
  const started = performance.now();
  const m = await buildWeb({ sources });
  console.error(
    `web build: ${Object.keys(m.pages).join(', ')} → web/dist (${Object.keys(m.assets).length} assets, ${Math.round(performance.now() - started)} ms)`,
  );
}

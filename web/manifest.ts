import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What web/build.ts writes and src/http/web.ts serves (kept apart so the server never loads esbuild). */
export const PAGES = ['session', 'app'] as const;
export type PageName = (typeof PAGES)[number];

/** web/dist/manifest.json. */
export interface WebManifest {
  /** Each page's built HTML, a file name under web/dist/. */
  pages: Record<PageName, string>;
  /** Every servable asset under web/dist/assets/ (content-hashed names), with its media type. */
  assets: Record<string, string>;
  /** The hash of the sources this was built from (scripts/setup.sh rebuilds when it differs). */
  sources: string;
}

export const DIST = join(fileURLToPath(new URL('.', import.meta.url)), 'dist');
export const ASSET_PREFIX = '/assets/';

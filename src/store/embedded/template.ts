import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadMigrations, migrate, migrationChecksum } from '../migrate.ts';
import { EmbeddedDb } from './client.ts';

/**
 * A fresh embedded store starts as a copy of a template: a PGlite cluster
 * made once, migrated and shut down cleanly. Creating one from nothing runs
 * initdb inside a second PGlite instance and then every migration, which is
 * most of a first start; copying a closed cluster's files is a few
 * milliseconds' work and gives the same database. setup.sh and the
 * Dockerfile make the template ahead of time; otherwise the first fresh start
 * makes it.
 *
 * Its name is a hash of what it was made from (PGlite's version and every
 * migration's checksum), so a new migration or a new PGlite makes a new one;
 * the migrations still run at every start and find nothing to do.
 */
const CACHE_DIR = join(import.meta.dirname, '../../../.cache/embedded-template');
// Bumped when the way a template is made changes.
const FORMAT = 1;

function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return (JSON.parse(readFileSync(join(dirname(entry), '../package.json'), 'utf8')) as { version: string })
    .version;
}

export function templateDir(cacheDir = CACHE_DIR): string {
  const h = createHash('sha256').update(`format ${FORMAT}\npglite ${pgliteVersion()}\n`);
  for (const m of loadMigrations()) h.update(`${m.name} ${migrationChecksum(m.sql)}\n`);
  return join(cacheDir, h.digest('hex').slice(0, 16));
}

export const isCluster = (dir: string): boolean => existsSync(join(dir, 'PG_VERSION'));

/**
 * The template's directory, made now if there is none; it throws when it
 * cannot be made (scripts/embedded-template.ts). Built aside and renamed: two
 * processes starting at once each build one, and one rename wins.
 */
export async function makeTemplate(cacheDir = CACHE_DIR): Promise<string> {
  const dir = templateDir(cacheDir);
  if (isCluster(dir)) return dir;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const db = await EmbeddedDb.open({ dir: tmp, template: undefined }, undefined);
    try {
      await migrate(db);
    } finally {
      await db.close();
    }
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!isCluster(dir)) throw e;
  }
  // Templates of older migrations or PGlite versions are never used again.
  for (const name of readdirSync(cacheDir)) {
    if (join(cacheDir, name) !== dir && !name.includes('.tmp-')) {
      rmSync(join(cacheDir, name), { recursive: true, force: true });
    }
  }
  return dir;
}

/**
 * The template for a fresh store; undefined when it cannot be made (a
 * read-only install without one): the store is then created in place, by
 * initdb, as it was before templates.
 */
export const ensureTemplate = (cacheDir = CACHE_DIR): Promise<string | undefined> =>
  makeTemplate(cacheDir).catch(() => undefined);

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { loadMigrations, migrate, migrationChecksum } from '../migrate.ts';
import { EmbeddedDb } from './db.ts';

/**
 * A fresh embedded store starts as a copy of a template: a PGlite cluster made
 * once, migrated and closed cleanly. Creating one from nothing runs initdb
 * (a second WebAssembly program) and then every migration, which was most of a
 * first start (6 of 8 s); copying a closed cluster's files takes milliseconds and
 * gives the same database. setup.sh and the Dockerfile make it ahead of time;
 * otherwise the first fresh start makes it.
 *
 * A template holds the cluster twice: `pgdata/`, copied into a new DATA_DIR,
 * and `pgdata.tar`, which PGlite loads into memory for an in-memory store
 * (tests). Its name is a hash of what it was made from (PGlite's version, the
 * start parameters and every migration's checksum), so a new migration or a new
 * PGlite makes a new one; migrations still run at every start and find nothing to do.
 */
const CACHE_DIR = join(import.meta.dirname, '../../../.cache/embedded-template');
// Bumped when the way a template is made changes.
const FORMAT = 1;

export interface Template {
  dir: string;
  /** The cluster's directory, to copy. */
  pgdata: string;
  /** The same cluster as a tar archive, for PGlite's loadDataDir. */
  tar: string;
}

function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  return (JSON.parse(readFileSync(join(dirname(entry), '../package.json'), 'utf8')) as { version: string })
    .version;
}

export function templateAt(startParams: readonly string[], cacheDir = CACHE_DIR): Template {
  const h = createHash('sha256').update(
    `format ${FORMAT}\npglite ${pgliteVersion()}\n${startParams.join(' ')}\n`,
  );
  for (const m of loadMigrations()) h.update(`${m.name} ${migrationChecksum(m.sql)}\n`);
  const dir = join(cacheDir, h.digest('hex').slice(0, 16));
  return { dir, pgdata: join(dir, 'pgdata'), tar: join(dir, 'pgdata.tar') };
}

const isCluster = (dir: string): boolean => existsSync(join(dir, 'PG_VERSION'));
const isTemplate = (t: Template): boolean => isCluster(t.pgdata) && existsSync(t.tar);

/**
 * The template, made now if there is none; it throws when it cannot be made.
 * Built aside and renamed into place: two processes starting at once each
 * build one, and the first rename wins.
 */
export async function makeTemplate(startParams: readonly string[], cacheDir = CACHE_DIR): Promise<Template> {
  const t = templateAt(startParams, cacheDir);
  if (isTemplate(t)) return t;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${t.dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp);
    const db = new EmbeddedDb(
      await PGlite.create({ dataDir: join(tmp, 'pgdata'), startParams: [...startParams] }),
      undefined,
    );
    try {
      await migrate(db);
      writeFileSync(join(tmp, 'pgdata.tar'), new Uint8Array(await (await db.dump()).arrayBuffer()));
    } finally {
      await db.close();
    }
    renameSync(tmp, t.dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!isTemplate(t)) throw e;
  }
  // Templates of older migrations or PGlite versions are never used again.
  for (const name of readdirSync(cacheDir)) {
    if (join(cacheDir, name) !== t.dir && !name.includes('.tmp-')) {
      rmSync(join(cacheDir, name), { recursive: true, force: true });
    }
  }
  return t;
}

/**
 * The template for a fresh store; undefined when it cannot be made (say, a
 * read-only install without one): the store is then created in place by
 * initdb, as before templates.
 */
export const ensureTemplate = (startParams: readonly string[]): Promise<Template | undefined> =>
  makeTemplate(startParams).catch(() => undefined);

import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Keyring } from '../../privacy/keyring.ts';
import { EmbeddedDb } from './db.ts';
import { ensureTemplate } from './template.ts';

/**
 * PostgreSQL's settings on top of PGlite's own (single-user mode). initdb
 * sizes shared_buffers at 128 MB, and PGlite's shared memory is WebAssembly
 * memory that PostgreSQL zeroes at start: all of it resident from the first
 * second. 16 MB holds the message path's hot pages (a room's row, the tail of
 * its messages, their indexes); the rest is one read from the OS's page cache
 * away. (A 16 MB pool once looked like it cost a 430 MiB peak over a recording;
 * that was V8 recompiling PostgreSQL's WebAssembly, see server/node-flags.ts.)
 */
export const START_PARAMS: readonly string[] = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * A new PGDATA becomes a copy of the template's, by rename, so a copy cut
 * short never looks like a database. A directory that is neither empty nor a
 * database is left to PGlite, as it was before templates.
 */
function copyInto(pgdata: string, template: string): void {
  if (existsSync(pgdata)) {
    if (readdirSync(pgdata).length > 0) return;
    rmdirSync(pgdata);
  }
  const tmp = `${pgdata}.copying-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(template, tmp, { recursive: true });
  renameSync(tmp, pgdata);
}

/**
 * The embedded store: under dataDir (created if need be), or in memory without
 * one (tests). A fresh one is a copy of the migrated template when the caller
 * migrates it anyway (fromTemplate), else an empty database.
 */
export async function openEmbedded(
  dataDir: string | undefined,
  keyring: Keyring | undefined,
  fromTemplate: boolean,
): Promise<EmbeddedDb> {
  const startParams = [...START_PARAMS];
  if (!dataDir) {
    const template = fromTemplate ? await ensureTemplate(START_PARAMS) : undefined;
    const loadDataDir = template ? new Blob([readFileSync(template.tar)]) : undefined;
    return new EmbeddedDb(await PGlite.create({ startParams, loadDataDir }), keyring);
  }
  mkdirSync(dataDir, { recursive: true });
  const pgdata = join(dataDir, 'pg');
  if (fromTemplate && !existsSync(join(pgdata, 'PG_VERSION'))) {
    const template = await ensureTemplate(START_PARAMS);
    if (template) copyInto(pgdata, template.pgdata);
  }
  return new EmbeddedDb(await PGlite.create({ dataDir: pgdata, startParams }), keyring);
}

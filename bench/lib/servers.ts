/** One server under test with what it needs of its own: a DATA_DIR, and a fresh PostgreSQL database when asked. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchDatabase, createDatabase } from './postgres.ts';
import {
  BENCH_ENCRYPTION_KEYS,
  cleanupLater,
  type ServerProc,
  type SpawnOptions,
  spawnServer,
  stopServer,
  talkroomEnv,
} from './processes.ts';
import { log } from './util.ts';

export interface TargetOptions extends Omit<SpawnOptions, 'env'> {
  secret: string;
  /** true: a fresh database of its own (dropped at stop); a database: that one (shared, kept). */
  postgres?: boolean | BenchDatabase;
  env?: Record<string, string>;
  /** Runs once the database exists, before the server starts (a measurement on the same database). */
  beforeStart?: (db: BenchDatabase | undefined) => Promise<void>;
}

export interface Target {
  server: ServerProc;
  db: BenchDatabase | undefined;
  /** Stops the server, removes its DATA_DIR and drops a database created for it. */
  stop(): Promise<void>;
}

export async function startTarget(o: TargetOptions): Promise<Target> {
  const undo: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const fn of undo.reverse().splice(0))
      await fn().catch((e) => log(`[${o.label ?? 'server'}] cleanup failed: ${(e as Error).message}`));
  };
  try {
    const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-bench-'));
    undo.push(cleanupLater(() => rmSync(dataDir, { recursive: true, force: true })));
    const env = talkroomEnv(o.secret, { DATA_DIR: dataDir, ...o.env });
    let db: BenchDatabase | undefined;
    if (o.postgres === true) {
      db = await createDatabase();
      undo.push(cleanupLater(db.drop));
    } else if (o.postgres) db = o.postgres;
    if (db) {
      env.DATABASE_URL = db.url;
      env.ENCRYPTION_KEYS = BENCH_ENCRYPTION_KEYS;
    }
    await o.beforeStart?.(db);
    const server = await spawnServer({ ...o, env });
    undo.push(() => stopServer(server));
    return { server, db, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

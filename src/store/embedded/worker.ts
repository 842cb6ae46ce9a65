/**
 * The embedded store's thread: it owns PGlite (PostgreSQL compiled to
 * WebAssembly, single-user) and runs what the client sends, one request at a
 * time, in order. PostgreSQL's work happens here, so the server's event loop
 * only posts statements and receives rows.
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import {
  MemoryFS,
  PGlite,
  parse,
  type postgresMod,
  protocol,
  TransactionAbortedError,
} from '@electric-sql/pglite';
import type { Row } from '../queryable.ts';
import { errorShape, type Reply, type Request, type Started, type WorkerInit } from './protocol.ts';

const port = parentPort!;
const { serialize } = protocol;

/**
 * A fresh PGDATA becomes a copy of the template, by rename, so a copy cut
 * short never looks like a database. A directory that is neither empty nor a
 * database is left to PGlite, as it was before templates.
 */
function copyTemplate(dir: string, template: string): void {
  if (existsSync(`${dir}/PG_VERSION`)) return;
  if (existsSync(dir)) {
    if (readdirSync(dir).length > 0) return;
    rmdirSync(dir);
  }
  const tmp = `${dir}.copying-${process.pid}-${threadId}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(template, tmp, { recursive: true });
  renameSync(tmp, dir);
}

/**
 * An in-memory PGDATA (tests' stores) that starts as the template's files,
 * written in before PostgreSQL starts, so it too skips initdb.
 */
class TemplateMemoryFS extends MemoryFS {
  readonly #template: string;
  constructor(template: string) {
    super();
    this.#template = template;
  }
  override async init(pg: PGlite, opts: Partial<postgresMod.PostgresMod>) {
    const { emscriptenOpts } = await super.init(pg, opts);
    const fill = (mod: postgresMod.PostgresMod) => {
      const copy = (from: string, to: string) => {
        mod.FS.mkdirTree(to);
        for (const e of readdirSync(from, { withFileTypes: true })) {
          if (e.isDirectory()) copy(join(from, e.name), `${to}/${e.name}`);
          else mod.FS.writeFile(`${to}/${e.name}`, readFileSync(join(from, e.name)));
        }
      };
      copy(this.#template, PGlite.paths.PGDATA);
    };
    return { emscriptenOpts: { ...emscriptenOpts, preRun: [...(emscriptenOpts.preRun ?? []), fill] } };
  }
}

/**
 * Parameterised statements are prepared once under a name, as on PostgreSQL
 * (db.ts): PGlite's own query() parses and plans the text on every call.
 * Their number is bounded by the code's SQL texts; past the bound (dynamic
 * SQL) a statement runs unnamed.
 */
const MAX_NAMED = 1000;
const prepared = new Map<string, { name: string; types: number[] }>();

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

// PGlite's file systems here (NODEFS on disk, MEMFS in memory) write through: its sync is for browser storage.
const NO_SYNC = { syncToFs: false };

async function statement(pg: PGlite, sql: string): Promise<{ name: string; types: number[] }> {
  const known = prepared.get(sql);
  if (known) return known;
  const name = prepared.size < MAX_NAMED ? `s${prepared.size}` : '';
  const { messages } = await pg.execProtocol(
    joined([serialize.parse({ name, text: sql }), serialize.describe({ type: 'S', name }), serialize.sync()]),
    NO_SYNC,
  );
  const st = { name, types: parse.parseDescribeStatementResults(messages) };
  if (name) prepared.set(sql, st);
  return st;
}

async function query(pg: PGlite, sql: string, params: readonly unknown[]): Promise<Row[]> {
  if (params.length === 0) return (await pg.query<Row>(sql)).rows;
  const st = await statement(pg, sql);
  // As PGlite's query() does: each value by its parameter's type, else as text.
  const values = params.map((v, i) => {
    if (v === null || v === undefined) return null;
    const to = pg.serializers[st.types[i]!];
    return to ? to(v) : String(v);
  });
  const { messages } = await pg.execProtocol(
    joined([
      serialize.bind({ statement: st.name, values }),
      serialize.describe({ type: 'P' }),
      serialize.execute({}),
      serialize.sync(),
    ]),
    NO_SYNC,
  );
  return (parse.parseResults(messages, pg.parsers)[0]?.rows ?? []) as Row[];
}

async function run(pg: PGlite, req: Request): Promise<Row[]> {
  switch (req.op) {
    case 'query':
      return query(pg, req.sql, req.params);
    case 'exec':
      await pg.exec(req.sql);
      return [];
    case 'commit': {
      // COMMIT of a transaction that failed answers ROLLBACK, not an error.
      const [r] = await pg.exec('COMMIT');
      if (r?.command === 'ROLLBACK') throw new TransactionAbortedError();
      return [];
    }
    case 'close':
      await pg.close();
      return [];
  }
}

/**
 * PostgreSQL's settings on top of PGlite's own start parameters (single-user
 * mode, no parallel workers). initdb sized shared_buffers at 128 MB, and
 * PGlite's shared memory is WebAssembly memory that PostgreSQL zeroes at start:
 * all of it resident from the first second (151 MiB of an idle server's RSS).
 * 16 MB holds the hot pages of the message path (a room's row, the tail of
 * its messages, their indexes); the rest is one read from the OS's page cache away.
 */
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

async function open({ dir, template }: WorkerInit): Promise<PGlite> {
  if (!dir) {
    return PGlite.create({
      fs: template ? new TemplateMemoryFS(template) : undefined,
      startParams: START_PARAMS,
    });
  }
  if (template) copyTemplate(dir, template);
  return PGlite.create({ dataDir: dir, startParams: START_PARAMS });
}

const pg = await open(workerData as WorkerInit).catch((e: unknown) => {
  port.postMessage({ started: false, error: errorShape(e) } satisfies Started);
  port.close();
  return undefined;
});
/** One answer; a failure is an answer too, with PostgreSQL's fields. */
async function answer(pg: PGlite, req: Request): Promise<Reply> {
  try {
    return { id: req.id, ok: true, rows: await run(pg, req) };
  } catch (e) {
    return { id: req.id, ok: false, error: errorShape(e) };
  }
}

if (pg) {
  port.postMessage({ started: true } satisfies Started);
  // The client posts what it sends in one turn of its event loop as one message (a group commit's
  // statements, the reads beside them); their answers go back as one message too: one wake-up of
  // each thread per burst, not per statement.
  let chain = Promise.resolve();
  port.on('message', (reqs: Request[]) => {
    chain = chain.then(async () => {
      const replies: Reply[] = [];
      for (const req of reqs) replies.push(await answer(pg, req));
      try {
        port.postMessage(replies);
      } catch {
        // Rows that cannot cross the thread (none of PGlite's types should): each caller still gets an answer.
        for (const r of replies) {
          try {
            port.postMessage([r]);
          } catch (e) {
            port.postMessage([{ id: r.id, ok: false, error: errorShape(e) }] satisfies Reply[]);
          }
        }
      }
      if (reqs.some((r) => r.op === 'close')) port.close();
    });
  });
}

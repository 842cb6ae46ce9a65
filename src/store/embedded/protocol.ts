/**
 * The messages between the embedded store's client (the server's thread) and
 * its worker thread, which owns PGlite. The worker runs requests one at a time
 * in the order they arrive; the client sends nothing else while a transaction
 * is open, so every statement of a transaction runs inside it.
 */

import type { Row } from '../queryable.ts';

export interface WorkerInit {
  /** PGDATA on disk; undefined: in memory (tests). */
  dir: string | undefined;
  /** A closed, migrated cluster to copy into a fresh `dir` (or into memory) instead of running initdb (template.ts). */
  template: string | undefined;
}

export type Request =
  | { id: number; op: 'query'; sql: string; params: readonly unknown[] }
  /** A script without parameters; also BEGIN and ROLLBACK. */
  | { id: number; op: 'exec'; sql: string }
  /** COMMIT, failing when PostgreSQL answers that it rolled back instead. */
  | { id: number; op: 'commit' }
  /** Shuts PostgreSQL down (a checkpoint), after everything sent before it. */
  | { id: number; op: 'close' };

export type Reply = { id: number; ok: true; rows: Row[] } | { id: number; ok: false; error: ErrorShape };

/** What the worker says once, before any reply: PGlite is open, or it failed to open. */
export type Started = { started: true } | { started: false; error: ErrorShape };

/**
 * A failed statement as it crosses the thread: PostgreSQL's error fields,
 * never the statement or its parameters (they may hold a message's text).
 */
export interface ErrorShape {
  message: string;
  /** SQLSTATE, e.g. 23505 (unique_violation). */
  code?: string;
  severity?: string;
  detail?: string;
  hint?: string;
  position?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  routine?: string;
}

export const ERROR_FIELDS = [
  'code',
  'severity',
  'detail',
  'hint',
  'position',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
] as const satisfies readonly (keyof ErrorShape)[];

export function errorShape(e: unknown): ErrorShape {
  const shape: ErrorShape = { message: e instanceof Error ? e.message : String(e) };
  if (typeof e === 'object' && e !== null) {
    for (const f of ERROR_FIELDS) {
      const v = (e as Record<string, unknown>)[f];
      if (typeof v === 'string') shape[f] = v;
    }
  }
  return shape;
}

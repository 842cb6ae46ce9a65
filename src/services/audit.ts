import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import { type AuditEntry, type AuditFilter, AuditRepo } from '../store/audit.ts';
import type { Db, Queryable } from '../store/db.ts';

const PAGE = 100;

/** Roles whose reads of a room, its messages or a recording are audited: not its members'. */
const AUDITED_READERS = new Set(['support', 'clinical', 'admin']);

/** Audited actions: what `action` says in an entry. */
export type AuditAction =
  | 'room.read'
  | 'rooms.list'
  | 'messages.read'
  | 'recording.read'
  | 'user.put'
  | 'plan.put'
  | 'room.create'
  | 'booking.create'
  | 'booking.confirm'
  | 'booking.decline'
  | 'booking.cancel'
  | 'booking.reschedule'
  | 'booking.waive'
  | 'booking.expire'
  | 'booking.no_show'
  | 'booking.complete'
  | 'booking.messaging_start'
  | 'keys.rekey'
  | 'user.export'
  | 'user.erase'
  | 'user.hold';

export interface AuditTarget {
  roomId?: string | undefined;
  subjectId?: string | undefined;
}

/** Appends an entry inside the caller's transaction `q`. */
export function audit(q: Queryable, actor: Actor, action: AuditAction, at: Date, target: AuditTarget = {}) {
  return new AuditRepo(q).append({ actorId: actor.id, actorRole: actor.role, action, at, ...target });
}

/**
 * A change nobody asked for at that moment — the scheduler's, at a deadline —
 * is recorded as the server's own (actor `talkroom`, role `system`).
 */
export function auditBySystem(q: Queryable, action: AuditAction, at: Date, target: AuditTarget = {}) {
  return new AuditRepo(q).append({ actorId: 'talkroom', actorRole: 'system', action, at, ...target });
}

/**
 * A read by support, clinical or admin is recorded before its data is
 * returned: if the entry cannot be written, the read fails.
 */
export async function auditRead(db: Db, actor: Actor, action: AuditAction, at: Date, target: AuditTarget) {
  if (!AUDITED_READERS.has(actor.role)) return;
  await db.tx((q) => audit(q, actor, action, at, target));
}

const writeSeq = (seq: number) => Buffer.from(`a:${seq}`).toString('base64url');
function readSeq(cursor: string): number {
  const m = /^a:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m)
    throw new AppError('invalid_input', 'cursor: not a cursor this server gave (use the answer’s next)');
  return Number(m[1]);
}

/** `GET /v1/audit` and `GET /v1/audit/verify`. */
export class AuditLog {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async list(f: AuditFilter & { cursor?: string | undefined; limit?: number | undefined }) {
    const limit = f.limit ?? PAGE;
    const rows = await new AuditRepo(this.#db).list(f, f.cursor ? readSeq(f.cursor) : 0, limit + 1);
    const entries: AuditEntry[] = rows.slice(0, limit).map((r) => r.entry);
    return rows.length > limit ? { entries, next: writeSeq(rows[limit - 1]!.seq) } : { entries };
  }

  verify() {
    return new AuditRepo(this.#db).verify();
  }
}

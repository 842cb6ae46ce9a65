import { createHash, randomUUID } from 'node:crypto';
import { currentRequestId } from '../request-context.ts';
import type { Queryable } from './db.ts';

/** One audited action as `GET /v1/audit` shows it. Never carries message text. */
export interface AuditEntry {
  id: string;
  at: string;
  actorId: string;
  actorRole: string;
  action: string;
  roomId?: string;
  subjectId?: string;
  requestId?: string;
  hash: string;
  prevHash: string;
}

export interface NewAuditEntry {
  actorId: string;
  actorRole: string;
  action: string;
  roomId?: string | undefined;
  subjectId?: string | undefined;
  requestId?: string | undefined;
  at: Date;
}

export interface AuditFilter {
  actorId?: string | undefined;
  roomId?: string | undefined;
  subjectId?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
}

interface AuditRow {
  seq: number | string;
  id: string;
  at: Date;
  actor_id: string;
  actor_role: string;
  action: string;
  room_id: string | null;
  subject_id: string | null;
  request_id: string | null;
  prev_hash: string;
  hash: string;
}

export const GENESIS_HASH = '0'.repeat(64);
// Any constant works; it only has to be the same on every node (the migrations use 727001).
const AUDIT_LOCK = 727_002;

/** JSON with keys sorted at every level: the same entry always hashes the same. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** hex SHA-256 of prevHash followed by the entry's other fields as canonical JSON. */
export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const { prevHash, ...fields } = e;
  return createHash('sha256').update(prevHash).update(canonicalJson(fields)).digest('hex');
}

function toEntry(r: AuditRow): AuditEntry {
  const e: AuditEntry = {
    id: r.id,
    at: r.at.toISOString(),
    actorId: r.actor_id,
    actorRole: r.actor_role,
    action: r.action,
    hash: r.hash,
    prevHash: r.prev_hash,
  };
  if (r.room_id !== null) e.roomId = r.room_id;
  if (r.subject_id !== null) e.subjectId = r.subject_id;
  if (r.request_id !== null) e.requestId = r.request_id;
  return e;
}

/**
 * The audit log. `append` runs inside the transaction of the action it
 * records, so the entry and the action commit or vanish together. Appends
 * take one advisory transaction lock, so entries from every node form one
 * chain: each reads the last hash only after the one before it committed.
 */
export class AuditRepo {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async append(n: NewAuditEntry): Promise<AuditEntry> {
    await this.q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
    const [last] = await this.q.query<{ seq: number | string; hash: string }>(
      'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
    );
    // The request that caused it, when the caller did not say: the one being served.
    const requestId = n.requestId ?? currentRequestId();
    const base: Omit<AuditEntry, 'hash'> = {
      id: randomUUID(),
      // Millisecond precision, as stored and shown, so the hash recomputes from the row.
      at: n.at.toISOString(),
      actorId: n.actorId,
      actorRole: n.actorRole,
      action: n.action,
      ...(n.roomId !== undefined ? { roomId: n.roomId } : {}),
      ...(n.subjectId !== undefined ? { subjectId: n.subjectId } : {}),
      ...(requestId !== undefined ? { requestId } : {}),
      prevHash: last?.hash ?? GENESIS_HASH,
    };
    const entry: AuditEntry = { ...base, hash: entryHash(base) };
    await this.q.query(
      `INSERT INTO audit_log (seq, id, at, actor_id, actor_role, action, room_id, subject_id, request_id, prev_hash, hash)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        Number(last?.seq ?? 0) + 1,
        entry.id,
        n.at,
        entry.actorId,
        entry.actorRole,
        entry.action,
        entry.roomId ?? null,
        entry.subjectId ?? null,
        entry.requestId ?? null,
        entry.prevHash,
        entry.hash,
      ],
    );
    return entry;
  }

  /** Entries matching the filter, oldest first, after `afterSeq`; with each one's seq for the next cursor. */
  async list(
    f: AuditFilter,
    afterSeq: number,
    limit: number,
  ): Promise<Array<{ seq: number; entry: AuditEntry }>> {
    const rows = await this.q.query<AuditRow>(
      `SELECT * FROM audit_log
        WHERE seq > $1
          AND ($2::text IS NULL OR actor_id = $2::text)
          AND ($3::text IS NULL OR room_id = $3::text)
          AND ($4::text IS NULL OR subject_id = $4::text)
          AND ($5::timestamptz IS NULL OR at >= $5::timestamptz)
          AND ($6::timestamptz IS NULL OR at < $6::timestamptz)
        ORDER BY seq LIMIT $7`,
      [
        afterSeq,
        f.actorId ?? null,
        f.roomId ?? null,
        f.subjectId ?? null,
        f.from ?? null,
        f.to ?? null,
        limit,
      ],
    );
    return rows.map((r) => ({ seq: Number(r.seq), entry: toEntry(r) }));
  }

  /**
   * Walks the whole chain oldest first: every entry's hash must recompute from
   * its fields and the hash before it. The id of the first entry where it
   * does not, if any.
   */
  async verify(batch = 1000): Promise<{ ok: boolean; brokenAt?: string }> {
    let prev = GENESIS_HASH;
    let after = 0;
    for (;;) {
      const page = await this.list({}, after, batch);
      for (const { seq, entry } of page) {
        const { hash, ...rest } = entry;
        if (entry.prevHash !== prev || entryHash(rest) !== hash) return { ok: false, brokenAt: entry.id };
        prev = hash;
        after = seq;
      }
      if (page.length < batch) return { ok: true };
    }
  }
}

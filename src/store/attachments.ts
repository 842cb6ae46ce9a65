import type { Keyring } from '../privacy/keyring.ts';
import type { Queryable } from './db.ts';

export interface AttachmentMeta {
  id: string;
  roomId: string;
  uploaderId: string;
  mimeType: string;
  sizeBytes: number;
  /** Every chunk holds this many bytes, the last one up to this many. */
  chunkBytes: number;
  createdAt: Date;
}

interface AttachmentRow {
  id: string;
  room_id: string;
  uploader_id: string;
  mime_type: string;
  size_bytes: number;
  chunk_bytes: number;
  created_at: Date;
}

/**
 * Voice and video recordings live in the database beside the messages, so
 * every node can serve every recording and a backup holds both together.
 *
 * A recording is one row of metadata and its bytes in chunk rows. The row is
 * written first, unfinished; chunks follow one statement each; `complete`
 * makes it visible. Until then nothing reads it, and `discard` removes it
 * with its chunks.
 *
 * Chunk bytes travel as base64 text and are decoded inside PostgreSQL:
 * the embedded store's own bytea conversion runs in JavaScript, byte by byte,
 * and took ~80 ms of the server's thread per 256 KiB chunk; base64 costs the
 * server a native encode and PostgreSQL a C decode, on both stores alike.
 */
/** Additional data of a sealed chunk: it opens only as that chunk of that recording. */
export const chunkAad = (attachmentId: string, idx: number) => `chunk:${attachmentId}:${idx}`;

export class AttachmentsRepo {
  private readonly q: Queryable;
  readonly #keys: Keyring | undefined;
  constructor(q: Queryable, keys: Keyring | undefined) {
    this.q = q;
    this.#keys = keys;
  }

  /** An unfinished recording: invisible until `complete`. */
  async begin(a: Omit<AttachmentMeta, 'sizeBytes'>): Promise<void> {
    await this.q.query(
      `INSERT INTO attachments (id, room_id, uploader_id, mime_type, size_bytes, chunk_bytes, created_at)
       VALUES ($1, $2, $3, $4, 0, $5, $6)`,
      [a.id, a.roomId, a.uploaderId, a.mimeType, a.chunkBytes, a.createdAt],
    );
  }

  /**
   * The one place a recording's bytes are written: chunk `idx` (from 0) of an
   * unfinished recording, sealed under the current key when there is one.
   * The caller may reuse `data` once this resolves.
   */
  async writeChunk(attachmentId: string, idx: number, data: Uint8Array): Promise<void> {
    const keys = this.#keys;
    const stored = keys
      ? keys.seal(data, chunkAad(attachmentId, idx))
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.q.query(
      `INSERT INTO attachment_chunks (attachment_id, idx, data, kid) VALUES ($1, $2, decode($3, 'base64'), $4)`,
      [attachmentId, idx, stored.toString('base64'), keys?.current ?? null],
    );
  }

  /** Makes an unfinished recording usable; false if it is gone (discarded or swept). */
  async complete(attachmentId: string, sizeBytes: number, at: Date): Promise<boolean> {
    const rows = await this.q.query(
      `UPDATE attachments SET size_bytes = $2, completed_at = $3
       WHERE id = $1 AND completed_at IS NULL RETURNING id`,
      [attachmentId, sizeBytes, at],
    );
    return rows.length === 1;
  }

  /** Removes an unfinished recording and whatever chunks it has. */
  async discard(attachmentId: string): Promise<void> {
    await this.q.query('DELETE FROM attachments WHERE id = $1 AND completed_at IS NULL', [attachmentId]);
  }

  /** Removes unfinished recordings begun before `before` (their uploads died with a node); how many. */
  async sweepUnfinished(before: Date): Promise<number> {
    const rows = await this.q.query(
      'DELETE FROM attachments WHERE completed_at IS NULL AND created_at < $1 RETURNING id',
      [before],
    );
    return rows.length;
  }

  /** A finished recording's metadata; null for unknown and unfinished ones. */
  async meta(id: string): Promise<AttachmentMeta | null> {
    const [r] = await this.q.query<AttachmentRow>(
      `SELECT id, room_id, uploader_id, mime_type, size_bytes, chunk_bytes, created_at
       FROM attachments WHERE id = $1 AND completed_at IS NOT NULL`,
      [id],
    );
    return r ? toMeta(r) : null;
  }

  /** The finished recordings a user uploaded, oldest first. */
  async byUploader(userId: string): Promise<AttachmentMeta[]> {
    const rows = await this.q.query<AttachmentRow>(
      `SELECT id, room_id, uploader_id, mime_type, size_bytes, chunk_bytes, created_at
       FROM attachments WHERE uploader_id = $1 AND completed_at IS NOT NULL ORDER BY created_at, id`,
      [userId],
    );
    return rows.map(toMeta);
  }

  /** Chunk `idx` of a recording, as written (opened); null if there is none. */
  async readChunk(attachmentId: string, idx: number): Promise<Buffer | null> {
    const [r] = await this.q.query<{ data: string; kid: string | null }>(
      `SELECT encode(data, 'base64') AS data, kid FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2`,
      [attachmentId, idx],
    );
    if (!r) return null;
    // PostgreSQL breaks base64 into lines; Node's decoder skips the line breaks.
    const stored = Buffer.from(r.data, 'base64');
    if (r.kid === null) return stored;
    if (!this.#keys) throw new Error(`recording ${attachmentId} is sealed and this store has no keys`);
    return this.#keys.open(r.kid, stored, chunkAad(attachmentId, idx));
  }
}

const toMeta = (r: AttachmentRow): AttachmentMeta => ({
  id: r.id,
  roomId: r.room_id,
  uploaderId: r.uploader_id,
  mimeType: r.mime_type,
  sizeBytes: r.size_bytes,
  chunkBytes: r.chunk_bytes,
  createdAt: r.created_at,
});

import type { Queryable } from './db.ts';

export interface AttachmentMeta {
  id: string;
  roomId: string;
  uploaderId: string;
  mimeType: string;
  sizeBytes: number;
  createdAt: Date;
}

/**
 * Voice and video recordings live in the database beside the messages, so
 * every node can serve every recording and a backup holds both together.
 */
export class AttachmentsRepo {
  private readonly q: Queryable;
  constructor(q: Queryable) {
    this.q = q;
  }

  async insert(a: AttachmentMeta, data: Uint8Array): Promise<void> {
    await this.q.query(
      `INSERT INTO attachments (id, room_id, uploader_id, mime_type, size_bytes, data, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [a.id, a.roomId, a.uploaderId, a.mimeType, a.sizeBytes, data, a.createdAt],
    );
  }

  async meta(id: string): Promise<AttachmentMeta | null> {
    const [r] = await this.q.query<{
      id: string;
      room_id: string;
      uploader_id: string;
      mime_type: string;
      size_bytes: number;
      created_at: Date;
    }>('SELECT id, room_id, uploader_id, mime_type, size_bytes, created_at FROM attachments WHERE id = $1', [
      id,
    ]);
    return r
      ? {
          id: r.id,
          roomId: r.room_id,
          uploaderId: r.uploader_id,
          mimeType: r.mime_type,
          sizeBytes: r.size_bytes,
          createdAt: r.created_at,
        }
      : null;
  }

  async data(id: string): Promise<Uint8Array | null> {
    const [r] = await this.q.query<{ data: Uint8Array }>('SELECT data FROM attachments WHERE id = $1', [id]);
    return r ? r.data : null;
  }
}

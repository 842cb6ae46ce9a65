import { randomUUID } from 'node:crypto';
import { canPost } from '../domain/access.ts';
import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { AttachmentMeta } from '../store/attachments.ts';
import type { ServiceDeps } from './deps.ts';
import { readableRoom } from './rooms.ts';

/** Voice and video message recordings: uploaded first, then referred to by a message. */
export class AttachmentService {
  private readonly d: ServiceDeps;
  constructor(d: ServiceDeps) {
    this.d = d;
  }

  async upload(actor: Actor, roomId: string, mimeType: string, data: Uint8Array): Promise<AttachmentMeta> {
    const room = await this.d.store.rooms.get(roomId);
    if (!room) throw new AppError('not_found', `room ${roomId} not found`);
    if (actor.role === 'bot' || !canPost(actor, room))
      throw new AppError('forbidden', `may not upload to room ${roomId}`);
    const type = mimeType.toLowerCase();
    if (!this.d.config.attachmentTypes.includes(type)) {
      throw new AppError(
        'invalid_input',
        `Content-Type: ${type || '(none)'} is not accepted; use one of ${this.d.config.attachmentTypes.join(', ')}`,
      );
    }
    if (data.byteLength === 0) throw new AppError('invalid_input', 'body: the upload is empty');
    if (data.byteLength > this.d.config.attachmentMaxBytes) {
      throw new AppError(
        'payload_too_large',
        `body: uploads are limited to ${this.d.config.attachmentMaxBytes} bytes`,
      );
    }
    const meta: AttachmentMeta = {
      id: randomUUID(),
      roomId,
      uploaderId: actor.id,
      mimeType: type,
      sizeBytes: data.byteLength,
      createdAt: this.d.clock.now(),
    };
    await this.d.store.attachments.insert(meta, data);
    this.d.log.info({ roomId, attachmentId: meta.id, sizeBytes: meta.sizeBytes }, 'attachment stored');
    return meta;
  }

  /** The recording, for members of its room only. */
  async download(
    actor: Actor,
    roomId: string,
    attachmentId: string,
  ): Promise<{ meta: AttachmentMeta; data: Uint8Array }> {
    await readableRoom(this.d.store, actor, roomId);
    const meta = await this.d.store.attachments.meta(attachmentId);
    if (!meta || meta.roomId !== roomId)
      throw new AppError('not_found', `attachment ${attachmentId} not found`);
    const data = await this.d.store.attachments.data(attachmentId);
    if (!data) throw new AppError('not_found', `attachment ${attachmentId} not found`);
    return { meta, data };
  }
}

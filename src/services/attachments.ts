import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { canPost } from '../domain/access.ts';
import { assertMayPost } from '../domain/messaging-rules.ts';
import type { Actor, Room } from '../domain/types.ts';
import { AppError, isAppError } from '../errors.ts';
import type { AttachmentMeta } from '../store/attachments.ts';
import { auditRead } from './audit.ts';
import type { ServiceDeps } from './deps.ts';
import { readableRoom } from './rooms.ts';

/** A recording is stored and served in pieces of this size: what one upload or download holds at a time. */
export const RECORDING_CHUNK_BYTES = 256 * 1024;

/**
 * How long an upload may take. Each chunk's worth of body must arrive within
 * `chunkMs` (~35 kbit/s at least: a client trickling bytes is cut off within a
 * minute), and the whole upload within `totalMs` (25 MiB at ~0.9 Mbit/s) —
 * under Node's own `requestTimeout` (5 minutes), which would otherwise end the
 * request first, without our answer or our log line. A plain object rather
 * than settings: tests shorten these for one request.
 */
export const UPLOAD_LIMITS = { chunkMs: 60_000, totalMs: 4 * 60_000 };

/** The client went away before its upload was complete: not a server error. */
export class UploadAborted extends Error {
  override name = 'UploadAborted';
}

/** An upload's body: the size its sender declared, if it did, and its bytes in pieces of any size. */
export interface UploadBody {
  declaredBytes?: number | undefined;
  /** Read one piece at a time: nothing more is read while a chunk is being stored. */
  pieces: AsyncIterable<Uint8Array>;
}

/** A recording opened for reading: bytes `start` to `end` (inclusive), one chunk at a time. */
export interface OpenRecording {
  meta: AttachmentMeta;
  read(start: number, end: number): AsyncGenerator<Buffer>;
}

/** Voice and video message recordings: uploaded first, then referred to by a message. */
export class AttachmentService {
  private readonly d: ServiceDeps;
  constructor(d: ServiceDeps) {
    this.d = d;
  }

  /**
   * Streams a recording into storage chunk by chunk. Everything knowable from
   * the request line and headers is checked before the first byte is read; the
   * first chunk must look like the claimed container; the size limit holds
   * while the body arrives. Whatever fails, no part of the recording remains.
   */
  /**
   * A recording is uploaded to be sent: one the uploader may not send now (an
   * eap client outside a messaging session, a psychiatry room) is refused
   * before a byte is stored, by the same rules as the message.
   */
  private async assertMaySend(actor: Actor, room: Room, kind: 'voice' | 'video'): Promise<void> {
    if (room.kind !== 'therapy') return;
    const plan = actor.role === 'client' ? await this.d.store.users.getPlan(actor.id) : null;
    const gated = plan?.kind === 'eap' || plan?.kind === 'bh_insurance';
    const messagingSessionOpen = gated
      ? await this.d.gate.isOpen(room.id, actor.id, this.d.clock.now())
      : false;
    assertMayPost({ actor, room, kind, hasMeta: false, plan, messagingSessionOpen });
  }

  async upload(actor: Actor, roomId: string, contentType: string, body: UploadBody): Promise<AttachmentMeta> {
    const { config, store, clock, log } = this.d;
    const room = await store.rooms.get(roomId);
    if (!room) throw new AppError('not_found', `room ${roomId} not found`);
    if (actor.role === 'bot' || !canPost(actor, room))
      throw new AppError('forbidden', `may not upload to room ${roomId}`);
    const type = contentType.toLowerCase();
    await this.assertMaySend(actor, room, type.startsWith('video/') ? 'video' : 'voice');
    if (!config.attachmentTypes.includes(type)) {
      throw new AppError(
        'invalid_input',
        `Content-Type: ${type || '(none)'} is not accepted; use one of ${config.attachmentTypes.join(', ')}`,
      );
    }
    const container = containerOf(type);
    if (!container) {
      throw new AppError(
        'invalid_input',
        `Content-Type: ${type} has no container signature talkroom can check; use one of ${acceptedTypes(config.attachmentTypes).join(', ')}`,
      );
    }
    const tooLarge = () =>
      new AppError('payload_too_large', `body: uploads are limited to ${config.attachmentMaxBytes} bytes`);
    if (body.declaredBytes !== undefined && body.declaredBytes > config.attachmentMaxBytes) throw tooLarge();
    if (body.declaredBytes === 0) throw new AppError('invalid_input', 'body: the upload is empty');

    // Uploads a dead node left unfinished are found by age: none outlives its deadline.
    await store.attachments.sweepUnfinished(new Date(clock.now().getTime() - UPLOAD_LIMITS.totalMs - 60_000));

    const id = randomUUID();
    const createdAt = clock.now();
    let begun = false;
    let chunks = 0;
    let received = 0;
    const storeChunk = async (chunk: Buffer) => {
      if (chunks === 0) {
        if (!container.test(chunk)) {
          throw new AppError('invalid_input', `body: is not ${type}: ${container.name}`);
        }
        await store.attachments.begin({
          id,
          roomId,
          uploaderId: actor.id,
          mimeType: type,
          chunkBytes: RECORDING_CHUNK_BYTES,
          createdAt,
        });
        begun = true;
      }
      await store.attachments.writeChunk(id, chunks, chunk);
      chunks++;
      // The embedded store runs on this thread: let sockets and other requests in between chunks.
      await nextTurn();
    };

    try {
      const pending = new Pending();
      for await (const piece of body.pieces) {
        received += piece.byteLength;
        if (received > config.attachmentMaxBytes) throw tooLarge();
        pending.add(piece);
        while (pending.bytes >= RECORDING_CHUNK_BYTES) await storeChunk(pending.take(RECORDING_CHUNK_BYTES));
      }
      if (pending.bytes > 0) await storeChunk(pending.take(pending.bytes));
      if (received === 0) throw new AppError('invalid_input', 'body: the upload is empty');
      if (!(await store.attachments.complete(id, received, clock.now()))) {
        throw new Error(`attachment ${id} vanished before it was complete`);
      }
    } catch (e) {
      if (begun) {
        await store.attachments.discard(id).catch((err: unknown) => {
          log.warn(
            { err, roomId, attachmentId: id },
            'could not remove an unfinished upload; a later sweep will',
          );
        });
      }
      const ids = { roomId, attachmentId: id, uploaderId: actor.id, receivedBytes: received };
      if (e instanceof UploadAborted) log.info(ids, 'attachment upload aborted by the client');
      else if (isAppError(e)) log.info({ ...ids, code: e.code }, 'attachment upload refused');
      throw e;
    }
    log.info({ roomId, attachmentId: id, sizeBytes: received, chunks }, 'attachment stored');
    return {
      id,
      roomId,
      uploaderId: actor.id,
      mimeType: type,
      sizeBytes: received,
      chunkBytes: RECORDING_CHUNK_BYTES,
      createdAt,
    };
  }

  /** A recording, for members of its room only; its bytes are read as they are sent. */
  async open(actor: Actor, roomId: string, attachmentId: string): Promise<OpenRecording> {
    await readableRoom(this.d.store, actor, roomId);
    const meta = await this.d.store.attachments.meta(attachmentId);
    if (!meta || meta.roomId !== roomId)
      throw new AppError('not_found', `attachment ${attachmentId} not found`);
    await auditRead(this.d.store.db, actor, 'recording.read', this.d.clock.now(), {
      roomId,
      subjectId: meta.uploaderId,
    });
    const repo = this.d.store.attachments;
    async function* read(start: number, end: number): AsyncGenerator<Buffer> {
      const size = meta!.chunkBytes;
      for (let idx = Math.floor(start / size); idx <= Math.floor(end / size); idx++) {
        const data = await repo.readChunk(attachmentId, idx);
        const from = Math.max(start - idx * size, 0);
        const to = Math.min(end - idx * size + 1, size);
        if (!data || data.byteLength < to)
          throw new Error(`attachment ${attachmentId}: chunk ${idx} is short`);
        yield data.subarray(from, to);
        await nextTurn();
      }
    }
    return { meta, read };
  }
}

/** Pieces received but not yet stored: never more than one chunk and one piece. */
class Pending {
  private pieces: Buffer[] = [];
  bytes = 0;
  add(piece: Uint8Array): void {
    this.pieces.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
    this.bytes += piece.byteLength;
  }
  take(n: number): Buffer {
    const out: Buffer[] = [];
    let need = n;
    while (need > 0) {
      const head = this.pieces[0]!;
      if (head.byteLength <= need) {
        out.push(head);
        this.pieces.shift();
        need -= head.byteLength;
      } else {
        out.push(head.subarray(0, need));
        this.pieces[0] = head.subarray(need);
        need = 0;
      }
    }
    this.bytes -= n;
    return out.length === 1 ? out[0]! : Buffer.concat(out, n);
  }
}

interface Container {
  /** What the first bytes must be, in words for the person whose upload was refused. */
  name: string;
  test(head: Uint8Array): boolean;
}

const at = (head: Uint8Array, offset: number, ascii: string) =>
  head.byteLength >= offset + ascii.length &&
  Buffer.from(head.buffer, head.byteOffset + offset, ascii.length).toString('latin1') === ascii;

/** Bytes 4-7 of an ISO base media (MP4) or QuickTime file name its first box (atom). */
const boxAt4 = (head: Uint8Array, names: string[]) => names.some((n) => at(head, 4, n));

const CONTAINERS = {
  matroska: {
    name: 'a WebM/Matroska file begins with the EBML header 1A 45 DF A3',
    test: (h: Uint8Array) => h[0] === 0x1a && h[1] === 0x45 && h[2] === 0xdf && h[3] === 0xa3,
  },
  ogg: { name: 'an Ogg file begins with "OggS"', test: (h: Uint8Array) => at(h, 0, 'OggS') },
  mp4: { name: 'an MP4 file has "ftyp" at byte 4', test: (h: Uint8Array) => boxAt4(h, ['ftyp']) },
  quicktime: {
    name: 'a QuickTime file has "ftyp", "moov", "mdat", "wide", "free" or "skip" at byte 4',
    test: (h: Uint8Array) => boxAt4(h, ['ftyp', 'moov', 'mdat', 'wide', 'free', 'skip']),
  },
  wav: {
    name: 'a WAV file begins with "RIFF" and has "WAVE" at byte 8',
    test: (h: Uint8Array) => at(h, 0, 'RIFF') && at(h, 8, 'WAVE'),
  },
  mpegAudio: {
    name: 'an MPEG audio file begins with an ID3 tag or a frame sync (FF Ex/Fx)',
    test: (h: Uint8Array) =>
      at(h, 0, 'ID3') ||
      // 11 sync bits, then neither the reserved version (01) nor the reserved layer (00).
      (h.byteLength >= 2 &&
        h[0] === 0xff &&
        (h[1]! & 0xe0) === 0xe0 &&
        (h[1]! & 0x18) !== 0x08 &&
        (h[1]! & 0x06) !== 0),
  },
} satisfies Record<string, Container>;

const CONTAINER_OF: Record<string, Container> = {
  'audio/webm': CONTAINERS.matroska,
  'video/webm': CONTAINERS.matroska,
  'audio/x-matroska': CONTAINERS.matroska,
  'video/x-matroska': CONTAINERS.matroska,
  'audio/ogg': CONTAINERS.ogg,
  'video/ogg': CONTAINERS.ogg,
  'audio/mp4': CONTAINERS.mp4,
  'audio/x-m4a': CONTAINERS.mp4,
  'video/mp4': CONTAINERS.mp4,
  'audio/3gpp': CONTAINERS.mp4,
  'video/3gpp': CONTAINERS.mp4,
  'video/quicktime': CONTAINERS.quicktime,
  'audio/wav': CONTAINERS.wav,
  'audio/wave': CONTAINERS.wav,
  'audio/x-wav': CONTAINERS.wav,
  'audio/vnd.wave': CONTAINERS.wav,
  'audio/mpeg': CONTAINERS.mpegAudio,
  'audio/mp3': CONTAINERS.mpegAudio,
};

/** The container a media type claims, if talkroom knows how to recognise it. */
export const containerOf = (type: string): Container | undefined => CONTAINER_OF[type];

const acceptedTypes = (configured: string[]) => configured.filter((t) => CONTAINER_OF[t]);

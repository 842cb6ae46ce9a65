import type express from 'express';
import type { Request, Response } from 'express';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import type { Logger } from '../log.ts';
import {
  type AttachmentService,
  RECORDING_CHUNK_BYTES,
  UPLOAD_LIMITS,
  UploadAborted,
} from '../services/attachments.ts';
import { actor, areaRoutes, param } from './route-kit.ts';

export interface AttachmentRouteDeps {
  config: Config;
  log: Logger;
  inflight: InFlight;
  attachments: AttachmentService;
}

/**
 * Voice and video recordings over REST: the upload's body is the raw file, its
 * type the Content-Type; the download is the file, served so that no browser
 * ever renders it as a page. Mounted on /v1 behind authentication.
 */
export function attachmentRoutes(d: AttachmentRouteDeps): express.Router {
  const { router: r, tracked } = areaRoutes(d.inflight);

  r.post(
    '/rooms/:id/attachments',
    tracked(async (req, res) => {
      const body = new BodyPieces(req, d.config.attachmentMaxBytes);
      try {
        const roomId = param(req, 'id');
        const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
        if (encoding !== 'identity') {
          throw new AppError(
            'invalid_input',
            `Content-Encoding: ${encoding} is not accepted; send the file as is`,
          );
        }
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
        const length = req.headers['content-length'];
        const meta = await d.attachments.upload(actor(req), roomId, type, {
          declaredBytes: length === undefined ? undefined : Number(length),
          pieces: body,
        });
        res.status(201).json({ attachmentId: meta.id, mimeType: meta.mimeType, sizeBytes: meta.sizeBytes });
      } catch (e) {
        body.stop();
        if (e instanceof UploadAborted) {
          // Nobody is listening as a rule; a half-closed client that is gets a code.
          if (!req.socket.destroyed && !res.headersSent) {
            res
              .status(400)
              .set('Connection', 'close')
              .json({ error: { code: 'invalid_input', message: 'body: ended before it was complete' } });
          }
          return;
        }
        // Refused before the whole body arrived: close rather than read the rest.
        if (!body.ended) res.set('Connection', 'close');
        throw e;
      }
    }),
  );

  r.get(
    '/rooms/:id/attachments/:attachmentId',
    tracked(async (req, res) => {
      const roomId = param(req, 'id');
      const attachmentId = param(req, 'attachmentId');
      const { meta, read } = await d.attachments.open(actor(req), roomId, attachmentId);
      const size = meta.sizeBytes;
      // Whatever its bytes, a recording is never a page: no sniffing, no scripts, saved rather than shown.
      res.set({
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "default-src 'none'; sandbox",
        'Content-Disposition': `attachment; filename="recording-${attachmentId}.${extension(meta.mimeType)}"`,
        'Cache-Control': 'private, no-store',
        'Accept-Ranges': 'bytes',
      });
      const range = byteRange(req.headers.range, size);
      if (range === 'unsatisfiable') {
        res
          .status(416)
          .set('Content-Range', `bytes */${size}`)
          .json({
            error: { code: 'invalid_input', message: `Range: outside the recording's ${size} bytes` },
          });
        return;
      }
      const [start, end] = range ?? [0, size - 1];
      if (range) res.status(206).set('Content-Range', `bytes ${start}-${end}/${size}`);
      else res.status(200);
      res.setHeader('Content-Type', meta.mimeType);
      res.setHeader('Content-Length', String(end - start + 1));
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      try {
        for await (const piece of read(start, end)) {
          if (res.destroyed) return; // the client went away
          if (!res.write(piece)) await drained(res);
        }
        res.end();
      } catch (err) {
        // The status line is gone: all that is left is to cut the response short.
        d.log.error({ err, roomId, attachmentId }, 'recording download failed midway');
        res.destroy();
      }
    }),
  );
  return r;
}

/**
 * A request body read one piece at a time, on demand. Between pulls the request
 * is paused, so while a chunk is being stored TCP pushes back on the sender and
 * at most one piece waits here. Limits apply as the bytes arrive: the size
 * limit, a deadline per chunk's worth of body and one for the whole upload.
 */
class BodyPieces implements AsyncIterable<Buffer> {
  readonly #req: Request;
  readonly #maxBytes: number;
  readonly #queue: Buffer[] = [];
  #received = 0;
  #windowEnd = RECORDING_CHUNK_BYTES;
  #ended = false;
  #failure: Error | null = null;
  #wake: (() => void) | null = null;
  #chunkTimer: NodeJS.Timeout | undefined;
  readonly #totalTimer: NodeJS.Timeout;

  constructor(req: Request, maxBytes: number) {
    this.#req = req;
    this.#maxBytes = maxBytes;
    const { totalMs } = UPLOAD_LIMITS;
    this.#armChunkTimer();
    this.#totalTimer = setTimeout(
      () =>
        this.#fail(new AppError('invalid_input', `body: not complete within ${seconds(totalMs)}; cut off`)),
      totalMs,
    ).unref();
    req.on('end', this.#onEnd);
    req.on('close', this.#onClose);
    // Stays for good: a request that errors after we stopped listening must not crash the process.
    req.on('error', this.#onError);
    req.pause();
    if (req.readableEnded) this.#ended = true;
  }

  /** The whole body has been read. */
  get ended(): boolean {
    return this.#ended;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    this.#req.on('data', this.#onData);
    try {
      for (;;) {
        if (this.#failure) throw this.#failure;
        const piece = this.#queue.shift();
        if (piece) {
          yield piece;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#req.resume();
        });
      }
    } finally {
      this.stop();
    }
  }

  /** Stops reading and the clocks; what is left of the body stays unread. Safe to call twice. */
  stop(): void {
    clearTimeout(this.#chunkTimer);
    clearTimeout(this.#totalTimer);
    this.#req.off('data', this.#onData);
    this.#req.off('end', this.#onEnd);
    this.#req.off('close', this.#onClose);
    this.#req.pause();
  }

  #onData = (piece: Buffer) => {
    this.#req.pause();
    this.#received += piece.byteLength;
    if (this.#received > this.#maxBytes) {
      this.#fail(new AppError('payload_too_large', `body: uploads are limited to ${this.#maxBytes} bytes`));
      return;
    }
    if (this.#received >= this.#windowEnd) {
      this.#windowEnd = this.#received + RECORDING_CHUNK_BYTES;
      this.#armChunkTimer();
    }
    this.#queue.push(piece);
    this.#wakeUp();
  };

  #onEnd = () => {
    this.#ended = true;
    clearTimeout(this.#chunkTimer);
    clearTimeout(this.#totalTimer);
    this.#wakeUp();
  };

  #onClose = () => {
    if (!this.#ended) this.#fail(new UploadAborted(`the client left after ${this.#received} bytes`));
  };

  #onError = () => this.#onClose();

  #armChunkTimer() {
    clearTimeout(this.#chunkTimer);
    const { chunkMs } = UPLOAD_LIMITS;
    this.#chunkTimer = setTimeout(
      () =>
        this.#fail(
          new AppError(
            'invalid_input',
            `body: too slow: less than ${RECORDING_CHUNK_BYTES / 1024} KiB in ${seconds(chunkMs)}; cut off`,
          ),
        ),
      chunkMs,
    ).unref();
  }

  #fail(e: Error) {
    if (this.#failure || this.#ended) return;
    this.#failure = e;
    this.stop();
    this.#wakeUp();
  }

  #wakeUp() {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

const seconds = (ms: number) => (ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);

function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * One byte range of a `Range` header (RFC 9110 §14.1.2): `[start, end]`,
 * inclusive; null to serve the whole file (no header, several ranges, or one
 * that cannot be parsed, which a server may ignore).
 */
export function byteRange(
  header: string | undefined,
  size: number,
): [number, number] | 'unsatisfiable' | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    return suffix === 0 ? 'unsatisfiable' : [Math.max(size - suffix, 0), size - 1];
  }
  const start = Number(m[1]);
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return end < start ? null : [start, end];
}

const EXTENSIONS: Record<string, string> = {
  'audio/webm': 'weba',
  'video/webm': 'webm',
  'audio/ogg': 'ogg',
  'video/ogg': 'ogv',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'audio/wav': 'wav',
  'audio/wave': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp3': 'mp3',
};
export const extension = (type: string) => EXTENSIONS[type] ?? 'bin';

import { Readable } from 'node:stream';
import yazl from 'yazl';
import type { Clock } from '../clock.ts';
import type { Actor, Message } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { AttachmentMeta } from '../store/attachments.ts';
import { BookingStore } from '../store/bookings.ts';
import { CreditLedger } from '../store/credits.ts';
import type { Store } from '../store/index.ts';
import { audit } from './audit.ts';
import { publicRoom } from './room-view.ts';

const PAGE = 500;

/**
 * `GET /v1/users/:id/export`: everything talkroom holds about a user, as a
 * zip streamed while it is written. `export.json` is built first (profile,
 * plan, rooms with their messages, bookings, credit ledger); each recording
 * follows as its own entry, read one chunk at a time as the zip is sent, so
 * a user's gigabytes of recordings never sit in memory.
 */
export class UserExport {
  readonly #d: { store: Store; clock: Clock; extension: (mimeType: string) => string };
  constructor(d: { store: Store; clock: Clock; extension: (mimeType: string) => string }) {
    this.#d = d;
  }

  async open(actor: Actor, userId: string): Promise<Readable> {
    if (actor.role !== 'admin' && actor.id !== userId)
      throw new AppError('forbidden', 'an export is for the user themself or an admin');
    const { store, clock } = this.#d;
    const user = await store.users.get(userId);
    if (!user) throw new AppError('not_found', `user ${userId} not found`);
    const now = clock.now();
    await store.db.tx((q) => audit(q, actor, 'user.export', now, { subjectId: userId }));

    const member = user.role === 'client' || user.role === 'provider' ? user.role : 'requester';
    const rooms = await store.rooms.listVisibleTo(userId, member);
    const withMessages = [];
    for (const room of rooms) {
      const messages: Message[] = [];
      // A requester's export holds what they could read: no internal note of the staff.
      const hidden = new Set(room.requesterId === userId ? [room.id] : []);
      for (let after = 0; ; ) {
        const page =
          (await store.messages.since(new Map([[room.id, after]]), PAGE, hidden)).get(room.id) ?? [];
        messages.push(...page);
        if (page.length < PAGE) break;
        after = page.at(-1)!.seq;
      }
      withMessages.push({ ...publicRoom(room), messages });
    }
    const bookings = rooms.length
      ? await new BookingStore(store.db).list({ roomIds: rooms.map((r) => r.id), limit: 100_000 })
      : [];
    const ledger = user.role === 'client' ? await new CreditLedger(store.db).entries(userId, 100_000) : [];
    const recordings = await store.attachments.byUploader(userId);
    const name = (a: AttachmentMeta) => `recordings/${a.id}.${this.#d.extension(a.mimeType)}`;

    const data = {
      exportedAt: now.toISOString(),
      profile: user,
      plan: user.role === 'client' ? await store.users.getPlan(userId) : null,
      rooms: withMessages,
      bookings,
      creditLedger: ledger,
      recordings: recordings.map((a) => ({
        id: a.id,
        roomId: a.roomId,
        mimeType: a.mimeType,
        sizeBytes: a.sizeBytes,
        createdAt: a.createdAt.toISOString(),
        file: name(a),
      })),
    };
    const zip = new yazl.ZipFile();
    zip.addBuffer(Buffer.from(JSON.stringify(data, null, 2)), 'export.json', { mtime: now });
    for (const a of recordings) {
      // Recordings are compressed already: stored as they are.
      zip.addReadStream(Readable.from(chunks(store, a)), name(a), { mtime: a.createdAt, compress: false });
    }
    zip.end();
    return zip.outputStream as Readable;
  }
}

/** A recording's bytes, a chunk at a time, read only when the zip asks for them. */
async function* chunks(store: Store, a: AttachmentMeta): AsyncGenerator<Buffer> {
  const count = Math.ceil(a.sizeBytes / a.chunkBytes);
  for (let idx = 0; idx < count; idx++) {
    const data = await store.attachments.readChunk(a.id, idx);
    if (!data) throw new Error(`recording ${a.id}: chunk ${idx} is missing`);
    yield data;
  }
}

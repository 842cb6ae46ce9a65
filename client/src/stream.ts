import type { Message } from '../../protocol/answers.ts';
import type { RequestAnswer, RequestEvent, RequestInput } from '../../protocol/events.ts';
import { TalkroomError } from './errors.ts';

interface RoomCursor {
  /** The highest seq delivered to the application, with nothing missing below it. */
  seq: number;
  /** Messages that came ahead of a gap, held back until it fills. */
  held: Map<number, Message>;
}

/** What the stream needs of the connection it reads over, and where it delivers. */
export interface StreamLink {
  request<E extends RequestEvent>(event: E, payload: RequestInput<E>): Promise<RequestAnswer<E>>;
  connected(): boolean;
  message(m: Message): void;
  caughtUp(): void;
  failed(e: TalkroomError): void;
}

const SYNC_ROOMS_PER_CALL = 1000;

/**
 * The followed rooms' messages, each delivered exactly once and in `seq` order
 * per room: live events and acknowledgements go in, a gap is held back and
 * filled by `rooms:sync`, and every room is caught up after a (re)connect.
 */
export class MessageStream {
  readonly #rooms = new Map<string, RoomCursor>();
  readonly #link: StreamLink;
  readonly #followAll: boolean;
  /** Signed in with a join link only: one session's chat, no room to follow or catch up. */
  readonly #linkOnly: boolean;
  #syncing = false;
  #syncAgain = false;

  constructor(link: StreamLink, o: { followAll: boolean; linkOnly: boolean }) {
    this.#link = link;
    this.#followAll = o.followAll;
    this.#linkOnly = o.linkOnly;
  }

  follow(roomId: string, lastSeenSeq: number): void {
    if (this.#rooms.has(roomId)) return;
    this.#rooms.set(roomId, { seq: lastSeenSeq, held: new Map() });
    if (this.#link.connected()) this.#sync();
  }

  unfollow(roomId: string): void {
    this.#rooms.delete(roomId);
  }

  lastSeq(roomId: string): number | undefined {
    return this.#rooms.get(roomId)?.seq;
  }

  /** After a (re)connect: catches up every followed room (first adding every room the user sees, when following all). */
  reconnected(): void {
    // A join link opens one session, not the room: there is nothing to catch up.
    if (this.#linkOnly) return;
    if (!this.#followAll) {
      this.#sync();
      return;
    }
    this.#followAllRooms().then(
      () => this.#sync(),
      (e: TalkroomError) => {
        this.#link.failed(e);
        this.#sync();
      },
    );
  }

  /**
   * One message into a room's stream. From live events (and acks) a message
   * past a gap is held and a catch-up fills the gap; a `rooms:sync` answer is
   * complete, so a gap in it is a message this reader does not see.
   */
  ingest(m: Message, complete: boolean): void {
    let r = this.#rooms.get(m.roomId);
    if (!r) {
      // A room not followed yet: followed from this message on.
      r = { seq: m.seq - 1, held: new Map() };
      this.#rooms.set(m.roomId, r);
    }
    if (m.seq <= r.seq || (r.held.has(m.seq) && !complete)) return;
    // A link's socket hears only its session's chat: the seqs between are other messages, not gaps.
    if (this.#linkOnly) {
      r.seq = m.seq;
      this.#link.message(m);
      return;
    }
    if (m.seq === r.seq + 1 || complete) {
      r.held.delete(m.seq);
      r.seq = m.seq;
      this.#link.message(m);
      for (let next = r.held.get(r.seq + 1); next; next = r.held.get(r.seq + 1)) {
        r.held.delete(next.seq);
        r.seq = next.seq;
        this.#link.message(next);
      }
      for (const seq of r.held.keys()) if (seq <= r.seq) r.held.delete(seq);
      return;
    }
    r.held.set(m.seq, m);
    this.#sync();
  }

  /** Catches up every followed room with rooms:sync, page by page; runs once at a time, again if asked meanwhile. */
  #sync(): void {
    if (this.#syncing) {
      this.#syncAgain = true;
      return;
    }
    this.#syncing = true;
    void (async () => {
      try {
        do {
          this.#syncAgain = false;
          await this.#syncOnce();
          // Messages still held came after the server read: their gap fills on another pass.
        } while (this.#syncAgain || [...this.#rooms.values()].some((r) => r.held.size > 0));
        this.#link.caughtUp();
      } catch (e) {
        const err = e instanceof TalkroomError ? e : new TalkroomError('internal', String(e));
        // Not connected: the next connect catches up.
        if (this.#link.connected()) this.#link.failed(err);
      } finally {
        this.#syncing = false;
      }
    })();
  }

  async #syncOnce(): Promise<void> {
    let todo = [...this.#rooms.keys()];
    while (todo.length && this.#link.connected()) {
      const batch = todo.slice(0, SYNC_ROOMS_PER_CALL);
      const cursors = Object.fromEntries(batch.map((id) => [id, this.#rooms.get(id)?.seq ?? 0]));
      let answer: RequestAnswer<'rooms:sync'>;
      try {
        answer = await this.#link.request('rooms:sync', { cursors });
      } catch (e) {
        if (e instanceof TalkroomError && (e.code === 'forbidden' || e.code === 'not_found')) {
          // A room this user no longer sees stops the whole call: keep only the readable ones.
          await this.#dropUnreadable();
          todo = todo.filter((id) => this.#rooms.has(id));
          continue;
        }
        throw e;
      }
      const more: string[] = [];
      for (const id of batch) {
        for (const m of answer.messages[id] ?? []) this.ingest(m, true);
        if (answer.hasMore[id]) more.push(id);
      }
      todo = [...more, ...todo.slice(SYNC_ROOMS_PER_CALL)];
    }
  }

  async #dropUnreadable(): Promise<void> {
    const { rooms } = await this.#link.request('rooms:list', {});
    const visible = new Set(rooms.map((r) => r.id));
    for (const id of [...this.#rooms.keys()]) if (!visible.has(id)) this.#rooms.delete(id);
  }

  async #followAllRooms(): Promise<void> {
    const { rooms } = await this.#link.request('rooms:list', {});
    for (const room of rooms) if (!this.#rooms.has(room.id)) this.follow(room.id, room.lastSeq);
  }
}

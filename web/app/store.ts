/// <reference lib="dom" />
import { TalkroomClient, type TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import { Api, type Booking, type Message, type Room } from './api.ts';
import type { Me } from './session.ts';

interface Timeline {
  /** The newest page has been read: live messages join it from then on. */
  loaded: boolean;
  messages: Message[];
  hasMore: boolean;
  loading: boolean;
}

const PAGE = 30;
const TYPING_FOR_MS = 6000;

/**
 * What the app knows, in one place: the rooms, each open room's timeline, read
 * receipts, who is typing and who is online. The SDK's `message` stream
 * (live, caught up after a reconnect, or this user's own sends) feeds it;
 * components re-render on `version`.
 */
export class AppStore {
  readonly me: Me;
  readonly api: Api;
  readonly client: TalkroomClient;
  rooms: Room[] = [];
  roomsLoaded = false;
  connected = false;
  error: string | null = null;
  readonly timelines = new Map<string, Timeline>();
  /** Per room, per member: the highest seq they have read. */
  readonly receipts = new Map<string, Map<string, number>>();
  /** Per room: who is typing, until when. */
  readonly typing = new Map<string, Map<string, number>>();
  /** Per room: its bookings as last loaded (a booking request names its booking by id only). */
  readonly bookings = new Map<string, Booking[]>();
  /** A booking request the provider chose to act on: its session card opens that action. */
  acting: { bookingId: string; action: 'cancel' | 'reschedule' } | null = null;
  version = 0;
  readonly #listeners = new Set<() => void>();
  #roomsTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(me: Me, origin: string) {
    this.me = me;
    this.api = new Api(origin, () => this.me.token);
    this.client = new TalkroomClient({ url: origin, token: me.token, rooms: 'all' });
    this.client.on('connected', () => {
      this.connected = true;
      this.changed();
      this.refreshRooms();
    });
    this.client.on('disconnected', () => {
      this.connected = false;
      this.changed();
    });
    this.client.on('error', (e: TalkroomError) => {
      if (e.code === 'unauthenticated' || e.code === 'token_expired') {
        this.error = 'Your sign-in is no longer valid. Open the app again from your platform.';
        this.changed();
      }
    });
    this.client.on('message', (m) => this.#onMessage(m));
    this.client.onServer('message:read', ({ roomId, userId, seq }) => {
      this.#receiptsOf(roomId).set(userId, Math.max(seq, this.#receiptsOf(roomId).get(userId) ?? 0));
      this.changed();
    });
    this.client.onServer('typing', ({ roomId, userId, typing }) => {
      if (userId === this.me.userId) return;
      const t = this.typing.get(roomId) ?? new Map<string, number>();
      this.typing.set(roomId, t);
      if (typing) {
        t.set(userId, Date.now() + TYPING_FOR_MS);
        setTimeout(() => this.changed(), TYPING_FOR_MS + 50);
      } else t.delete(userId);
      this.changed();
    });
    this.client.onServer('presence', ({ userId, online }) => {
      for (const r of this.rooms) for (const m of r.members) if (m.userId === userId) m.online = online;
      this.changed();
    });
    this.client.onServer('room:opened', () => this.refreshRooms());
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  changed(): void {
    this.version++;
    for (const fn of this.#listeners) fn();
  }

  /** The rooms list again (unread counts and reply deadlines are the server's to work out), at most every 300 ms. */
  refreshRooms(): void {
    clearTimeout(this.#roomsTimer);
    this.#roomsTimer = setTimeout(() => {
      this.api.rooms().then(
        (rooms) => {
          this.rooms = rooms;
          this.roomsLoaded = true;
          this.changed();
        },
        (e: TalkroomError) => {
          this.error = e.message;
          this.changed();
        },
      );
    }, 300);
  }

  /** The room's bookings again: its session cards and its booking requests read them. */
  loadBookings(roomId: string): Promise<Booking[]> {
    return this.api.bookings({ roomId }).then((all) => {
      this.bookings.set(roomId, all);
      this.changed();
      return all;
    });
  }

  booking(roomId: string, id: string): Booking | undefined {
    return this.bookings.get(roomId)?.find((b) => b.id === id);
  }

  /** Opens the action on the booking's session card (the provider answering a request). */
  act(bookingId: string, action: 'cancel' | 'reschedule'): void {
    this.acting = { bookingId, action };
    this.changed();
  }

  /** A room as the server just answered it (a ticket change), ahead of the next list. */
  putRoom(room: Room): void {
    this.rooms = this.rooms.map((r) => (r.id === room.id ? room : r));
    this.changed();
  }

  room(id: string): Room | undefined {
    return this.rooms.find((r) => r.id === id);
  }

  timeline(roomId: string): Timeline {
    let t = this.timelines.get(roomId);
    if (!t) {
      t = { loaded: false, messages: [], hasMore: true, loading: false };
      this.timelines.set(roomId, t);
    }
    return t;
  }

  /** Loads the page before the oldest message shown (or the newest page when none is). */
  async loadOlder(roomId: string): Promise<void> {
    const t = this.timeline(roomId);
    if (t.loading || !t.hasMore) return;
    t.loading = true;
    this.changed();
    try {
      const oldest = t.messages[0]?.seq;
      const page = await this.client.history(roomId, {
        limit: PAGE,
        ...(oldest ? { beforeSeq: oldest } : {}),
      });
      this.#merge(roomId, page.messages);
      t.hasMore = page.hasMore;
      t.loaded = true;
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      t.loading = false;
      this.changed();
    }
  }

  /** Marks the room read up to its newest message (the server tells the other members). */
  markRead(roomId: string): void {
    const last = this.timeline(roomId).messages.at(-1)?.seq;
    const room = this.room(roomId);
    if (!last || !room || room.lastReadSeq >= last) return;
    room.lastReadSeq = last;
    room.unread = 0;
    this.changed();
    this.client.request('message:read', { roomId, seq: last }).catch(() => {});
  }

  typingIn(roomId: string): string[] {
    const now = Date.now();
    return [...(this.typing.get(roomId) ?? new Map()).entries()]
      .filter(([, until]) => until > now)
      .map(([u]) => u);
  }

  /** A sender's name; the staff of a support room are no members of it, so their role names them. */
  nameOf(roomId: string, userId: string, role?: string): string {
    if (userId === this.me.userId) return 'You';
    if (userId === 'talkroom') return 'talkroom';
    const m = this.room(roomId)?.members.find((x) => x.userId === userId);
    const as = m?.role ?? role;
    return m?.displayName ?? (as === 'support' ? 'Support' : as === 'clinical' ? 'Clinical team' : 'Someone');
  }

  #receiptsOf(roomId: string): Map<string, number> {
    let r = this.receipts.get(roomId);
    if (!r) {
      r = new Map();
      this.receipts.set(roomId, r);
    }
    return r;
  }

  #onMessage(m: Message): void {
    const t = this.timelines.get(m.roomId);
    // A room whose timeline was never opened loads its newest page when opened.
    if (t?.loaded) this.#merge(m.roomId, [m]);
    if (m.senderId === this.me.userId) this.#receiptsOf(m.roomId).set(m.senderId, m.seq);
    this.typing.get(m.roomId)?.delete(m.senderId);
    this.changed();
    this.refreshRooms();
  }

  #merge(roomId: string, incoming: Message[]): void {
    const t = this.timeline(roomId);
    const bySeq = new Map(t.messages.map((m) => [m.seq, m]));
    for (const m of incoming) bySeq.set(m.seq, m);
    t.messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }
}

/** Re-renders the calling component whenever the store changes. */
export function useStore(store: AppStore): number {
  const [, set] = useState(0);
  useEffect(() => store.subscribe(() => set(store.version)), [store]);
  return store.version;
}

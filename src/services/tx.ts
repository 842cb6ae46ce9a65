import type { BookingStatus } from '../domain/bookings.ts';
import type { Message } from '../domain/types.ts';
import { BookingStore, LiveParticipants } from '../store/bookings.ts';
import { CreditLedger } from '../store/credits.ts';
import type { Db, Queryable } from '../store/db.ts';
import { JobStore } from '../store/jobs.ts';
import { MessagesRepo } from '../store/messages.ts';
import { RoomsRepo } from '../store/rooms.ts';
import { UsersRepo } from '../store/users.ts';

/**
 * A unit of work: the repositories over one transaction, plus what to do once
 * it commits. System messages are stored inside the transaction (so a booking
 * change and the room's notice of it land together) and broadcast after it.
 */
export interface Tx {
  q: Queryable;
  users: UsersRepo;
  rooms: RoomsRepo;
  bookings: BookingStore;
  live: LiveParticipants;
  credits: CreditLedger;
  jobs: JobStore;
  messages: MessagesRepo;
  /** Stored messages to broadcast after commit. */
  notices: Message[];
  /** Whether jobs were added (the scheduler should look again). */
  scheduled: boolean;
  /** Live sessions that ended in this transaction, with their status, to announce after commit. */
  ended: Array<[string, BookingStatus]>;
  /** The status each booking changed into, in order (counted in metrics after commit). */
  entered: BookingStatus[];
}

/** The booking store of a unit of work, noting each status a booking enters. */
class NotingBookings extends BookingStore {
  readonly #entered: BookingStatus[];
  constructor(q: Queryable, entered: BookingStatus[]) {
    super(q);
    this.#entered = entered;
  }
  override async insert(b: Parameters<BookingStore['insert']>[0]) {
    const row = await super.insert(b);
    this.#entered.push(row.status);
    return row;
  }
  override async transition(...args: Parameters<BookingStore['transition']>) {
    const row = await super.transition(...args);
    const [, from, to] = args;
    if (row && !from.includes(to)) this.#entered.push(to);
    return row;
  }
}

export async function inTx<T>(db: Db, fn: (t: Tx) => Promise<T>, after: (t: Tx) => void): Promise<T> {
  let tx!: Tx;
  const out = await db.tx(async (q) => {
    const entered: BookingStatus[] = [];
    tx = {
      q,
      users: new UsersRepo(q),
      rooms: new RoomsRepo(q),
      bookings: new NotingBookings(q, entered),
      live: new LiveParticipants(q),
      credits: new CreditLedger(q),
      jobs: new JobStore(q),
      messages: new MessagesRepo(q, db.keyring),
      notices: [],
      scheduled: false,
      ended: [],
      entered,
    };
    return fn(tx);
  });
  after(tx);
  return out;
}

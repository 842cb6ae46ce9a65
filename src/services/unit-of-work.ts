import type { BookingStatus, Modality } from '../domain/bookings.ts';
import type { Message } from '../domain/types.ts';
import { JobQueue } from '../jobs/kinds.ts';
import type { Logger } from '../log.ts';
import { BookingStore, LiveParticipants } from '../store/bookings.ts';
import { CreditLedger } from '../store/credits.ts';
import type { Db, Queryable } from '../store/db.ts';
import { MessagesRepo } from '../store/messages.ts';
import { RoomsRepo } from '../store/rooms.ts';
import { UsersRepo } from '../store/users.ts';
import type { Audience } from './ports.ts';

/** What happened, told to the subscribers once the change is committed. */
export type DomainEvent =
  /** A message was stored (a system notice, say): the room hears it (`audience`: but for whom). */
  | { type: 'message.stored'; message: Message; audience?: Audience | undefined }
  /** A booking entered a status (a new one included). */
  | { type: 'booking.changed'; bookingId: string; status: BookingStatus }
  | { type: 'session.started'; bookingId: string; modality: Modality; startedAt: string }
  /** A live session is over (completed or a no-show): its media is freed, its participants told. */
  | { type: 'session.ended'; bookingId: string; status: BookingStatus }
  /** Durable jobs were added: the schedulers should look again. */
  | { type: 'jobs.scheduled' };

export type DomainEventType = DomainEvent['type'];
type Of<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

/**
 * The subscribers to domain events, wired once in the composition root (the
 * hook style of hocuspocus): services publish what happened and never call the
 * transports, the metrics or the scheduler themselves. Subscribers run in the
 * order they were added; one that throws is logged and the others still run.
 */
export class DomainEvents {
  readonly #subs = new Map<DomainEventType, Array<(e: DomainEvent) => void>>();
  readonly #log: Logger | undefined;
  constructor(log?: Logger) {
    this.#log = log;
  }

  on<T extends DomainEventType>(type: T, fn: (e: Of<T>) => void): this {
    const list = this.#subs.get(type) ?? [];
    list.push(fn as (e: DomainEvent) => void);
    this.#subs.set(type, list);
    return this;
  }

  publish(events: readonly DomainEvent[]): void {
    // One wake-up however many jobs a change added.
    let woke = false;
    for (const e of events) {
      if (e.type === 'jobs.scheduled') {
        if (woke) continue;
        woke = true;
      }
      for (const fn of this.#subs.get(e.type) ?? []) {
        try {
          fn(e);
        } catch (err) {
          this.#log?.error({ err, event: e.type }, 'a domain event subscriber failed');
        }
      }
    }
  }
}

/** The repositories over one connection or transaction, each made when first used. */
export class Repos {
  readonly q: Queryable;
  readonly #keyring: Db['keyring'];
  readonly #made = new Map<string, unknown>();
  constructor(q: Queryable, keyring: Db['keyring']) {
    this.q = q;
    this.#keyring = keyring;
  }

  #once<T>(name: string, make: () => T): T {
    if (!this.#made.has(name)) this.#made.set(name, make());
    return this.#made.get(name) as T;
  }

  get users() {
    return this.#once('users', () => new UsersRepo(this.q));
  }
  get rooms() {
    return this.#once('rooms', () => new RoomsRepo(this.q));
  }
  get bookings() {
    return this.#once('bookings', () => new BookingStore(this.q));
  }
  get live() {
    return this.#once('live', () => new LiveParticipants(this.q));
  }
  get credits() {
    return this.#once('credits', () => new CreditLedger(this.q));
  }
  get messages() {
    return this.#once('messages', () => new MessagesRepo(this.q, this.#keyring));
  }
}

/**
 * A unit of work: the repositories over one transaction, the jobs it adds, and
 * the domain events it records. The events are published when, and only if,
 * the transaction commits: a booking change and the room's notice of it land
 * together, and nobody hears of a change that rolled back.
 */
export class Tx extends Repos {
  readonly #events: DomainEvent[];
  readonly jobs: JobQueue;
  constructor(q: Queryable, keyring: Db['keyring'], events: DomainEvent[]) {
    super(q, keyring);
    this.#events = events;
    this.jobs = new JobQueue(q, () => this.emit({ type: 'jobs.scheduled' }));
  }

  emit(e: DomainEvent): void {
    this.#events.push(e);
  }
}

/** Runs changes as units of work and reads without a transaction. */
export class UnitOfWork {
  readonly #db: Db;
  readonly #events: DomainEvents;
  /** Reads of one row or one list: no transaction, the repositories over the pool. */
  readonly read: Repos;
  constructor(db: Db, events: DomainEvents) {
    this.#db = db;
    this.#events = events;
    this.read = new Repos(db, db.keyring);
  }

  async run<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    let recorded: DomainEvent[] = [];
    const out = await this.#db.tx((q) => {
      recorded = [];
      return fn(new Tx(q, this.#db.keyring, recorded));
    });
    this.#events.publish(recorded);
    return out;
  }
}

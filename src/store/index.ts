import { AppendQueue } from './append-queue.ts';
import { AttachmentsRepo } from './attachments.ts';
import { type Db, type DbOptions, openDb } from './db.ts';
import { MessagesRepo } from './messages.ts';
import { migrate } from './migrate.ts';
import { RoomsRepo } from './rooms.ts';
import { UsersRepo } from './users.ts';

/** The repositories over one database. */
export interface Store {
  db: Db;
  users: UsersRepo;
  rooms: RoomsRepo;
  messages: MessagesRepo;
  /** The message hot path: appends with group commit. */
  appender: AppendQueue;
  attachments: AttachmentsRepo;
}

export function storeOver(db: Db): Store {
  return {
    db,
    users: new UsersRepo(db),
    rooms: new RoomsRepo(db),
    messages: new MessagesRepo(db, db.keyring),
    appender: new AppendQueue(db),
    attachments: new AttachmentsRepo(db, db.keyring),
  };
}

/** Opens the configured backend and brings its schema up to date. */
export async function openStore(opts: DbOptions): Promise<Store> {
  const db = await openDb({ ...opts, migrating: true });
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    throw e;
  }
  return storeOver(db);
}

export type { Db, Queryable } from './db.ts';

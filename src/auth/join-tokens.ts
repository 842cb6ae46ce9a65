import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { AppError } from '../errors.ts';
import type { Db } from '../store/db.ts';

const Claims = z.object({
  typ: z.literal('join'),
  bid: z.string(),
  sub: z.string(),
  nbf: z.number(),
  exp: z.number(),
});

export interface JoinGrant {
  bookingId: string;
  userId: string;
  opensAt: Date;
  closesAt: Date;
}

/**
 * Join links carry a signed token bound to one booking and one participant,
 * valid from the join window's opening to the session's end. The signing key
 * is the server's own (not the platform's), kept in the database so every node
 * shares it.
 */
export class JoinTokens {
  readonly #key: string;
  constructor(key: string) {
    this.#key = key;
  }

  static async load(db: Db): Promise<JoinTokens> {
    await db.query(
      `INSERT INTO server_secrets (name, value) VALUES ('join_token_key', $1) ON CONFLICT (name) DO NOTHING`,
      [randomBytes(48).toString('base64url')],
    );
    const [row] = await db.query<{ value: string }>(
      `SELECT value FROM server_secrets WHERE name = 'join_token_key'`,
    );
    return new JoinTokens(row!.value);
  }

  sign(g: JoinGrant): string {
    return jwt.sign(
      {
        typ: 'join',
        bid: g.bookingId,
        sub: g.userId,
        nbf: Math.floor(g.opensAt.getTime() / 1000),
        exp: Math.ceil(g.closesAt.getTime() / 1000),
      },
      this.#key,
      { algorithm: 'HS256', noTimestamp: true },
    );
  }

  /**
   * The grant of a genuine link whose window has not closed yet, even if it has
   * not opened: what a page shows before the session ("opens at …").
   */
  read(token: string, now: Date): JoinGrant {
    return this.#grant(token, now, true, (e) =>
      e instanceof jwt.TokenExpiredError
        ? `this join link expired at ${e.expiredAt.toISOString()}`
        : undefined,
    );
  }

  /** The grant, if the token is genuine and its window is open at `now`. */
  verify(token: string, now: Date): JoinGrant {
    return this.#grant(token, now, false, (e) =>
      e instanceof jwt.TokenExpiredError || e instanceof jwt.NotBeforeError
        ? 'this join link works from shortly before the session until its end'
        : undefined,
    );
  }

  /** Verifies the signature (and the window, unless told to ignore its opening); `closed` words a window refusal. */
  #grant(
    token: string,
    now: Date,
    ignoreNotBefore: boolean,
    closed: (e: unknown) => string | undefined,
  ): JoinGrant {
    let decoded: unknown;
    try {
      decoded = jwt.verify(token, this.#key, {
        algorithms: ['HS256'],
        clockTimestamp: Math.floor(now.getTime() / 1000),
        ignoreNotBefore,
      });
    } catch (e) {
      const why = closed(e);
      if (why) throw new AppError('join_window_closed', why);
      throw new AppError('unauthenticated', 'the join link is not valid');
    }
    return toGrant(decoded);
  }
}

function toGrant(decoded: unknown): JoinGrant {
  const c = Claims.safeParse(decoded);
  if (!c.success) throw new AppError('unauthenticated', 'the join link is not valid');
  return {
    bookingId: c.data.bid,
    userId: c.data.sub,
    opensAt: new Date(c.data.nbf * 1000),
    closesAt: new Date(c.data.exp * 1000),
  };
}

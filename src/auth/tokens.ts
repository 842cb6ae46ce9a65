import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWTVerifyGetKey } from 'jose';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { Text } from '../../protocol/inputs.ts';
import { type Actor, ROLES } from '../domain/types.ts';
import { AppError } from '../errors.ts';

// The last instant a Date can hold is in the year 275760; no real token lives past 9999.
const MAX_EXP = Date.UTC(9999, 11, 31, 23, 59, 59) / 1000;

/**
 * The user id and room ids of a token reach the store, so they are held to
 * the same storable text as every other string from outside.
 */
const Claims = z.object({
  sub: Text.min(1).max(128),
  role: z.enum(ROLES),
  exp: z.number().max(MAX_EXP),
  rooms: z.array(Text.min(1).max(128)).max(10_000).optional(),
});

export interface Identity extends Actor {
  /** Expiry, in ms since the epoch. */
  expiresAt: number;
}

export interface AuthSettings {
  secret?: string | undefined;
  publicKey?: string | undefined;
  /** A JWKS endpoint: tokens whose header names a `kid` are verified with its key of that id. */
  jwksUrl?: string | undefined;
  /** How long a fetched key set is used before it is fetched again (jose's cacheMaxAge; default 10 minutes). */
  jwksCacheMs?: number | undefined;
  /** The least time between two fetches, an unknown `kid` included (jose's cooldownDuration; default 30 s). */
  jwksCooldownMs?: number | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
}

/**
 * The algorithms a JWKS key may sign with: asymmetric only, as for a static
 * public key. jose also checks that the key's type fits the algorithm, so an
 * HMAC token can never be checked against a public key taken as a secret.
 */
const JWKS_ALGORITHMS = ['RS256', 'ES256'];

/** The key set could not be fetched or read: the token may well be good, so the caller is told to retry. */
class KeySetUnavailable extends Error {}

/**
 * Verifies the platform's JWTs, against a static key (AUTH_JWT_SECRET or
 * AUTH_JWT_PUBLIC_KEY) and/or a JWKS endpoint (AUTH_JWKS_URL). A token whose
 * header carries a `kid` goes to the JWKS when one is configured; any other
 * token to the static key. Algorithms are pinned by the kind of key, so
 * `none` and HS/RS confusion (an RS public key used as an HMAC secret) are
 * refused before any signature is checked.
 *
 * The key set is fetched on first use and kept for `jwksCacheMs`; a `kid` it
 * does not hold makes it fetch again at once, unless it fetched less than
 * `jwksCooldownMs` ago (so made-up kids cannot make the server hammer the
 * endpoint). A key removed from the endpoint is therefore refused after the
 * next fetch: at the latest `jwksCacheMs` later, earlier when a new `kid`
 * triggers one. A fetch that fails answers `unavailable`, never `unauthenticated`.
 */
export class TokenVerifier {
  readonly #static: { key: string; options: jwt.VerifyOptions } | undefined;
  readonly #jwks: JWTVerifyGetKey | undefined;
  /** jose, loaded only with AUTH_JWKS_URL: a deployment without one never holds it in memory. */
  readonly #jose: Promise<typeof import('jose')> | undefined;
  readonly #claimChecks: { issuer?: string; audience?: string } = {};

  constructor(s: AuthSettings) {
    let options: jwt.VerifyOptions | undefined;
    if (s.secret) {
      options = { algorithms: ['HS256'] };
      this.#static = { key: s.secret, options };
    } else if (s.publicKey) {
      const type = createPublicKey(s.publicKey).asymmetricKeyType;
      if (type !== 'rsa' && type !== 'ec')
        throw new Error(`AUTH_JWT_PUBLIC_KEY: unsupported key type ${type}`);
      options = { algorithms: [type === 'rsa' ? 'RS256' : 'ES256'] };
      this.#static = { key: s.publicKey, options };
    } else if (!s.jwksUrl) {
      throw new Error('no JWT key configured');
    }
    if (s.jwksUrl) {
      const url = new URL(s.jwksUrl);
      const jose = import('jose');
      this.#jose = jose;
      const remote = jose.then((j) =>
        j.createRemoteJWKSet(url, {
          ...(s.jwksCacheMs !== undefined ? { cacheMaxAge: s.jwksCacheMs } : {}),
          ...(s.jwksCooldownMs !== undefined ? { cooldownDuration: s.jwksCooldownMs } : {}),
        }),
      );
      // Awaited by every use; a rejection no use has awaited yet must not end the process.
      remote.catch(() => {});
      this.#jwks = async (header, token) => {
        const [{ errors }, fromSet] = await Promise.all([jose, remote]);
        try {
          return await fromSet(header, token);
        } catch (e) {
          // The set answered and holds no (single, usable) key for this token: the token's fault.
          if (
            e instanceof errors.JWKSNoMatchingKey ||
            e instanceof errors.JWKSMultipleMatchingKeys ||
            e instanceof errors.JOSENotSupported
          )
            throw e;
          // Unreachable, timed out, not 200, not a key set: the endpoint's fault.
          throw new KeySetUnavailable((e as Error).message);
        }
      };
    }
    if (s.issuer) this.#claimChecks.issuer = s.issuer;
    if (s.audience) this.#claimChecks.audience = s.audience;
    if (options) Object.assign(options, this.#claimChecks);
  }

  async verify(token: string | undefined, now = Date.now()): Promise<Identity> {
    if (!token) throw new AppError('unauthenticated', 'a bearer token is required');
    const decodedHeader = jwt.decode(token, { complete: true });
    if (!decodedHeader) throw new AppError('unauthenticated', 'the token is not valid');
    const kid = decodedHeader.header.kid;
    const decoded = kid && this.#jwks ? await this.#fromJwks(token, now) : this.#fromStatic(token, now);
    return identity(decoded);
  }

  #fromStatic(token: string, now: number): unknown {
    if (!this.#static) {
      throw new AppError('unauthenticated', 'the token names no key (kid) of the key set');
    }
    try {
      return jwt.verify(token, this.#static.key, {
        ...this.#static.options,
        clockTimestamp: Math.floor(now / 1000),
      });
    } catch (e) {
      if (e instanceof jwt.TokenExpiredError) throw new AppError('token_expired', 'the token has expired');
      throw new AppError('unauthenticated', 'the token is not valid');
    }
  }

  async #fromJwks(token: string, now: number): Promise<unknown> {
    const { errors: jose, jwtVerify } = await this.#jose!;
    try {
      const { payload } = await jwtVerify(token, this.#jwks!, {
        algorithms: JWKS_ALGORITHMS,
        currentDate: new Date(now),
        ...this.#claimChecks,
      });
      return payload;
    } catch (e) {
      if (e instanceof jose.JWTExpired) throw new AppError('token_expired', 'the token has expired');
      if (e instanceof KeySetUnavailable) {
        throw new AppError(
          'unavailable',
          'the signing keys (AUTH_JWKS_URL) cannot be fetched right now; retry',
        );
      }
      throw new AppError('unauthenticated', 'the token is not valid');
    }
  }
}

function identity(decoded: unknown): Identity {
  const claims = Claims.safeParse(decoded);
  if (!claims.success) throw new AppError('unauthenticated', 'the token lacks a usable sub, role or exp');
  const c = claims.data;
  const id: Identity = { id: c.sub, role: c.role, expiresAt: c.exp * 1000 };
  if (c.role === 'bot') id.rooms = c.rooms ?? [];
  return id;
}

/** For trying the server and for tests: the platform issues real tokens. */
export function mintToken(
  secret: string,
  claims: { sub: string; role: string; rooms?: string[] },
  opts: { expiresInSec?: number; issuer?: string; audience?: string } = {},
): string {
  const sign: jwt.SignOptions = { algorithm: 'HS256', expiresIn: opts.expiresInSec ?? 3600 };
  if (opts.issuer) sign.issuer = opts.issuer;
  if (opts.audience) sign.audience = opts.audience;
  return jwt.sign(claims, secret, sign);
}

/**
 * With no key configured, the embedded default keeps a generated HS256 secret
 * under DATA_DIR so tokens minted with `npm run token` keep working across restarts.
 */
export function embeddedSecret(dataDir: string): string {
  const file = join(dataDir, 'jwt-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

/** The token of an `Authorization: Bearer …` header. */
export function bearerToken(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { Text } from '../api/schemas.ts';
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
  issuer?: string | undefined;
  audience?: string | undefined;
}

/**
 * Verifies the platform's JWTs. The algorithm is pinned by the kind of key
 * configured, so `none` and HS/RS confusion (an RS public key used as an HMAC
 * secret) are refused before any signature is checked.
 */
export class TokenVerifier {
  readonly #key: string;
  readonly #options: jwt.VerifyOptions;

  constructor(s: AuthSettings) {
    if (s.secret) {
      this.#key = s.secret;
      this.#options = { algorithms: ['HS256'] };
    } else if (s.publicKey) {
      const type = createPublicKey(s.publicKey).asymmetricKeyType;
      if (type !== 'rsa' && type !== 'ec')
        throw new Error(`AUTH_JWT_PUBLIC_KEY: unsupported key type ${type}`);
      this.#key = s.publicKey;
      this.#options = { algorithms: [type === 'rsa' ? 'RS256' : 'ES256'] };
    } else {
      throw new Error('no JWT key configured');
    }
    if (s.issuer) this.#options.issuer = s.issuer;
    if (s.audience) this.#options.audience = s.audience;
  }

  verify(token: string | undefined, now = Date.now()): Identity {
    if (!token) throw new AppError('unauthenticated', 'a bearer token is required');
    let decoded: unknown;
    try {
      decoded = jwt.verify(token, this.#key, { ...this.#options, clockTimestamp: Math.floor(now / 1000) });
    } catch (e) {
      if (e instanceof jwt.TokenExpiredError) throw new AppError('token_expired', 'the token has expired');
      throw new AppError('unauthenticated', 'the token is not valid');
    }
    const claims = Claims.safeParse(decoded);
    if (!claims.success) throw new AppError('unauthenticated', 'the token lacks a usable sub, role or exp');
    const c = claims.data;
    const id: Identity = { id: c.sub, role: c.role, expiresAt: c.exp * 1000 };
    if (c.role === 'bot') id.rooms = c.rooms ?? [];
    return id;
  }
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

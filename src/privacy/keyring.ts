import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomBytes,
  randomFillSync,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commaList } from '../comma-list.ts';

/** One data key: its id (stored beside every value it seals) and 32 bytes of AES-256 key. */
export interface DataKey {
  kid: string;
  key: Buffer;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Random IVs drawn from a pool filled 4 KiB at a time: a call into OpenSSL for
 * each 12 bytes was 5 % of the server's CPU under the messaging benchmark.
 * Each IV is still fresh randomness, used once (GCM's requirement).
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 341);
let ivAt = IV_POOL.length;
function freshIv(): Buffer {
  if (ivAt + IV_BYTES > IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivAt = 0;
  }
  // A copy: the pool is overwritten on the next refill.
  const iv = Buffer.from(IV_POOL.subarray(ivAt, ivAt + IV_BYTES));
  ivAt += IV_BYTES;
  return iv;
}

/**
 * Encryption at rest: AES-256-GCM under the first key, opened with whichever
 * key sealed the value. A sealed value is `iv | tag | ciphertext`. The
 * additional data binds a value to where it is stored (a message's id and
 * field, a chunk's recording and index), so a copied ciphertext does not
 * open in another row.
 */
export class Keyring {
  // Key objects made once: given raw bytes, every cipher would import the key again (10 % of a server's CPU in the profile).
  readonly #keys: Map<string, KeyObject>;
  /** The key every new value is sealed with. */
  readonly current: string;

  constructor(keys: readonly DataKey[]) {
    if (keys.length === 0) throw new Error('a keyring needs at least one key');
    for (const k of keys) {
      if (k.key.length !== 32) throw new Error(`key ${k.kid} is not 32 bytes`);
    }
    this.#keys = new Map(keys.map((k) => [k.kid, createSecretKey(k.key)]));
    this.current = keys[0]!.kid;
  }

  /** A keyring with one random key that lives as long as the process (in-memory stores). */
  static ephemeral(): Keyring {
    return new Keyring([{ kid: 'memory', key: randomBytes(32) }]);
  }

  seal(plain: Uint8Array, aad: string): Buffer {
    const iv = freshIv();
    const c = createCipheriv('aes-256-gcm', this.#keys.get(this.current)!, iv);
    c.setAAD(Buffer.from(aad));
    const body = c.update(plain);
    const final = c.final();
    return Buffer.concat([iv, c.getAuthTag(), body, final]);
  }

  open(kid: string, sealed: Uint8Array, aad: string): Buffer {
    const key = this.#keys.get(kid);
    if (!key) throw new Error(`no key "${kid}" in ENCRYPTION_KEYS to open a stored value`);
    const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, IV_BYTES));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(b.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([d.update(b.subarray(IV_BYTES + TAG_BYTES)), d.final()]);
  }

  sealText(text: string, aad: string): string {
    return this.seal(Buffer.from(text, 'utf8'), aad).toString('base64');
  }

  openText(kid: string, sealed: string, aad: string): string {
    return this.open(kid, Buffer.from(sealed, 'base64'), aad).toString('utf8');
  }
}

/** `kid:base64key,…` → keys, first first; a problem names the entry. */
export function parseKeys(text: string): DataKey[] | string {
  const out: DataKey[] = [];
  for (const part of commaList(text)) {
    const at = part.indexOf(':');
    const kid = at > 0 ? part.slice(0, at) : '';
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(kid)) {
      return `each key is kid:base64key with a kid of letters, digits, "_", "." or "-" (entry ${out.length + 1})`;
    }
    const b64 = part.slice(at + 1);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64) || key.length !== 32) {
      return `key ${kid} must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`)`;
    }
    if (out.some((k) => k.kid === kid)) return `key id ${kid} is listed twice`;
    out.push({ kid, key });
  }
  if (out.length === 0) return 'lists no key';
  return out;
}

/** The embedded store's key, generated on first start and kept under DATA_DIR like the JWT secret. */
export function embeddedKeys(dataDir: string): DataKey[] {
  const file = join(dataDir, 'encryption-key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `local:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another start wrote it first: use that one.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
  const keys = parseKeys(readFileSync(file, 'utf8').trim());
  if (typeof keys === 'string') throw new Error(`${file}: ${keys}`);
  return keys;
}

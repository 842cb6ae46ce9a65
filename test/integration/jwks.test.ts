import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import { io as connectSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken, TokenVerifier } from '../../src/auth/tokens.ts';
import { loadConfig } from '../../src/config.ts';
import { postgres } from '../helpers/backends.ts';
import { request, startTestServer, TEST_ENCRYPTION_KEYS, type TestServer } from '../helpers/server.ts';

/**
 * Rotating platform keys: a real JWKS endpoint (a local HTTP server on port 0
 * whose key set the test changes) and a server on PostgreSQL with
 * AUTH_JWKS_URL as its only key source.
 */

type Key = { kid: string; alg: 'RS256' | 'ES256'; privateKey: CryptoKey; jwk: JWK };

async function makeKey(kid: string, alg: Key['alg']): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

const sign = (key: Key, sub: string, role: string, ttl = '1h') =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setSubject(sub)
    .setExpirationTime(ttl)
    .sign(key.privateKey);

/** A JWKS endpoint whose keys and health the test sets. */
async function jwksServer() {
  const state = { keys: [] as JWK[], fetches: 0, failing: false };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    if (state.failing) return void res.writeHead(500).end();
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' });
    res.end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return {
    state,
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The connect_error's code, or 'connected'. */
async function connectCode(s: TestServer, token: string): Promise<string> {
  const socket = connectSocket(s.url, { auth: { token }, transports: ['websocket'], reconnection: false });
  try {
    return await new Promise<string>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('connect_error', (e: Error & { data?: { code: string } }) =>
        resolve(e.data?.code ?? e.message),
      );
    });
  } finally {
    socket.disconnect();
  }
}

describe('AUTH_JWKS_URL alone, with PostgreSQL', () => {
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let s: TestServer;
  let a: Key;
  let b: Key;

  beforeAll(async () => {
    [jwks, a, b] = await Promise.all([jwksServer(), makeKey('a', 'RS256'), makeKey('b', 'ES256')]);
    jwks.state.keys = [a.jwk];
    s = await startTestServer({
      backend: postgres,
      // No static key at all (an empty setting is unset): the key set is the only source.
      env: { AUTH_JWT_SECRET: '', AUTH_JWKS_URL: jwks.url, AUTH_JWKS_COOLDOWN: '0' },
    });
  });
  afterAll(async () => {
    await s?.stop();
    await jwks?.close();
  });

  it('the settings: AUTH_JWKS_URL satisfies DATABASE_URL’s need for a key; it must be http(s)', () => {
    const db = { DATABASE_URL: 'postgres://x/y', ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };
    expect(loadConfig({ ...db, AUTH_JWKS_URL: jwks.url }).auth).toMatchObject({
      jwksUrl: jwks.url,
      jwksCacheMs: 10 * 60_000,
      jwksCooldownMs: 30_000,
    });
    expect(() => loadConfig(db)).toThrow(/AUTH_JWKS_URL, AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY is required/);
    expect(() => loadConfig({ AUTH_JWKS_URL: 'ftp://keys/' })).toThrow(/AUTH_JWKS_URL: must be an http/);
    expect(() => loadConfig({ AUTH_JWKS_URL: jwks.url, AUTH_JWKS_CACHE: '600' })).toThrow(
      /AUTH_JWKS_CACHE: "600" has no unit/,
    );
  });

  it('rotation: sockets on key A stay, kid b is fetched when first seen, kid a is refused once the set no longer has it', async () => {
    // Key A signs; the set is fetched once and cached.
    const alice = await s.connect(await sign(a, 'alice', 'client'));
    expect((await s.api('GET', '/v1/rooms', { token: await sign(a, 'bob', 'provider') })).status).toBe(200);
    expect(jwks.state.fetches).toBe(1);

    // The platform rotates: the endpoint now serves B only.
    jwks.state.keys = [b.jwk];
    // Until the set is fetched again, A's tokens still pass: the cache (AUTH_JWKS_CACHE) is fresh and knows kid a.
    expect((await s.api('GET', '/v1/rooms', { token: await sign(a, 'bob', 'provider') })).status).toBe(200);
    expect(jwks.state.fetches).toBe(1);

    // kid b is unknown to the cache: the set is fetched again at once, and the token passes.
    const bobB = await sign(b, 'bob', 'provider');
    expect((await s.api('GET', '/v1/rooms', { token: bobB })).status).toBe(200);
    expect(jwks.state.fetches).toBe(2);
    expect(await connectCode(s, bobB)).toBe('connected');

    // The cache is now the new set: kid a is refused, on REST and on sockets.
    const late = await s.api('GET', '/v1/rooms', { token: await sign(a, 'bob', 'provider') });
    expect(late.status).toBe(401);
    expect(late.body.error.code).toBe('unauthenticated');
    expect(await connectCode(s, await sign(a, 'carol', 'client'))).toBe('unauthenticated');

    // The socket admitted with A stays connected and served until its token expires,
    expect(alice.connected).toBe(true);
    expect(await request(alice, 'rooms:list')).toMatchObject({ ok: true, data: { rooms: [] } });
    // and moves to a B token with auth:refresh; an A token is no longer a refresh.
    expect(
      await request(alice, 'auth:refresh', { token: await sign(b, 'alice', 'client', '2h') }),
    ).toMatchObject({
      ok: true,
    });
    expect(await request(alice, 'auth:refresh', { token: await sign(a, 'alice', 'client') })).toMatchObject({
      ok: false,
      error: { code: 'unauthenticated' },
    });
  });

  it('refuses tokens that name no key, name an unknown one, or use an algorithm other than the key’s', async () => {
    const code = async (token: string) => (await s.api('GET', '/v1/rooms', { token })).body.error?.code;
    // No kid and no static key: nothing to verify it with.
    expect(await code(mintToken('a-static-secret-that-no-one-configured', { sub: 'x', role: 'admin' }))).toBe(
      'unauthenticated',
    );
    expect(await code(await sign(await makeKey('z', 'RS256'), 'x', 'admin'))).toBe('unauthenticated');
    // alg none, and HS256 keyed with B's public key as a secret (algorithm confusion), both naming kid b.
    const none = jwt.sign({ sub: 'x', role: 'admin' }, '', { algorithm: 'none', expiresIn: 60, keyid: 'b' });
    expect(await code(none)).toBe('unauthenticated');
    const confused = jwt.sign({ sub: 'x', role: 'admin' }, JSON.stringify(b.jwk), {
      algorithm: 'HS256',
      expiresIn: 60,
      keyid: 'b',
    });
    expect(await code(confused)).toBe('unauthenticated');
    // A genuine B token past its expiry.
    expect(await code(await sign(b, 'x', 'admin', '-1m'))).toBe('token_expired');
  });

  it('while the endpoint fails: known kids keep working from the cache, an unknown kid answers unavailable (503)', async () => {
    jwks.state.failing = true;
    try {
      expect((await s.api('GET', '/v1/rooms', { token: await sign(b, 'bob', 'provider') })).status).toBe(200);
      const c = await makeKey('c', 'ES256');
      const res = await s.api('GET', '/v1/rooms', { token: await sign(c, 'bob', 'provider') });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(await connectCode(s, await sign(c, 'bob', 'provider'))).toBe('unavailable');
    } finally {
      jwks.state.failing = false;
    }
  });
});

describe('TokenVerifier with a static key and a key set', () => {
  const SECRET = 'a-static-hs256-secret-of-32-characters!';
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let a: Key;
  beforeAll(async () => {
    [jwks, a] = await Promise.all([jwksServer(), makeKey('a', 'RS256')]);
    jwks.state.keys = [a.jwk];
  });
  afterAll(() => jwks?.close());

  it('verifies a token with a kid by the key set, one without by the static key', async () => {
    const v = new TokenVerifier({ secret: SECRET, jwksUrl: jwks.url });
    expect(await v.verify(await sign(a, 'p', 'provider'))).toMatchObject({ id: 'p', role: 'provider' });
    expect(await v.verify(mintToken(SECRET, { sub: 'q', role: 'client' }))).toMatchObject({ id: 'q' });
    // An HS256 token with a kid goes to the key set, which never takes HS256.
    const withKid = jwt.sign({ sub: 'q', role: 'admin' }, SECRET, { expiresIn: 60, keyid: 'a' });
    await expect(v.verify(withKid)).rejects.toMatchObject({ code: 'unauthenticated' });
  });

  it('an unreachable key set answers unavailable, not unauthenticated, and does not throw anything else', async () => {
    const closed = await jwksServer();
    await closed.close(); // its port now refuses connections
    const v = new TokenVerifier({ jwksUrl: closed.url });
    await expect(v.verify(await sign(a, 'p', 'provider'))).rejects.toMatchObject({ code: 'unavailable' });
  });
});

import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { mintToken, TokenVerifier } from '../../src/auth/tokens.ts';

const SECRET = 'a-very-long-test-secret-of-at-least-32-chars';
const codeOf = async (fn: () => unknown) => {
  try {
    await fn();
    return 'ok';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('token verification', () => {
  const hs = new TokenVerifier({ secret: SECRET });

  it('accepts a valid HS256 token and reads sub, role, expiry and a bot’s rooms', async () => {
    const id = await hs.verify(
      mintToken(SECRET, { sub: 'bot-1', role: 'bot', rooms: ['r1'] }, { expiresInSec: 60 }),
    );
    expect(id).toMatchObject({ id: 'bot-1', role: 'bot', rooms: ['r1'] });
    expect(id.expiresAt).toBeGreaterThan(Date.now());
  });

  it('refuses missing, unsigned, wrongly signed and malformed tokens', async () => {
    expect(await codeOf(() => hs.verify(undefined))).toBe('unauthenticated');
    const unsigned = jwt.sign({ sub: 'x', role: 'admin' }, '', { algorithm: 'none', expiresIn: 60 });
    expect(await codeOf(() => hs.verify(unsigned))).toBe('unauthenticated');
    expect(
      await codeOf(() =>
        hs.verify(mintToken('another-secret-another-secret-1234', { sub: 'x', role: 'admin' })),
      ),
    ).toBe('unauthenticated');
    expect(await codeOf(() => hs.verify('not.a.token'))).toBe('unauthenticated');
  });

  it('says token_expired for an expired token, judged by the injected time', async () => {
    const t = mintToken(SECRET, { sub: 'x', role: 'client' }, { expiresInSec: 60 });
    expect(await codeOf(() => hs.verify(t, Date.now()))).toBe('ok');
    expect(await codeOf(() => hs.verify(t, Date.now() + 61_000))).toBe('token_expired');
  });

  it('refuses a token without a role or with an unknown one', async () => {
    expect(await codeOf(() => hs.verify(jwt.sign({ sub: 'x' }, SECRET, { expiresIn: 60 })))).toBe(
      'unauthenticated',
    );
    expect(
      await codeOf(() => hs.verify(jwt.sign({ sub: 'x', role: 'root' }, SECRET, { expiresIn: 60 }))),
    ).toBe('unauthenticated');
    expect(await codeOf(() => hs.verify(jwt.sign({ sub: 'x', role: 'client' }, SECRET)))).toBe(
      'unauthenticated',
    );
  });

  it('with an RS256 public key, refuses an HS256 token signed with that public key (algorithm confusion)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const rs = new TokenVerifier({ publicKey: pem });
    const good = jwt.sign({ sub: 'p', role: 'provider' }, privateKey, { algorithm: 'RS256', expiresIn: 60 });
    expect(await rs.verify(good)).toMatchObject({ id: 'p', role: 'provider' });
    const forged = jwt.sign({ sub: 'p', role: 'admin' }, Buffer.from(pem), {
      algorithm: 'HS256',
      expiresIn: 60,
    } as jwt.SignOptions);
    expect(await codeOf(() => rs.verify(forged))).toBe('unauthenticated');
  });

  it('checks issuer and audience when configured', async () => {
    const strict = new TokenVerifier({ secret: SECRET, issuer: 'platform', audience: 'talkroom' });
    expect(await codeOf(() => strict.verify(mintToken(SECRET, { sub: 'x', role: 'client' })))).toBe(
      'unauthenticated',
    );
    expect(
      await codeOf(() =>
        strict.verify(
          mintToken(SECRET, { sub: 'x', role: 'client' }, { issuer: 'platform', audience: 'talkroom' }),
        ),
      ),
    ).toBe('ok');
  });
});

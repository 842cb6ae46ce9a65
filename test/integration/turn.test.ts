import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { turnIceServers } from '../../src/services/turn.ts';
import { type Coturn, startCoturn, turnAllocate } from '../helpers/coturn.ts';

const NOW = Date.parse('2026-12-02T03:00:00Z');

describe('TURN credentials', () => {
  it('follow the TURN REST API scheme: "<unix expiry>:<userId>" and base64(HMAC-SHA1(secret, username))', () => {
    const turn = loadConfig({
      TURN_URLS:
        'turn:turn.example.com:3478?transport=udp, turn:turn.example.com:3478?transport=tcp,turns:turn.example.com:5349',
      TURN_SECRET: 'coturn-static-auth-secret',
    }).turn;
    expect(turn.ttlMs).toBe(6 * 3600_000); // TURN_TTL's default
    const [server, ...rest] = turnIceServers(turn, 'alice', NOW);
    expect(rest).toEqual([]);
    const username = `${NOW / 1000 + 6 * 3600}:alice`;
    expect(server).toEqual({
      urls: [
        'turn:turn.example.com:3478?transport=udp',
        'turn:turn.example.com:3478?transport=tcp',
        'turns:turn.example.com:5349',
      ],
      username,
      credential: createHmac('sha1', 'coturn-static-auth-secret').update(username).digest('base64'),
    });
    expect(turnIceServers(loadConfig({}).turn, 'alice', NOW)).toEqual([]);
  });

  it('settings: URLs must be turn: or turns:, the secret and the URLs come together, the TTL has a unit', () => {
    const secret = { TURN_SECRET: 'coturn-static-auth-secret' };
    expect(() => loadConfig({ TURN_URLS: 'stun:x:3478', ...secret })).toThrow(
      /TURN_URLS: "stun:x:3478" is not a turn: or turns: URL/,
    );
    expect(() => loadConfig({ TURN_URLS: 'turn:x:3478' })).toThrow(/TURN_SECRET: is required with TURN_URLS/);
    expect(() => loadConfig(secret)).toThrow(/TURN_URLS: is required with TURN_SECRET/);
    expect(() => loadConfig({ TURN_URLS: 'turn:x', ...secret, TURN_TTL: '3600' })).toThrow(
      /TURN_TTL: "3600" has no unit/,
    );
    expect(() => loadConfig({ TURN_URLS: 'turn:x', ...secret, TURN_TTL: '10s' })).toThrow(
      /TURN_TTL: must be at least 1m/,
    );
    expect(loadConfig({ TURN_URLS: 'turn:x', ...secret, TURN_TTL: '2h' }).turn.ttlMs).toBe(2 * 3600_000);
  });
});

describe('a real coturn with use-auth-secret', () => {
  let coturn: Coturn;
  beforeAll(async () => {
    coturn = await startCoturn();
  });
  afterAll(async () => {
    await coturn?.close();
  });
  const turn = () => ({ urls: [`turn:127.0.0.1:${coturn.port}`], secret: coturn.secret, ttlMs: 3600_000 });

  it('allocates a relay for the credentials talkroom mints', async () => {
    const [server] = turnIceServers(turn(), 'client-1');
    const answer = await turnAllocate(coturn.port, server!);
    expect(answer, coturn.log().slice(-2000)).toMatchObject({ type: 0x0103, errorCode: null }); // Allocate success
  });

  it('refuses a tampered credential, another user in the same credential, and an expired one with 401', async () => {
    const [server] = turnIceServers(turn(), 'client-1');
    const tampered = { ...server!, credential: `${server!.credential.slice(0, -4)}AAA=` };
    expect(await turnAllocate(coturn.port, tampered)).toMatchObject({ type: 0x0113, errorCode: 401 });
    const otherUser = { ...server!, username: server!.username.replace(':client-1', ':provider-1') };
    expect(await turnAllocate(coturn.port, otherUser)).toMatchObject({ type: 0x0113, errorCode: 401 });
    // Minted two hours ago with a one-hour TTL: genuinely signed, but past its expiry.
    const [expired] = turnIceServers(turn(), 'client-1', Date.now() - 2 * 3600_000);
    expect(await turnAllocate(coturn.port, expired!)).toMatchObject({ type: 0x0113, errorCode: 401 });
    // Signed with another secret.
    const [foreign] = turnIceServers({ ...turn(), secret: 'not-the-coturn-secret-0123' }, 'client-1');
    expect(await turnAllocate(coturn.port, foreign!)).toMatchObject({ type: 0x0113, errorCode: 401 });
  });
});

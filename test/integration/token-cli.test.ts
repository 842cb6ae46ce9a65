import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../src/auth/tokens.ts';
import { ManualClock } from '../../src/clock.ts';
import { postgres } from '../helpers/backends.ts';
import { ok, therapyRoom } from '../helpers/fixtures.ts';
import { nodeBinary } from '../helpers/processes.ts';
import { startTestServer, TEST_ENCRYPTION_KEYS, TEST_SECRET, type TestServer } from '../helpers/server.ts';

/** `npm run token` is `node scripts/token.ts`: run as a process, as an operator would. */
const SCRIPT = resolve(import.meta.dirname, '../../scripts/token.ts');

function token(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
    // Only what the test gives: no setting of this machine's shell leaks in.
    execFile(
      nodeBinary(),
      [SCRIPT, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env } },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('npm run token', () => {
  let dataDir: string;
  const env = () => ({ AUTH_JWT_SECRET: TEST_SECRET, DATA_DIR: dataDir });
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'talkroom-token-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('--help says every option and exits 0', async () => {
    const r = await token(['--help'], env());
    expect(r.code).toBe(0);
    for (const opt of ['--sub', '--role', '--name', '--rooms', '--ttl', '--join', '--for', '1h', '7d']) {
      expect(r.stdout).toContain(opt);
    }
  });

  it('mints a token with --ttl as a duration and --name as a display-name claim, which the server accepts', async () => {
    const r = await token(['--sub', 'alice', '--role', 'client', '--ttl', '2h', '--name', 'Alice A.'], env());
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const t = r.stdout.trim();
    const claims = jwt.verify(t, TEST_SECRET) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: 'alice', role: 'client', name: 'Alice A.' });
    expect(claims.exp! - claims.iat!).toBe(2 * 3600);
    expect(await new TokenVerifier({ secret: TEST_SECRET }).verify(t)).toMatchObject({
      id: 'alice',
      role: 'client',
    });

    const week = await token(['--sub', 'bot', '--role', 'bot', '--rooms', '*', '--ttl', '7d'], env());
    const bot = jwt.decode(week.stdout.trim()) as jwt.JwtPayload;
    expect(bot.exp! - bot.iat!).toBe(7 * 86_400);
    expect(bot.rooms).toEqual(['*']);
    // The default is an hour.
    const plain = jwt.decode(
      (await token(['--sub', 'x', '--role', 'admin'], env())).stdout.trim(),
    ) as jwt.JwtPayload;
    expect(plain.exp! - plain.iat!).toBe(3600);
  });

  it('refuses a --ttl without a unit, a bad role and unknown options, with exit code 64', async () => {
    const bare = await token(['--sub', 'x', '--role', 'client', '--ttl', '3600'], env());
    expect(bare.code).toBe(64);
    expect(bare.stderr).toContain('--ttl: "3600" has no unit');
    expect(bare.stdout).toBe('');
    expect((await token(['--sub', 'x', '--role', 'root'], env())).code).toBe(64);
    expect((await token(['--sub', 'x', '--role', 'client', '--bogus'], env())).code).toBe(64);
    expect((await token(['--join', 'b1'], env())).stderr).toContain(
      '--join <bookingId> and --for <userId> go together',
    );
  });

  describe('--join <bookingId> --for <userId>', () => {
    let db: Awaited<ReturnType<typeof postgres.create>>;
    let s: TestServer;
    const clock = new ManualClock('2026-11-16T12:00:00Z');
    let booking: { id: string; startsAt: string; endsAt: string };
    let r: Awaited<ReturnType<typeof therapyRoom>>;

    beforeAll(async () => {
      db = await postgres.create();
      // The test server on that database (dropped by the server's stop).
      s = await startTestServer({
        backend: { name: 'postgres', create: async () => db },
        clock,
        runScheduler: false,
      });
      r = await therapyRoom(s);
      ({ booking } = await ok(
        s.api('POST', '/v1/bookings', {
          token: r.clientToken,
          body: { roomId: r.roomId, modality: 'video', startsAt: '2026-11-18T15:00:00Z' },
        }),
      ));
      await ok(s.api('POST', `/v1/bookings/${booking.id}/confirm`, { token: r.providerToken }));
    });
    afterAll(() => s?.stop());

    const cliEnv = () => ({
      ...env(),
      DATABASE_URL: db.databaseUrl!,
      ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
      PUBLIC_URL: s.url,
    });

    it('prints the participant’s join link: the server’s own link, which opens the session', async () => {
      const out = await token(['--join', booking.id, '--for', r.client], cliEnv());
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      const url = out.stdout.trim();
      // Same key (from the database), same window, same base: the very link a reminder carries.
      expect(url).toBe(s.bookings.joinUrl(booking, r.client));
      const joinToken = url.split('/join/')[1]!;
      clock.set('2026-11-18T14:55:00Z');
      const info = await s.api('GET', `/v1/join/${joinToken}`, { token: r.clientToken });
      expect(info.status).toBe(200);
      expect(info.body.booking.id).toBe(booking.id);

      const provider = await token(['--join', booking.id, '--for', r.provider], cliEnv());
      expect(provider.stdout.trim()).toBe(s.bookings.joinUrl(booking, r.provider));
    });

    it('refuses an unknown booking and someone who is not its participant, with exit code 65', async () => {
      const unknown = await token(['--join', 'no-such-booking', '--for', r.client], cliEnv());
      expect(unknown.code).toBe(65);
      expect(unknown.stderr).toContain('no booking no-such-booking');
      const stranger = await token(['--join', booking.id, '--for', 'mallory'], cliEnv());
      expect(stranger.code).toBe(65);
      expect(stranger.stderr).toContain('mallory is neither the client nor the provider');
    });
  });
});

// Mints tokens for trying and operating the server, like LiveKit's `lk token create`:
//   npm run token -- --sub alice --role client [--name "Alice A."] [--rooms a,b|*] [--ttl 1h]
//   npm run token -- --join <bookingId> --for <userId>     (prints that participant's join link)
// Run `npm run token -- --help` for the details.
import { parseArgs } from 'node:util';
import { JoinTokens } from '../src/auth/join-tokens.ts';
import { embeddedSecret, mintToken } from '../src/auth/tokens.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { joinWindow } from '../src/domain/bookings.ts';
import { ROLES } from '../src/domain/types.ts';
import { durationProblem, parseDuration } from '../src/durations.ts';
import { openStore } from '../src/store/index.ts';

const USAGE = `Mints a platform JWT, or a booking's join link.

  npm run token -- --sub <userId> --role <${ROLES.join('|')}> [options]
  npm run token -- --join <bookingId> --for <userId>

Platform JWT (signed with AUTH_JWT_SECRET, or the embedded default's secret
under DATA_DIR; AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE are added when set):
  --sub <userId>      the user (claim sub)
  --role <role>       one of ${ROLES.join(', ')}
  --name <text>       a display name (claim name)
  --rooms <a,b|*>     for bots: the room ids it may post into, or * for all
  --ttl <duration>    how long it is valid: a number and a unit, e.g. 90s, 15m, 1h, 7d (default 1h)

Join link (the URL a reminder carries; read from the store the server uses:
DATABASE_URL, else the embedded store under DATA_DIR, which must not be open
in a running server at the same time; PUBLIC_URL, PORT and HOST make its base,
POLICY_JOIN_OPENS its opening, as for the server):
  --join <bookingId>  the booking
  --for <userId>      its client or provider

  --help              this text
`;

/** Exit codes from sysexits.h: usage, data (no such booking or participant), config. */
const EX_USAGE = 64;
const EX_DATAERR = 65;
const EX_CONFIG = 78;

/** A refusal found with the store open: thrown, so the store is closed before the exit. */
class Refusal extends Error {
  readonly code: number;
  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}

function fail(message: string, code: number): never {
  process.stderr.write(`token: ${message}\n`);
  if (code === EX_USAGE) process.stderr.write('Run with --help for the options.\n');
  process.exit(code);
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      sub: { type: 'string' },
      role: { type: 'string' },
      name: { type: 'string' },
      rooms: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      join: { type: 'string' },
      for: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (e) {
  fail((e as Error).message, EX_USAGE);
}
const str = (k: string) => values[k] as string | undefined;

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (e) {
  fail(e instanceof ConfigError ? e.message : String(e), EX_CONFIG);
}

if (str('join') !== undefined || str('for') !== undefined) {
  try {
    await joinLink(str('join'), str('for'));
  } catch (e) {
    if (e instanceof Refusal) fail(e.message, e.code);
    throw e;
  }
} else {
  platformToken();
}

function platformToken(): void {
  const sub = str('sub');
  const role = str('role');
  if (!sub) fail('--sub <userId> is required', EX_USAGE);
  if (!role || !(ROLES as readonly string[]).includes(role)) {
    fail(`--role must be one of ${ROLES.join(', ')}`, EX_USAGE);
  }
  const ttl = str('ttl')!;
  const problem = durationProblem(ttl, { min: 1000, max: 10 * 365 * 86_400_000 });
  if (problem) fail(`--ttl: ${problem}`, EX_USAGE);
  const ttlMs = parseDuration(ttl)!;
  if (ttlMs % 1000 !== 0) fail(`--ttl: ${ttl} is not a whole number of seconds`, EX_USAGE);
  const claims: { sub: string; role: string; rooms?: string[]; name?: string } = { sub, role };
  if (str('rooms')) claims.rooms = str('rooms')!.split(',');
  if (str('name')) claims.name = str('name');
  if (config.auth.publicKey || (config.auth.jwksUrl && !config.auth.secret)) {
    // The server verifies with a public key or a key set: only the platform holds the private key.
    fail(
      'the server verifies with AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL: the platform signs its tokens',
      EX_CONFIG,
    );
  }
  const secret = config.auth.secret ?? embeddedSecret(config.dataDir);
  process.stdout.write(
    `${mintToken(secret, claims, {
      expiresInSec: ttlMs / 1000,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
    })}\n`,
  );
}

async function joinLink(bookingId: string | undefined, userId: string | undefined): Promise<void> {
  if (!bookingId || !userId) fail('--join <bookingId> and --for <userId> go together', EX_USAGE);
  const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1 });
  try {
    const [booking] = await store.db.query<{
      id: string;
      client_id: string;
      provider_id: string;
      starts_at: Date;
      ends_at: Date;
    }>('SELECT id, client_id, provider_id, starts_at, ends_at FROM bookings WHERE id = $1', [bookingId]);
    if (!booking) throw new Refusal(`no booking ${bookingId}`, EX_DATAERR);
    if (userId !== booking.client_id && userId !== booking.provider_id) {
      throw new Refusal(
        `${userId} is neither the client nor the provider of booking ${bookingId}`,
        EX_DATAERR,
      );
    }
    // The same key, window and URL as the server's reminders (BookingService.joinUrl).
    const tokens = await JoinTokens.load(store.db);
    const window = joinWindow(
      { startsAt: new Date(booking.starts_at), endsAt: new Date(booking.ends_at) },
      config.policy,
    );
    const base = config.publicUrl ?? `http://${config.host}:${config.port}`;
    process.stdout.write(`${base}/join/${tokens.sign({ bookingId, userId, ...window })}\n`);
  } finally {
    await store.db.close();
  }
}

// Mints a token for trying the server: `npm run token -- --sub alice --role client`.
// Signs with AUTH_JWT_SECRET, or the embedded default's secret under DATA_DIR.
import { parseArgs } from 'node:util';
import { embeddedSecret, mintToken } from '../src/auth/tokens.ts';
import { ROLES } from '../src/domain/types.ts';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    role: { type: 'string' },
    rooms: { type: 'string' },
    ttl: { type: 'string', default: '3600' },
  },
});
if (!values.sub || !values.role || !(ROLES as readonly string[]).includes(values.role)) {
  process.stderr.write(
    `usage: npm run token -- --sub <userId> --role <${ROLES.join('|')}> [--rooms id1,id2|*] [--ttl seconds]\n`,
  );
  process.exit(64);
}
const secret = process.env.AUTH_JWT_SECRET || embeddedSecret(process.env.DATA_DIR || './data');
const claims: { sub: string; role: string; rooms?: string[] } = { sub: values.sub, role: values.role };
if (values.rooms) claims.rooms = values.rooms.split(',');
process.stdout.write(
  `${mintToken(secret, claims, {
    expiresInSec: Number(values.ttl),
    issuer: process.env.AUTH_JWT_ISSUER,
    audience: process.env.AUTH_JWT_AUDIENCE,
  })}\n`,
);

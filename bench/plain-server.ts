/**
 * talkroom with encryption at rest switched off, for the messaging
 * benchmark's `postgres-plain` target only: the same server as server/main.ts,
 * storing message text and meta in clear, so the benchmark can report what
 * sealing costs against the same run without it. Not for use anywhere else.
 */

import { startServer } from '../server/main.ts';
import { loadConfig } from '../src/config.ts';

const server = await startServer(loadConfig(), { encryption: false });
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

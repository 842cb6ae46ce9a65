import { type Config, ConfigError, loadConfig } from '../src/config.ts';
import { MigrationChecksumError } from '../src/store/migrate.ts';
import { missingNodeFlags } from './node-flags.ts';
import { startServer } from './server.ts';

// `npm start` runs this file; tests and benchmarks import startServer from it.
export { type RunningServer, type StartOptions, startServer } from './server.ts';

if (import.meta.main) {
  let config: Config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  }
  const server = await startServer(config).catch((e: unknown) => {
    // Like a bad setting: a changed migration is fixed by the operator, not by a restart.
    if (e instanceof MigrationChecksumError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(78);
    }
    throw e;
  });
  const missing = missingNodeFlags();
  if (!config.databaseUrl && missing.length > 0) {
    server.log.warn(
      { missing },
      'the embedded store runs best under the server’s node flags (npm start passes them; server/node-flags.ts says why)',
    );
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      server.close().then(
        () => process.exit(0),
        (e) => {
          server.log.error({ err: e }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // After the run: no test server logged a text, token or file name a test used (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    // Real servers, real databases and child processes, on a machine that may be
    // busy with other work: bounds that catch a hang, never a slow run.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // The server's own flags (server/node-flags.ts) for the servers tests run in their workers.
    execArgv: ['--liftoff-only'],
    // Two cores: more parallel files only queue on the CPU and stretch timeouts.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

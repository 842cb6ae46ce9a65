import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real servers, real databases and child processes: generous, but bounded.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: more parallel files only queue on the CPU and stretch timeouts.
    maxWorkers: 2,
    reporters: ['default'],
  },
});

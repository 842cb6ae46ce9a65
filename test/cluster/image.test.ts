import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

/**
 * The production image, as far as this machine can check it without a Docker
 * engine: scripts/check-image.sh (COPY sources, a simulated production
 * install that must start and serve /healthz, /readyz and /join/x, compose.yaml).
 */
it('the production image installs from production dependencies and serves', async () => {
  const root = resolve(import.meta.dirname, '../..');
  const child = spawn('bash', ['scripts/check-image.sh'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const code = await new Promise<number | null>((done) => child.once('exit', (c) => done(c)));
  expect(code, output).toBe(0);
}, 240_000);

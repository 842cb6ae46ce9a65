import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeBinary } from '../helpers/processes.ts';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/**
 * Runs `node server/main.ts` with the given settings until it exits or says it
 * is listening (a server that starts despite a bad setting is stopped there).
 */
function start(env: Record<string, string>) {
  const child = spawn(nodeBinary(), ['server/main.ts'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    if (stdout.includes('talkroom listening')) child.kill('SIGKILL');
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('a bad setting stops a real server process', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'talkroom-settings-'));
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const base = { PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, MEDIA_WORKERS: '0', LOG_LEVEL: 'info' };

  it('POLICY_SLOT_STEP=0s exits with 78 (EX_CONFIG) and names the setting, before listening', async () => {
    const r = await start({ ...base, POLICY_SLOT_STEP: '0s' });
    expect(r.stdout).not.toContain('talkroom listening');
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('POLICY_SLOT_STEP: must be at least 1s');
  });

  it('a duration without a unit (SHUTDOWN_GRACE=30) exits with 78 and says which units there are', async () => {
    const r = await start({ ...base, SHUTDOWN_GRACE: '30' });
    expect(r.stdout).not.toContain('talkroom listening');
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('SHUTDOWN_GRACE: "30" has no unit: write it with one of ms, s, m, h or d');
  });
});

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    suiteLogDir: string;
  }
}

/**
 * Issue 12's log check over the whole suite: test servers log at debug level
 * into one folder and the helpers note what must never be logged
 * (test/helpers/suite-logs.ts); after every test file has run, each logged
 * line is searched for each noted value. A hit fails the run (exit code 1)
 * and names the line.
 */
export default function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'talkroom-suite-logs-'));
  project.provide('suiteLogDir', dir);
  return () => {
    try {
      const leaks = check(dir);
      if (leaks.length) {
        console.error(
          `\nsuite logs: ${leaks.length} logged line(s) carry a text, token or file name a test used:`,
        );
        for (const l of leaks.slice(0, 10)) console.error(`  ${l}`);
        process.exitCode = 1;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** A window of this many characters indexes the secrets; each is at least this long. */
const WINDOW = 12;

function check(dir: string): string[] {
  const files = readdirSync(dir);
  const secrets = new Set<string>();
  for (const f of files.filter((f) => f.endsWith('.used'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue;
      const secret = JSON.parse(line) as string;
      secrets.add(secret);
      // As a JSON log line would carry it, when it has characters JSON escapes.
      const escaped = JSON.stringify(secret).slice(1, -1);
      if (escaped !== secret) secrets.add(escaped);
    }
  }
  // Each secret by its first WINDOW characters: one Set lookup per position of the logs, not one scan per secret.
  const byPrefix = new Map<string, string[]>();
  for (const s of secrets) {
    const key = s.slice(0, WINDOW);
    byPrefix.set(key, [...(byPrefix.get(key) ?? []), s]);
  }
  const leaks: string[] = [];
  let lines = 0;
  for (const f of files.filter((f) => f.endsWith('.log'))) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      lines += 1;
      for (let i = 0; i + WINDOW <= line.length; i++) {
        const candidates = byPrefix.get(line.slice(i, i + WINDOW));
        const hit = candidates?.find((s) => line.startsWith(s, i));
        if (hit) {
          leaks.push(`${JSON.stringify(hit.slice(0, 40))} in ${line.slice(0, 300)}`);
          break;
        }
      }
    }
  }
  console.log(`suite logs: ${lines} lines checked against ${secrets.size} texts, tokens and file names`);
  return leaks;
}

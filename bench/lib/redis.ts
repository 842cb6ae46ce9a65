/** The machine's Redis as a benchmark uses it: its pid for CPU accounting, and its keys removed afterwards. */
import { execFileSync } from 'node:child_process';
import { createClient } from 'redis';

export const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';

export function redisPid(url = REDIS_URL): number | undefined {
  try {
    const out = execFileSync('redis-cli', ['-u', url, 'info', 'server'], { encoding: 'utf8', timeout: 5000 });
    const m = /process_id:(\d+)/.exec(out);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes every key under `prefix`; returns how many. */
export async function dropRedisKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const r = createClient({ url });
  await r.connect();
  let n = 0;
  try {
    for await (const keys of r.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      const list = Array.isArray(keys) ? keys : [keys];
      if (list.length) n += await r.del(list as string[]);
    }
  } finally {
    await r.quit();
  }
  return n;
}

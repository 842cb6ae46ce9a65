import { createClient } from 'redis';
import type { Logger } from '../log.ts';

/**
 * The Redis connections a node holds: one for commands and publishing, one
 * for subscriptions (a subscribed connection can do nothing else).
 */
export async function connectRedis(url: string, log: Logger) {
  const pub = createClient({ url });
  const sub = pub.duplicate();
  for (const c of [pub, sub])
    c.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection trouble'));
  await Promise.all([pub.connect(), sub.connect()]);
  return {
    pub,
    sub,
    ready: () => pub.isReady && sub.isReady,
    close: async () => {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

export type RedisConnections = Awaited<ReturnType<typeof connectRedis>>;

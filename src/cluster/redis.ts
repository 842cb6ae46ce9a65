import type { Logger } from '../log.ts';

/**
 * While Redis is unreachable, retry for ever (every 100 ms, backing off to 2 s,
 * with a little jitter so nodes do not reconnect in lockstep). node-redis's
 * default strategy gives up for good on a socket timeout, which would leave a
 * node cut off from the cluster until it is restarted.
 */
const reconnectStrategy = (retries: number) =>
  Math.min(100 * (retries + 1), 2000) + Math.floor(Math.random() * 100);

/**
 * The Redis connections a node holds: one for commands and publishing, one
 * for subscriptions (a subscribed connection can do nothing else).
 *
 * Redis only carries what is live (cross-node broadcasts, scheduler wakes);
 * everything durable is in the store, and a client that missed broadcasts
 * catches up with rooms:sync. So while Redis is down a node keeps serving its
 * own sockets, and a publish fails at once instead of queueing: the offline
 * queue would grow without bound during a long outage and, on reconnect,
 * replay stale broadcasts (typing indicators, messages the client may already
 * have synced) long after the fact.
 */
export async function connectRedis(url: string, log: Logger) {
  // Loaded only with REDIS_URL: a single node never holds node-redis in memory (20 MiB).
  const { createClient } = await import('redis');
  const pub = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } });
  // The subscriber keeps its queue: its only commands are (re)subscriptions.
  const sub = pub.duplicate({ disableOfflineQueue: false });
  for (const c of [pub, sub])
    c.on('error', (err: Error) => log.warn({ err: err.message }, 'redis connection trouble'));
  // The Socket.IO adapter publishes without handling the result; a publish that
  // fails (Redis down, or the connection dropped mid-command) must not become
  // an unhandled rejection that takes the process down. Callers that await
  // still see the rejection.
  // The sharded adapter's SPUBLISH likewise.
  for (const name of ['publish', 'sPublish'] as const) {
    const send = pub[name].bind(pub) as (channel: string, message: string | Buffer) => Promise<number>;
    Object.defineProperty(pub, name, {
      value: (channel: string, message: string | Buffer) => {
        const sent = send(channel, message);
        sent.catch(() => {});
        return sent;
      },
    });
  }
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

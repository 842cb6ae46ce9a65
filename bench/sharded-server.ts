/**
 * talkroom with the Socket.IO adapter swapped for @socket.io/redis-adapter's sharded one (Redis 7
 * sharded pub/sub: SPUBLISH/SSUBSCRIBE, a channel per room), for the cluster benchmark's sharded
 * run only. talkroom has no setting for the adapter yet (signaling/server.ts creates the classic
 * one); this wrapper replaces it right after start, before any socket connects, so the figure can
 * be measured before such a setting is added. Not for use anywhere else.
 */
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { startServer } from '../server/main.ts';
import { loadConfig } from '../src/config.ts';

const config = loadConfig();
if (!config.redisUrl) throw new Error('sharded-server: REDIS_URL is required');
const pub = createClient({ url: config.redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const server = await startServer(config);
// 'dynamic': a room's channel is subscribed while the room has members on this node.
server.io.adapter(
  createShardedAdapter(pub, sub, { channelPrefix: `${config.redisPrefix}#sio`, subscriptionMode: 'dynamic' }),
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    server.close().then(
      () => Promise.all([pub.quit(), sub.quit()]).then(() => process.exit(0)),
      () => process.exit(1),
    );
  });
}

import { randomBytes } from 'node:crypto';
import { RedisNodeLiveness } from '../src/cluster/node-liveness.ts';
import { RedisPresence } from '../src/cluster/presence.ts';
import { connectRedis, type RedisConnections } from '../src/cluster/redis.ts';
import { RedisSchedulerWake } from '../src/cluster/scheduler-wake.ts';
import type { Config } from '../src/config.ts';
import { localWake, type SchedulerWake } from '../src/jobs/wake.ts';
import type { Logger } from '../src/log.ts';
import { localLiveness, type NodeLiveness } from '../src/services/liveness.ts';
import { localPresence, type PresenceStore } from '../src/services/presence.ts';

/** The state nodes share: over Redis with REDIS_URL, else this node's own. */
export interface SharedState {
  /** One id per process: live presence and live-session placement both name the node by it. */
  nodeId: string;
  redis: RedisConnections | undefined;
  liveness: NodeLiveness;
  /** Who has a socket open: cluster-wide over Redis, with this node's counts expiring with its heartbeat. */
  presence: PresenceStore;
  wake: SchedulerWake;
  close(): Promise<void>;
}

/** Each port's implementation, chosen once: a local one for a single node, a Redis one for a cluster. */
export async function openSharedState(config: Config, log: Logger): Promise<SharedState> {
  const nodeId = randomBytes(8).toString('hex');
  if (!config.redisUrl) {
    return {
      nodeId,
      redis: undefined,
      liveness: localLiveness(nodeId),
      presence: localPresence(),
      wake: localWake(),
      close: async () => {},
    };
  }
  const redis = await connectRedis(config.redisUrl, log);
  const prefix = config.redisPrefix;
  const ttlMs = config.cluster.heartbeatTtlMs;
  const heartbeat = await new RedisNodeLiveness({ redis, prefix, nodeId, log, ttlMs }).start();
  const presence = await new RedisPresence({
    redis,
    prefix,
    nodeId,
    liveness: heartbeat,
    log,
    ttlMs,
  }).start();
  const wake = await new RedisSchedulerWake({ redis, prefix, log }).start();
  return {
    nodeId,
    redis,
    liveness: heartbeat,
    presence,
    wake,
    close: async () => {
      await presence.close();
      await wake.close();
      await heartbeat.close();
      await redis.close();
    },
  };
}

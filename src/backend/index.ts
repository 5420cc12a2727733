import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Backend } from './backend.js';
import { MemoryBackend } from './memory.js';

export type { Backend, BackendHandler, Envelope, JoinResult } from './backend.js';
export { MemoryBackend, MemoryStore } from './memory.js';

/** REDIS_URL or REDIS_CLUSTER_NODES select the redis backend; otherwise memory. */
export async function createBackend(
  config: Config,
  logger: Logger,
  metrics: Metrics,
): Promise<Backend> {
  if (config.redisUrl === undefined && config.redisClusterNodes.length === 0)
    return new MemoryBackend();
  const { RedisBackend } = await import('./redis.js');
  return new RedisBackend(config, logger, metrics);
}

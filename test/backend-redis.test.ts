import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { backendContract } from './backend-contract.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG } from './helpers/server.js';

let redis: RedisServer;
before(async () => {
  redis = await RedisServer.start();
});
after(() => redis.stop());

backendContract('redis', async (count) => {
  // A key prefix per test: tests share the redis-server, never each other's keys.
  const prefix = `t-${randomUUID().slice(0, 8)}:`;
  const config = { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: prefix };
  return {
    nodes: Array.from(
      { length: count },
      () =>
        new RedisBackend(config, pino({ level: 'silent' }), createMetrics(new Registry(), false)),
    ),
    cleanup: async () => undefined,
  };
});

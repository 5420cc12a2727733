import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
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

test('REDIS_URL with a password and a database number', async () => {
  const secured = await RedisServer.start(['--requirepass', 's3cret']);
  const backend = new RedisBackend(
    { ...TEST_CONFIG, redisUrl: `redis://:s3cret@127.0.0.1:${secured.port}/3` },
    pino({ level: 'silent' }),
    createMetrics(new Registry(), false),
  );
  const admin = new Redis({ port: secured.port, host: '127.0.0.1', password: 's3cret', db: 3 });
  try {
    await backend.start({ onEnvelope: () => undefined, localMembers: () => [] });
    assert.deepEqual(await backend.join('pw-room', 'client:1', 10), {
      ok: true,
      members: ['client:1'],
    });
    assert.deepEqual(await admin.smembers('room:pw-room'), ['client:1']);
    assert.equal(await backend.ping(), true);
  } finally {
    await backend.close();
    admin.disconnect();
    await secured.stop();
  }
});

test('a wrong password fails the start instead of serving without Redis', async () => {
  const secured = await RedisServer.start(['--requirepass', 's3cret']);
  const backend = new RedisBackend(
    { ...TEST_CONFIG, redisUrl: `redis://:wrong@127.0.0.1:${secured.port}` },
    pino({ level: 'silent' }),
    createMetrics(new Registry(), false),
  );
  try {
    await assert.rejects(backend.start({ onEnvelope: () => undefined, localMembers: () => [] }));
  } finally {
    await backend.close();
    await secured.stop();
  }
});

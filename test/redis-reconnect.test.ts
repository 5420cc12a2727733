/**
 * A command in flight when the command connection drops is not run again after the reconnect
 * (src/backend/redis-connection.ts): its caller has had its failure by then, and Redis may have
 * run it already. Against a real redis-server behind a TCP proxy that cuts the connection while
 * a slow script runs.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { createRedisConnection } from '../src/backend/redis-connection.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

let redis: RedisServer;
let proxy: TcpProxy;
let admin: Redis;
before(
  async () => {
    redis = await RedisServer.start();
    proxy = await TcpProxy.start(redis.port);
    admin = redis.client();
  },
  { timeout: 30_000 },
);
after(
  async () => {
    admin?.disconnect();
    await proxy?.close();
    await redis?.stop();
  },
  { timeout: 30_000 },
);

test('a command cut off before it ran is not sent again after the reconnect; its caller gets an error', async () => {
  const conn = createRedisConnection(
    { ...TEST_CONFIG, redisUrl: `redis://127.0.0.1:${proxy.port}` },
    'reconnect-test',
  );
  const commands = conn.commands as Redis;
  try {
    await conn.connect();
    // Writes wait while clients are paused: the INCR reaches Redis and is held there (its
    // client shows as blocked).
    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE');
    const incr = commands.incr('runs');
    const held = async () =>
      ((await admin.call('CLIENT', 'LIST')) as string)
        .split('\n')
        .some((l) => l.includes('name=reconnect-test') && / flags=b /.test(l));
    for (let i = 0; i < 500 && !(await held()); i++) await new Promise((r) => setImmediate(r));
    assert.ok(await held(), 'the INCR is waiting in Redis');
    proxy.sever(); // Redis drops the held command with its client
    await admin.call('CLIENT', 'UNPAUSE');
    await assert.rejects(incr);
    if (commands.status !== 'ready') await once(commands, 'ready');
    // Anything resent on the reconnect is written before the first command after it.
    assert.equal(await commands.ping(), 'PONG');
    assert.equal(await admin.get('runs'), null, 'not run: neither held nor sent again');
  } finally {
    await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    conn.disconnect();
  }
});

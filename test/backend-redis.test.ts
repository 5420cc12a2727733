import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { backendApiContract } from './backend-api-contract.js';
import { ContractNode, backendContract, type MakeNodes } from './backend-contract.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG, until } from './helpers/server.js';

let redis: RedisServer;
before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 30_000 },
);
after(() => redis?.stop(), { timeout: 30_000 });

const makeNodes: MakeNodes = async (count) => {
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
};
backendContract('redis', makeNodes);
backendApiContract('redis', makeNodes);

test('REDIS_URL with a password and a database number', async () => {
  const secured = await RedisServer.start(['--requirepass', 's3cret']);
  const backend = new RedisBackend(
    { ...TEST_CONFIG, redisUrl: `redis://:s3cret@127.0.0.1:${secured.port}/3` },
    pino({ level: 'silent' }),
    createMetrics(new Registry(), false),
  );
  const admin = new Redis({ port: secured.port, host: '127.0.0.1', password: 's3cret', db: 3 });
  try {
    await backend.start({ onEnvelope: () => undefined });
    assert.deepEqual(await backend.join('pw-room', 'client:1', 10), {
      ok: true,
      members: ['client:1'],
      detached: [],
      roomStarted: true,
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
    await assert.rejects(backend.start({ onEnvelope: () => undefined }));
  } finally {
    await backend.close();
    await secured.stop();
  }
});

test('joins and leaves announced before a node subscribed are reconciled once it has', async () => {
  const config = { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: 'reconcile:' };
  const make = () =>
    new ContractNode(
      new RedisBackend(config, pino({ level: 'silent' }), createMetrics(new Registry(), false)),
    );
  const [a, b] = [make(), make()];
  await a.backend.start(a.handler);
  await b.backend.start(b.handler);
  try {
    const [x, y, z] = ['client:x', 'client:y', 'client:z'];
    await b.join('room', y, 10);
    // a's join script runs (y is in its result) but a has not subscribed yet...
    assert.ok((await a.backend.join('room', x, 10)).ok);
    // ...while z joins and y leaves on b: their announcements pass a by.
    await b.join('room', z, 10);
    b.backend.publish('room', {
      senderId: z,
      data: { type: 'control', action: 'peer-joined', payload: { peerId: z } },
      originServerId: b.backend.serverId,
      event: 'join',
    });
    await b.leave('room', y);
    b.backend.publish('room', {
      senderId: y,
      data: { type: 'peer-disconnected' },
      originServerId: b.backend.serverId,
      event: 'leave',
    });
    // A command on b's connection after its publishes: once answered, they were processed.
    assert.deepEqual((await b.backend.members('room')).sort(), [x, z]);
    a.local.set('room', new Set([x]));
    a.backend.subscribe('room');
    await until(() => a.inbox.length >= 2, 5000, 'reconciled');
    assert.deepEqual(
      a.inbox.map(([, e]) => [e.event, e.senderId]),
      [
        ['join', z],
        ['leave', y],
      ],
    );
    assert.equal(a.backend.knowsPeer('room', z), true);
    assert.equal(a.backend.knowsPeer('room', y), false);
  } finally {
    await Promise.all([a.backend.close(), b.backend.close()]);
  }
});

test('the room index follows the join and leave scripts: a refused join leaves no entry behind', async () => {
  const config = { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: 'idx:' };
  const make = () =>
    new RedisBackend(config, pino({ level: 'silent' }), createMetrics(new Registry(), false));
  const a = make();
  const b = make();
  const admin = redis.client();
  const index = (node: RedisBackend) => admin.smembers(`idx:node:${node.serverId}:rooms`);
  try {
    await a.start({ onEnvelope: () => undefined });
    await b.start({ onEnvelope: () => undefined });
    assert.equal((await a.join('r', 'client:a1', 1)).ok, true);
    assert.deepEqual(await index(a), ['r']);
    // b has no member in the full room: its refused join must not leave it indexed (a reaper
    // of b would walk it for nothing), and a's entry stays.
    assert.deepEqual(await b.join('r', 'client:b1', 1), { ok: false, reason: 'full' });
    await until(async () => (await index(b)).length === 0, 5000);
    assert.deepEqual(await admin.smembers('idx:room:r'), ['client:a1']);
    // A refused join of a node that has members in the room keeps the room indexed.
    assert.deepEqual(await a.join('r', 'client:a2', 1), { ok: false, reason: 'full' });
    assert.deepEqual(await index(a), ['r']);
    await a.leave('r', 'client:a1');
    assert.deepEqual(await index(a), []);
    assert.equal(await admin.exists('idx:room:r', '{idx:room:r}:members'), 0);
  } finally {
    await Promise.all([a.close(), b.close()]);
    admin.disconnect();
  }
});

test('room keys carry ROOM_TTL_SECONDS and the member records; they vanish with the last member', async () => {
  const config = {
    ...TEST_CONFIG,
    redisUrl: redis.url,
    redisKeyPrefix: 'ttl:',
    roomTtlSeconds: 120,
  };
  const backend = new RedisBackend(
    config,
    pino({ level: 'silent' }),
    createMetrics(new Registry(), false),
  );
  const admin = redis.client();
  const keys = ['ttl:room:t', '{ttl:room:t}:members'];
  try {
    await backend.start({ onEnvelope: () => undefined });
    const before = Date.now();
    await backend.join('t', 'client:1', 10, { version: 2, subject: 'alice' });
    await backend.join('t', 'client:2', 10);
    for (const key of keys) {
      const ttl = await admin.ttl(key);
      assert.ok(ttl > 100 && ttl <= 120, `${key} ttl ${ttl}`);
    }
    const record = JSON.parse((await admin.hget('{ttl:room:t}:members', 'client:1'))!) as {
      joinedAt: number;
    };
    assert.ok(record.joinedAt >= before && record.joinedAt <= Date.now());
    assert.deepEqual(record, {
      node: backend.serverId,
      joinedAt: record.joinedAt,
      v: 2,
      subject: 'alice',
    });
    assert.deepEqual(JSON.parse((await admin.hget('{ttl:room:t}:members', 'client:2'))!), {
      node: backend.serverId,
      joinedAt: JSON.parse((await admin.hget('{ttl:room:t}:members', 'client:2'))!).joinedAt,
      v: 1,
    });
    // The node's room index lists the room while it has members there.
    assert.deepEqual(await admin.smembers(`ttl:node:${backend.serverId}:rooms`), ['t']);
    await backend.leave('t', 'client:1');
    assert.deepEqual(await admin.smembers('ttl:room:t'), ['client:2']);
    await backend.leave('t', 'client:2');
    assert.equal(await admin.exists(...keys), 0);
    assert.equal(await admin.exists(`ttl:node:${backend.serverId}:rooms`), 0);
  } finally {
    await backend.close();
    admin.disconnect();
  }
});

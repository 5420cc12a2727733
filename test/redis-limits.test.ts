/**
 * Distributed limits (SPEC.md §6) on two nodes sharing one real Redis: per-room messages and
 * per-IP connections hold across nodes through the batched counter sync, within the overshoot
 * bound of README.md (Running several nodes with Redis), and fall back to local limits when Redis is gone.
 * The servers run in this process (so their counters and metrics can be read) with one fixed
 * clock, so the 10 s limit window cannot roll over in the middle of a test.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { Close } from '../src/close-codes.js';
import { RedisServer } from './helpers/redis.js';
import { eventually } from './helpers/node-process.js';
import { connect, join, type TestClient, type TestServer } from './helpers/server.js';
import { startServer } from './helpers/server.js';

const ROOM_LIMIT = 20;
const CONN_LIMIT = 5;
const WINDOW = Math.floor(Date.now() / 10_000) * 10_000;
const now = () => WINDOW + 5000;

let redis: RedisServer;
let admin: Redis;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    const config = {
      redisUrl: redis.url,
      rateLimitRoomMsgsPer10s: ROOM_LIMIT,
      rateLimitConnPer10s: CONN_LIMIT,
      rateLimitSyncMs: 50,
      cbOpenMs: 60_000,
    };
    a = await startServer(config, { now });
    b = await startServer(config, { now });
  },
  { timeout: 30_000 },
);

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.allSettled([a?.close(), b?.close()]);
    admin?.disconnect();
    await redis?.stop();
  },
  { timeout: 30_000 },
);

async function counter(key: string): Promise<number> {
  return Number((await admin.get(`{rl:${WINDOW}}:${key}`)) ?? 0);
}

async function drops(t: TestServer, limit: string): Promise<number> {
  const m = await t.server.metrics.rateLimitDrops.get();
  return m.values.find((v) => v.labels.limit === limit)?.value ?? 0;
}

async function forwarded(t: TestServer): Promise<number> {
  return (await t.server.metrics.messagesForwarded.get()).values[0]?.value ?? 0;
}

/** Send n messages and wait until the server has taken each (forwarded or dropped). */
async function sendAll(t: TestServer, c: TestClient, n: number, tag: string): Promise<void> {
  const start = (await forwarded(t)) + (await drops(t, 'room'));
  for (let i = 0; i < n; i++) c.send({ type: 'control', action: tag, payload: i });
  await eventually(
    async () => (await forwarded(t)) + (await drops(t, 'room')) === start + n,
    `${n} messages taken`,
  );
}

/**
 * Cut a node's counter sync off from Redis (each sync fails, as when Redis is unreachable from
 * that node alone) until the returned function is called. Only the sync method is replaced;
 * the node's Redis backend is otherwise the real one. With it the test decides what a node
 * knows, instead of racing its 50 ms sync timer.
 */
function cutOffSync(t: TestServer): () => void {
  const backend = t.server.backend;
  const real = backend.syncCounters!.bind(backend);
  backend.syncCounters = () => Promise.reject(new Error('sync cut off by the test'));
  return () => {
    backend.syncCounters = real;
  };
}

test('per-room message limit holds across nodes; a node overshoots by exactly what it had not synced', async () => {
  const roomId = `lim-${randomUUID().slice(0, 8)}`;
  const s1 = await join(a, roomId);
  const s2 = await join(b, roomId);
  clients.push(s1, s2);
  const key = `msg-room:${roomId}`;

  await sendAll(a, s1, 15, 'a');
  assert.equal(await drops(a, 'room'), 0);
  await eventually(async () => (await counter(key)) === 15, 'a synced 15');
  const createdTtl = await admin.pttl(`{rl:${WINDOW}}:${key}`);
  // From here a hears nothing from the cluster: it knows 15.
  const reconnectA = cutOffSync(a);
  try {
    // b has not synced this room yet: its first message passes, then it learns the total.
    await sendAll(b, s2, 1, 'b1');
    await eventually(async () => (await counter(key)) === 16, 'b synced 1');
    // The counter got its expiry from the sync that created it, and kept it through b's sync
    // (counter.lua sets it only on creation): COUNTER_EXPIRY_MS, 30 s, at most.
    const ttl = await admin.pttl(`{rl:${WINDOW}}:${key}`);
    assert.ok(createdTtl > 0 && createdTtl <= 30_000, `counter TTL ${createdTtl} ms`);
    assert.ok(ttl > 0 && ttl <= createdTtl, `TTL ${createdTtl} ms, then ${ttl} ms: not renewed`);
    const forwardedBefore = await forwarded(b);
    await sendAll(b, s2, 10, 'b2');
    // b knows 16 of 20: exactly 4 more pass, 6 are dropped.
    assert.equal((await forwarded(b)) - forwardedBefore, 4);
    assert.equal(await drops(b, 'room'), 6);
    await eventually(async () => (await counter(key)) === 20, 'b synced 4');

    // a still counts 15 of 20: it admits 5 more, which b's 5 had already used (the overshoot
    // bound: what other nodes admitted since this node's last sync), and drops the rest.
    const [aForwarded, aDrops] = [await forwarded(a), await drops(a, 'room')];
    await sendAll(a, s1, 10, 'a2');
    assert.equal((await forwarded(a)) - aForwarded, 5);
    assert.equal((await drops(a, 'room')) - aDrops, 5);
  } finally {
    reconnectA();
  }
  // a's next sync reports the 5 it had kept: the room total is the limit plus that overshoot.
  await eventually(async () => (await counter(key)) === ROOM_LIMIT + 5, 'a synced its 5');

  // Both nodes now know the room is over its limit: nothing more passes anywhere.
  const [fa, fb] = [await forwarded(a), await forwarded(b)];
  await sendAll(a, s1, 5, 'a3');
  await sendAll(b, s2, 5, 'b3');
  assert.equal(await forwarded(a), fa);
  assert.equal(await forwarded(b), fb);
});

test('per-IP connection rate holds across nodes', async () => {
  // An address of its own, so no other test's connections count.
  const ip = '127.0.0.2';
  const key = `conn:${ip}`;
  for (let i = 0; i < CONN_LIMIT - 1; i++)
    clients.push(await join(a, 'conn-room', { localAddress: ip }));
  await eventually(async () => (await counter(key)) === CONN_LIMIT - 1, 'a synced');
  // b has not seen this IP: its first attempt passes (the last the limit allows), and b
  // learns the total when it syncs it.
  clients.push(await join(b, 'conn-room', { localAddress: ip }));
  await eventually(async () => (await counter(key)) === CONN_LIMIT, 'b synced');
  const refused = await connect(b.url, { roomId: 'conn-room', localAddress: ip });
  assert.deepEqual(await refused.closed, { ...Close.rateLimited });
});

// Last: it stops the shared Redis.
test('with Redis gone the limits are local, never unlimited', async () => {
  const local = await join(a, `local-${randomUUID().slice(0, 8)}`, { localAddress: '127.0.0.3' });
  clients.push(local);
  await redis.kill();
  const [f, d] = [await forwarded(a), await drops(a, 'room')];
  await sendAll(a, local, 30, 'local');
  // Syncs fail (and are retried later); each node still enforces the limit on its own count.
  assert.equal((await forwarded(a)) - f, ROOM_LIMIT);
  assert.equal((await drops(a, 'room')) - d, 30 - ROOM_LIMIT);
});

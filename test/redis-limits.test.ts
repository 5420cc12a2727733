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
const LOCAL_ROOM = `local-${randomUUID().slice(0, 8)}`;
let local: TestClient;
let a: TestServer;
let b: TestServer;
const clients: TestClient[] = [];

before(async () => {
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
});

after(async () => {
  for (const c of clients) c.ws.terminate();
  await Promise.allSettled([a?.close(), b?.close()]);
  admin?.disconnect();
  await redis?.stop();
});

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
    async () => (await forwarded(t)) + (await drops(t, 'room')) >= start + n,
    `${n} messages taken`,
  );
}

test('per-room message limit holds across nodes; a node overshoots by at most what it had not synced', async () => {
  // Connections are limited per IP too (CONN_LIMIT): this test makes 3 (one for the last test).
  const roomId = `lim-${randomUUID().slice(0, 8)}`;
  const s1 = await join(a, roomId);
  const s2 = await join(b, roomId);
  local = await join(a, LOCAL_ROOM);
  clients.push(s1, s2, local);
  const key = `msg-room:${roomId}`;

  await sendAll(a, s1, 15, 'a');
  assert.equal(await drops(a, 'room'), 0);
  await eventually(async () => (await counter(key)) === 15, 'a synced 15');

  // b has not synced this room yet: its first message passes, then it learns the total.
  await sendAll(b, s2, 1, 'b1');
  await eventually(async () => (await counter(key)) === 16, 'b synced 1');
  const forwardedBefore = await forwarded(b);
  await sendAll(b, s2, 10, 'b2');
  // b knows 16 of 20: exactly 4 more pass, 6 are dropped.
  assert.equal((await forwarded(b)) - forwardedBefore, 4);
  assert.equal(await drops(b, 'room'), 6);
  await eventually(async () => (await counter(key)) === 20, 'b synced 4');

  // a last synced at 15 and has not heard of b's 5: it may admit those 5 again (the overshoot
  // bound: what other nodes admitted since this node's last sync), never more.
  const aBefore = await forwarded(a);
  await sendAll(a, s1, 10, 'a2');
  const aPassed = (await forwarded(a)) - aBefore;
  assert.ok(aPassed <= 5, `a admitted ${aPassed}`);
  await eventually(async () => (await counter(key)) === 20 + aPassed, 'a synced');
  assert.ok((await counter(key)) <= ROOM_LIMIT + 5);

  // Both nodes now know the room is over its limit: nothing more passes anywhere.
  const [fa, fb] = [await forwarded(a), await forwarded(b)];
  await sendAll(a, s1, 5, 'a3');
  await sendAll(b, s2, 5, 'b3');
  assert.equal(await forwarded(a), fa);
  assert.equal(await forwarded(b), fb);
});

test('per-IP connection rate holds across nodes', async () => {
  // The previous test made 3 connections from 127.0.0.1 (synced: total 3).
  await eventually(async () => (await counter('conn:127.0.0.1')) === 3, 'conn synced');
  const c4 = await join(a, 'conn-room');
  clients.push(c4);
  await eventually(async () => (await counter('conn:127.0.0.1')) === 4, 'a synced conn');
  // b learns the total when it syncs its own next attempt: that attempt still passes (5/5).
  const c5 = await join(b, 'conn-room');
  clients.push(c5);
  await eventually(async () => (await counter('conn:127.0.0.1')) === 5, 'b synced conn');
  const refused = await connect(b.url, { roomId: 'conn-room' });
  assert.deepEqual(await refused.closed, { code: 1013, reason: 'Rate limited' });
});

test('with Redis gone the limits are local, never unlimited', async () => {
  await redis.kill();
  const [f, d] = [await forwarded(a), await drops(a, 'room')];
  await sendAll(a, local, 30, 'local');
  // Syncs fail (and are retried later); each node still enforces the limit on its own count.
  assert.equal((await forwarded(a)) - f, ROOM_LIMIT);
  assert.equal((await drops(a, 'room')) - d, 30 - ROOM_LIMIT);
});

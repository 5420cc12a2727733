/**
 * A leave whose Redis script failed (Redis away) is retried by the node's liveness tick; the
 * retry is what removes the member, so it is what reports it (SPEC.md §15): peer.left with the
 * cause the leave had, then room.finished, once each. Real parts: a redis-server that is saved,
 * SIGKILLed and started again from its snapshot, a real server and WebSocket client, and a
 * receiver verifying every delivery with `standardwebhooks`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis.js';
import { join, startServer, until, type TestClient, type TestServer } from './helpers/server.js';
import { TEST_SECRET, WebhookReceiver } from './helpers/webhook-receiver.js';

let redis: RedisServer;
let admin: Redis;
let receiver: WebhookReceiver;
let t: TestServer | undefined;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    receiver = await WebhookReceiver.start();
  },
  { timeout: 60_000 },
);

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await t?.close();
    admin?.disconnect();
    await receiver?.stop();
    await redis?.stop();
  },
  { timeout: 60_000 },
);

test('a leave that failed while Redis was away is reported by its retry: peer.left (its cause), room.finished, once each', async () => {
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  t = await startServer({
    webhookUrls: [receiver.url],
    webhookSecret: TEST_SECRET,
    webhookRetryBaseMs: 20,
    webhookRetryMaxMs: 200,
    resumeWindowMs: 0,
    redisUrl: redis.url,
    redisKeyPrefix: prefix,
    nodeLeaseMs: 1200,
    cbOpenMs: 500,
  });
  const r = `lr-${randomUUID().slice(0, 8)}`;
  const member = async (server: TestServer) => {
    const c = await join(server, r, { v: 2 });
    clients.push(c);
    const welcome = (await c.next()) as { payload: { peerId: string } };
    return Object.assign(c, { id: welcome.payload.peerId });
  };
  const c = await member(t);
  const id = c.id;
  await receiver.waitFor((x) => x.room(r).length >= 2);
  // Keep the membership across the outage: snapshot, then SIGKILL (no leave can reach Redis).
  await admin.save();
  await redis.kill();
  await c.close(); // the leave script fails: the member stays registered, the retry is queued
  await redis.restart(); // loads the snapshot: the member is back, as it was when it left
  // A snapshot may hold deliveries not yet removed from the Redis queue: those are resent with
  // the same id (at least once, SPEC.md §15), so progress is counted in distinct event ids.
  const distinct = () => {
    const seen = new Set<string>();
    return receiver.room(r).filter((d) => !seen.has(d.id) && seen.add(d.id));
  };
  await receiver.waitFor(() => distinct().length >= 4, 20_000, 'retried leave reported');
  const key = `${prefix}room:${r}`;
  await until(async () => (await admin.scard(key).catch(() => -1)) === 0, 10_000, 'gone');
  // The room starts again: in the room's order that comes after any second report.
  const again = await member(t);
  await receiver.waitFor(() => distinct().length >= 6, 20_000, 'room started again');
  assert.deepEqual(
    distinct().map((d) => [d.type, d.body.data.peerId, d.body.data.cause]),
    [
      ['room.started', undefined, undefined],
      ['peer.joined', id, undefined],
      ['peer.left', id, 'close'],
      ['room.finished', undefined, undefined],
      ['room.started', undefined, undefined],
      ['peer.joined', again.id, undefined],
    ],
  );
  assert.deepEqual(receiver.invalid, []);
});

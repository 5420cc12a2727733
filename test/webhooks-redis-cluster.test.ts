/**
 * Webhooks on a real 3-master Redis Cluster: the per-URL queue's keys share one slot (hash
 * tag), so its scripts and the blocking read work there too; two servers, events once each.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { RedisClusterNodes } from './helpers/redis.js';
import { join, startServer, type TestClient, type TestServer } from './helpers/server.js';
import { TEST_SECRET, WebhookReceiver } from './helpers/webhook-receiver.js';

let cluster: RedisClusterNodes;
let receiver: WebhookReceiver;
const servers: TestServer[] = [];
const clients: TestClient[] = [];

before(
  async () => {
    cluster = await RedisClusterNodes.start();
    receiver = await WebhookReceiver.start();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all(servers.map((s) => s.close()));
    await receiver?.stop();
    await cluster?.stop();
  },
  { timeout: 60_000 },
);

test('two servers on a Redis Cluster: a room’s events delivered once each, in order', async () => {
  const config = {
    redisClusterNodes: cluster.seeds,
    redisKeyPrefix: `t-${randomUUID().slice(0, 8)}:`,
    webhookUrls: [receiver.url],
    webhookSecret: TEST_SECRET,
    webhookRetryBaseMs: 20,
  };
  servers.push(await startServer(config), await startServer(config));
  const [a, b] = servers as [TestServer, TestServer];
  const r = `whcl-${randomUUID().slice(0, 8)}`;
  receiver.respond = (d) => (d.attempt === 1 && d.type === 'peer.joined' ? 503 : 204);
  const x = await join(a, r, { v: 2 });
  clients.push(x);
  await x.next(); // welcome
  const y = await join(b, r, { v: 2 });
  clients.push(y);
  await x.next(); // peer-joined of y
  await y.close();
  await x.next(); // peer-disconnected of y
  await x.close();
  await receiver.waitFor((rx) => rx.room(r).length >= 6, 20_000);
  assert.deepEqual(
    receiver.room(r).map((d) => [d.type, d.body.data.node]),
    [
      ['room.started', a.server.backend.serverId],
      ['peer.joined', a.server.backend.serverId],
      ['peer.joined', b.server.backend.serverId],
      ['peer.left', b.server.backend.serverId],
      ['peer.left', a.server.backend.serverId],
      ['room.finished', a.server.backend.serverId],
    ],
  );
  // The two peer.joined were answered 503 first and retried under the same id.
  assert.equal(receiver.requests.length, 8);
  assert.equal(new Set(receiver.requests.map((d) => d.id)).size, 6);
  assert.deepEqual(receiver.invalid, []);
});

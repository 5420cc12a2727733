/**
 * The backend contract on a real 3-master Redis Cluster (sharded pub/sub), and two Switchboard
 * processes sharing rooms through it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { backendApiContract } from './backend-api-contract.js';
import { backendContract, type MakeNodes } from './backend-contract.js';
import { RedisClusterNodes } from './helpers/redis.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { TEST_CONFIG, connect, type TestClient } from './helpers/server.js';

let cluster: RedisClusterNodes;
before(
  async () => {
    cluster = await RedisClusterNodes.start();
  },
  { timeout: 90_000 },
);
after(() => cluster?.stop(), { timeout: 30_000 });

const makeNodes: MakeNodes = async (count) => {
  const prefix = `t-${randomUUID().slice(0, 8)}:`;
  const config = { ...TEST_CONFIG, redisClusterNodes: cluster.seeds, redisKeyPrefix: prefix };
  return {
    nodes: Array.from(
      { length: count },
      () =>
        new RedisBackend(config, pino({ level: 'silent' }), createMetrics(new Registry(), false)),
    ),
    cleanup: async () => undefined,
  };
};
backendContract('redis cluster', makeNodes);
backendApiContract('redis cluster', makeNodes);

/** Two nodes; when one fails to start the other is stopped (Promise.all would leave it running). */
async function startNodes(env: Record<string, string>): Promise<[NodeProcess, NodeProcess]> {
  const started = await Promise.allSettled([NodeProcess.start(env), NodeProcess.start(env)]);
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw failed.reason;
  }
  return [nodes[0]!, nodes[1]!];
}

test('two nodes on the cluster: rooms shared over sharded pub/sub, key and channels in one slot', async () => {
  const env = { REDIS_CLUSTER_NODES: cluster.seeds.join(','), NODE_LEASE_MS: '1500' };
  const [a, b] = await startNodes(env);
  const masters = cluster.servers.map((s) => s.client());
  const clients: TestClient[] = [];
  try {
    const r = `c-${randomUUID().slice(0, 8)}`;
    const member = async (node: NodeProcess) => {
      const c = await connect(node.url, { roomId: r, v: 2 });
      clients.push(c);
      const welcome = (await c.next(5000)) as { payload: { peerId: string } };
      return Object.assign(c, { id: welcome.payload.peerId });
    };
    const x = await member(a);
    const y = await member(b);
    assert.deepEqual(await x.next(), {
      type: 'control',
      action: 'peer-joined',
      payload: { peerId: y.id },
    });
    await awaitLinked(x, y);
    await awaitLinked(y, x);
    x.send({ type: 'offer', sdp: 'over the cluster' });
    assert.deepEqual(await y.next(), { type: 'offer', sdp: 'over the cluster', from: x.id });
    y.send({ type: 'answer', sdp: 'directed back', to: x.id });
    assert.deepEqual(await x.next(), { type: 'answer', sdp: 'directed back', from: y.id });

    // The master that owns room:r holds the set and the member records, and both nodes'
    // sharded subscriptions of the room channel; no other master has any of them.
    const owner = await ownerOf(masters, `room:${r}`);
    assert.deepEqual(
      await masters[owner]!.smembers(`room:${r}`).then((m) => m.sort()),
      [x.id, y.id].sort(),
    );
    assert.equal(await masters[owner]!.exists(`{room:${r}}:members`), 1);
    for (let i = 0; i < masters.length; i++) {
      const [, n] = (await masters[i]!.call('PUBSUB', 'SHARDNUMSUB', `room:${r}`)) as [
        string,
        number,
      ];
      assert.equal(n, i === owner ? 2 : 0, `master ${i}`);
      assert.deepEqual(await masters[i]!.pubsub('NUMSUB', `room:${r}`), [`room:${r}`, 0]);
    }

    // A node killed: its member is reaped through the cluster too.
    const killedAt = Date.now();
    await b.kill('SIGKILL');
    assert.deepEqual(await x.next(5000), { type: 'peer-disconnected', peerId: y.id });
    // The documented bound (lease + lease / 3) plus scheduling slack on a loaded machine.
    assert.ok(Date.now() - killedAt <= 1500 + 500 + 1000);
    assert.deepEqual(await masters[owner]!.smembers(`room:${r}`), [x.id]);
  } finally {
    for (const c of clients) c.ws.terminate();
    await Promise.all([a.kill(), b.kill()]);
    for (const m of masters) m.disconnect();
  }
});

/** Index of the master serving a key (the others answer MOVED). */
async function ownerOf(masters: Redis[], key: string): Promise<number> {
  for (let i = 0; i < masters.length; i++) {
    try {
      await masters[i]!.exists(key);
      return i;
    } catch {
      // MOVED: not this one
    }
  }
  throw new Error(`no master serves ${key}`);
}

test("a cluster master restarted empty: the room's shard is rebuilt and resubscribed", async () => {
  const env = {
    REDIS_CLUSTER_NODES: cluster.seeds.join(','),
    NODE_LEASE_MS: '1500',
    CB_OPEN_MS: '500',
  };
  const [a, b] = await startNodes(env);
  const clients: TestClient[] = [];
  let masters = cluster.servers.map((s) => s.client());
  try {
    const r = `m-${randomUUID().slice(0, 8)}`;
    const member = async (node: NodeProcess) => {
      const c = await connect(node.url, { roomId: r, v: 2 });
      clients.push(c);
      const welcome = (await c.next(5000)) as { payload: { peerId: string } };
      return Object.assign(c, { id: welcome.payload.peerId });
    };
    const x = await member(a);
    const y = await member(b);
    await x.next(); // peer-joined y
    await awaitLinked(x, y);
    const owner = await ownerOf(masters, `room:${r}`);
    await cluster.servers[owner]!.restart();
    for (const m of masters) m.disconnect();
    masters = cluster.servers.map((s) => s.client());
    await eventually(
      async () =>
        (await masters[owner]!.smembers(`room:${r}`).catch(() => [])).sort().join() ===
        [x.id, y.id].sort().join(),
      'membership rebuilt on the restarted master',
      20_000,
    );
    // Sharded subscriptions are back on the restarted master: traffic crosses both ways.
    await eventually(
      async () => {
        const reply = (await masters[owner]!.call('PUBSUB', 'SHARDNUMSUB', `room:${r}`)) as [
          string,
          number,
        ];
        return reply[1] === 2;
      },
      'resubscribed',
      20_000,
    );
    assert.deepEqual(await awaitLinked(x, y), []);
    assert.deepEqual(await awaitLinked(y, x), []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await Promise.all([a.kill(), b.kill()]);
    for (const m of masters) m.disconnect();
  }
});

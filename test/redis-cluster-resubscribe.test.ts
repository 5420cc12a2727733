/**
 * What a node misses while one shard's sharded subscriber is away, on a real 3-master Redis
 * Cluster with two real node processes: the joins and leaves announced meanwhile on the room's
 * shard never reach that node (sharded pub/sub keeps nothing). Once ioredis has replaced the
 * subscriber, the node confirms each room's subscription (a second SSUBSCRIBE answered on the
 * shard) and reconciles it: a missed join is told at once, a missed leave once a read a lease
 * later confirms it, each once (README, "What a subscriber misses while it is away").
 *
 * The subscriber is kept away deterministically: on the room's master `maxclients` is lowered
 * so that new connections are refused ("max number of clients reached"; the connections already
 * open, node A's and the test's, stay), then node B's sharded subscriber connection there alone
 * is killed (CLIENT KILL ID, found by its name in CLIENT LIST).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisClusterNodes } from './helpers/redis.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { joined, left, reconciledLines, roomAcross, total } from './helpers/reconcile.js';
import { memberV2, settle, type TestClient } from './helpers/server.js';

// Longer than B's subscriber is kept away below, so nobody takes a node for crashed.
const LEASE_MS = 3000;
let cluster: RedisClusterNodes;
/** One plain client per master, in cluster.servers order, connected before any refusal. */
let masters: Redis[];
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

before(
  async () => {
    cluster = await RedisClusterNodes.start();
    masters = cluster.servers.map((s) => s.client());
    const env = {
      REDIS_CLUSTER_NODES: cluster.seeds.join(','),
      NODE_LEASE_MS: String(LEASE_MS),
      CB_ERROR_THRESHOLD: '3',
      CB_OPEN_MS: '500',
    };
    await settle([
      NodeProcess.start(env).then((n) => (a = n)),
      NodeProcess.start(env).then((n) => (b = n)),
    ]);
  },
  { timeout: 90_000 },
);

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all([a?.kill(), b?.kill()]);
    for (const m of masters ?? []) m.disconnect();
    await cluster?.stop();
  },
  { timeout: 30_000 },
);

const member = (node: NodeProcess, roomId: string) => memberV2(node.url, roomId, clients);

/** The master (index into cluster.servers) that owns `key`'s slot. */
async function masterOf(key: string): Promise<number> {
  const slot = (await masters[0]!.cluster('KEYSLOT', key)) as number;
  const ranges = await masters[0]!.cluster('SLOTS');
  const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2]![1];
  return cluster.servers.findIndex((s) => s.port === owner);
}

/** CLIENT LIST ids of `node`'s sharded subscriber connections on master `m`. */
async function shardSubscribers(m: Redis, node: NodeProcess): Promise<string[]> {
  const list = (await m.client('LIST')) as string;
  const name = `name=ioredis-cluster(ssubscriber):${node.serverId}`;
  return list
    .split('\n')
    .filter((l) => l.split(' ').includes(name))
    .map((l) => /^id=(\d+) /.exec(l)![1]!);
}

async function infoField(m: Redis, section: string, field: string): Promise<number> {
  const info = await m.info(section);
  return Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(info)![1]);
}

async function shardSubscriptions(m: Redis, channel: string): Promise<number> {
  const [, n] = (await m.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
  return n;
}

const BACK = 'redis subscriber back: reconciling rooms';

/**
 * Node B's subscriber to the room's master is killed and kept away while, on node A, one
 * member leaves and another joins; `whileAway` runs before it may come back. Then B's peer must
 * hear the join at once and the leave a lease later, each once, and nothing else.
 */
async function missedWhileAway(whileAway: (logsBefore: number) => Promise<void>): Promise<void> {
  const since = [a.logs.length, b.logs.length] as const;
  const r = `crs-${randomUUID().slice(0, 8)}`;
  const m = masters[await masterOf(`room:${r}`)]!;
  const { stays, goes, q } = await roomAcross(a, b, r, clients);
  assert.equal(await shardSubscriptions(m, `room:${r}`), 2, 'both nodes subscribe the room');
  const [subscriber] = await shardSubscribers(m, b);
  assert.ok(subscriber, "B's sharded subscriber on the room's master");
  // Nothing was lost so far: no reconciliation after an outage on either node (the first
  // connect's `subscribersReady`, and a subscriber started for a new shard, do not count).
  assert.ok(!a.logs.slice(since[0]).some((l) => l.msg === BACK));
  assert.ok(!b.logs.slice(since[1]).some((l) => l.msg === BACK));
  const logsBefore = b.logs.length;

  const maxclients = (await m.config('GET', 'maxclients')) as [string, string];
  const rejected = await infoField(m, 'stats', 'rejected_connections');
  await m.config('SET', 'maxclients', '1'); // the open connections stay; new ones are refused
  try {
    assert.equal(await m.client('KILL', 'ID', subscriber), 1);
    // B is away from the shard: its subscription is gone and its reconnects are refused.
    await eventually(
      async () => (await infoField(m, 'stats', 'rejected_connections')) > rejected,
      "B's new subscriber refused",
      10_000,
    );
    assert.equal(await shardSubscriptions(m, `room:${r}`), 1, 'only A subscribes the room');
    assert.deepEqual(await shardSubscribers(m, b), []);

    goes.ws.close();
    assert.deepEqual(await stays.next(5000), left(goes.id));
    const comes = await member(a, r);
    assert.deepEqual(await stays.next(5000), joined(comes.id));
    assert.deepEqual(
      (await m.hkeys(`{room:${r}}:members`)).sort(),
      [stays.id, q.id, comes.id].sort(),
    );
    // Both were published while B had no subscription on the shard: lost for B.
    assert.equal(await shardSubscriptions(m, `room:${r}`), 1);
    assert.deepEqual(q.buffered, []);
    await whileAway(logsBefore);
    await m.config('SET', 'maxclients', maxclients[1]);

    // The join at once (B's subscriber is replaced within ioredis' retry backoff, 2 s at
    // most), the leave after a read one lease later confirms it.
    assert.deepEqual(await q.next(10_000), joined(comes.id));
    assert.deepEqual(await q.next(2 * LEASE_MS + 5000), left(goes.id));
    assert.equal((await shardSubscribers(m, b)).length, 1, "B's subscriber is back");
    assert.equal(await shardSubscriptions(m, `room:${r}`), 2);
    assert.ok(b.logs.slice(logsBefore).some((l) => l.msg === BACK));
    assert.ok(!a.logs.slice(since[0]).some((l) => l.msg === BACK), 'A lost nothing');
    // Once: B's reconciliation is over and told one join and one leave; nothing else is
    // queued ahead of messages crossing both ways again.
    await eventually(
      async () => total(reconciledLines(b, logsBefore), 'left') > 0,
      'the reconciliation after the outage',
      10_000,
    );
    const done = reconciledLines(b, logsBefore);
    assert.deepEqual([total(done, 'joined'), total(done, 'left')], [1, 1]);
    assert.deepEqual(await awaitLinked(comes, q, stays), []);
    assert.deepEqual(await awaitLinked(q, stays, comes), []);
    assert.deepEqual(await awaitLinked(stays, q, comes), []);

    // The confirmations' second SSUBSCRIBEs leave nothing behind: once B's peer leaves, B
    // subscribes neither of the room's channels any more.
    const direct = `{room:${r}}:to:${b.serverId}`;
    assert.equal(await shardSubscriptions(m, direct), 1);
    await q.close();
    assert.deepEqual(await stays.next(5000), left(q.id));
    await eventually(
      async () =>
        (await shardSubscriptions(m, direct)) === 0 &&
        (await shardSubscriptions(m, `room:${r}`)) === 1,
      "B's unsubscription of the room",
      10_000,
    );
  } finally {
    await m.config('SET', 'maxclients', maxclients[1]);
  }
}

test("a join and a leave announced while a node's subscriber to the room's shard was away reach its peer once that subscriber is back, each once", async () => {
  await missedWhileAway(async () => undefined);
});

test('a shard away longer than the coalescing of its resubscriptions: the room is not read while its subscription is unconfirmed, and is once the subscriber is back', async () => {
  // ioredis keeps replacing the refused subscriber; B reconciles after 5 s of that at the
  // latest, and must find the room's subscription not confirmed.
  await missedWhileAway(async (logsBefore) => {
    await b.waitForLog(
      (l) => l.msg === 'subscriptions not confirmed: tried next round',
      15_000,
      'an unconfirmed round',
    );
    const line = b.logs.slice(logsBefore).find((l) => l.msg.startsWith('subscriptions not'));
    assert.equal(line?.rooms, 1);
    assert.ok(!b.logs.slice(logsBefore).some((l) => l.msg === 'rooms reconciled after the outage'));
  });
});

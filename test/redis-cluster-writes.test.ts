/**
 * Per-turn writes on a real 3-master Redis Cluster (src/backend/cluster-turn.ts): what one node
 * issues in one event-loop turn reaches each master as one read (INFO stats
 * `total_reads_processed`, with INFO commandstats showing nothing else was processed in the
 * window), also after a master's connection was dropped and came back, and while one is down;
 * envelopes keep their per-sender order and arrive exactly once across shards and across a slot
 * move (MOVED).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Envelope } from '../src/backend/backend.js';
import { RedisBackend } from '../src/backend/redis.js';
import { createRedisConnection, type RedisConnection } from '../src/backend/redis-connection.js';
import { createMetrics } from '../src/metrics.js';
import { RedisClusterNodes } from './helpers/redis.js';
import { TEST_CONFIG, until } from './helpers/server.js';

let cluster: RedisClusterNodes;
/** One plain client per master, in cluster.servers order. */
let masters: Redis[];
let conn: RedisConnection;
let reconnected: () => void = () => undefined;
const config = () => ({ ...TEST_CONFIG, redisClusterNodes: cluster.seeds });

before(
  async () => {
    cluster = await RedisClusterNodes.start();
    masters = cluster.servers.map((s) => s.client());
    conn = createRedisConnection(config(), 'writes-test');
    conn.onError(() => undefined);
    conn.onReconnect(() => reconnected());
    await conn.connect();
  },
  { timeout: 90_000 },
);

after(
  async () => {
    await conn?.quit();
    for (const m of masters ?? []) m.disconnect();
    await cluster?.stop();
  },
  { timeout: 30_000 },
);

/** Index into cluster.servers of the master that owns `key`'s slot. */
async function masterOf(key: string): Promise<number> {
  const slot = (await masters[0]!.cluster('KEYSLOT', key)) as number;
  const ranges = await masters[0]!.cluster('SLOTS');
  const owner = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2]![1];
  return cluster.servers.findIndex((s) => s.port === owner);
}

/** `perMaster` names per master: names[i] all hash to cluster.servers[i]. */
async function namesPerMaster(make: (i: number) => string, perMaster: number): Promise<string[][]> {
  const out: string[][] = cluster.servers.map(() => []);
  for (let i = 0; out.some((l) => l.length < perMaster); i++) {
    assert.ok(i < 10_000, 'names found on every master');
    const name = make(i);
    const list = out[await masterOf(name)]!;
    if (list.length < perMaster) list.push(name);
  }
  return out;
}

interface Stats {
  reads: number;
  calls: Map<string, number>;
}

/** One INFO call per master (itself one read, and one `info` call in commandstats). */
async function stats(): Promise<Stats[]> {
  return Promise.all(
    masters.map(async (m) => {
      const info = await m.info('stats', 'commandstats');
      const calls = new Map<string, number>();
      // Calls and, as `name!rejected`, calls refused before running (MOVED among them).
      for (const x of info.matchAll(/^cmdstat_([^:]+):calls=(\d+).*rejected_calls=(\d+)/gm)) {
        calls.set(x[1]!, Number(x[2]));
        calls.set(`${x[1]!}!rejected`, Number(x[3]));
      }
      return { reads: Number(/^total_reads_processed:(\d+)/m.exec(info)![1]), calls };
    }),
  );
}

/** Per master: reads and commands processed between two stats(), the second INFO excluded. */
function diff(a: Stats[], b: Stats[]): { reads: number; calls: Record<string, number> }[] {
  return b.map((s, i) => {
    const calls: Record<string, number> = {};
    for (const [k, v] of s.calls) {
      const d = v - (a[i]!.calls.get(k) ?? 0) - (k === 'info' ? 1 : 0);
      if (d > 0) calls[k] = d;
    }
    return { reads: s.reads - a[i]!.reads - 1, calls };
  });
}

const masterClient = (i: number): Redis =>
  (conn.commands as Cluster)
    .nodes('master')
    .find((n) => n.options.port === cluster.servers[i]!.port)!;

/** Every master's command connection ready (the Cluster connects them on first use). */
async function allReady(): Promise<void> {
  const channels = await namesPerMaster((i) => `warm-${i}`, 1);
  await Promise.all(
    conn.publish(
      channels.map(([c]) => [c!, 'warm']),
      true,
    ),
  );
  await until(() => cluster.servers.every((_, i) => masterClient(i)?.status === 'ready'));
}

test('the publishes of one flush reach each master as one read', { timeout: 60_000 }, async () => {
  await allReady();
  const channels = await namesPerMaster((i) => `pub-${randomUUID().slice(0, 6)}-${i}`, 4);
  // 40 publishes per master (10 per channel), interleaved across masters as a flush would be.
  const batch: [string, string][] = [];
  for (let n = 0; n < 10; n++)
    for (let c = 0; c < 4; c++)
      for (const list of channels) batch.push([list[c]!, `message ${n} ${'x'.repeat(40)}`]);
  const s0 = await stats();
  const replies = await Promise.all(conn.publish(batch, true));
  assert.equal(replies.length, 120);
  const d = diff(s0, await stats());
  for (const [i, m] of d.entries())
    assert.deepEqual(m, { reads: 1, calls: { spublish: 40 } }, `master ${i}`);
});

test(
  "the script calls of one turn reach each master as one read, the first turn's too",
  { timeout: 60_000 },
  async () => {
    await allReady();
    const tags = await namesPerMaster((i) => `ctr-${randomUUID().slice(0, 6)}-${i}`, 5);
    const s0 = await stats();
    const calls = tags.flatMap((list) =>
      list.map((tag) => conn.counters([`{${tag}}:a`, `{${tag}}:b`], [1, 2], 10_000)),
    );
    assert.deepEqual(
      await Promise.all(calls),
      Array.from({ length: 15 }, () => [1, 2]),
    );
    const d = diff(s0, await stats());
    for (const [i, m] of d.entries()) {
      assert.equal(m.reads, 1, `master ${i}: one read`);
      // The first call of the script on a connection is an EVAL, the others EVALSHA.
      assert.equal((m.calls.eval ?? 0) + (m.calls.evalsha ?? 0), 5, `master ${i}: five calls`);
    }
  },
);

test(
  'a master whose connection is down is not corked; once it is back, corked again',
  { timeout: 60_000 },
  async () => {
    await allReady();
    const channels = await namesPerMaster((i) => `down-${randomUUID().slice(0, 6)}-${i}`, 1);
    const batch = (): [string, string][] =>
      channels.flatMap(([c]) =>
        Array.from({ length: 20 }, (_, n): [string, string] => [c!, `${n}`]),
      );
    const down = masterClient(0);
    const closed = new Promise((resolve) => down.once('close', resolve));
    const back = new Promise<void>((resolve) => (reconnected = resolve));
    // Drops the Cluster's command connection to master 0, and nothing else.
    await masters[0]!.client('KILL', 'ADDR', `127.0.0.1:${down.stream.localPort}`);
    await closed;
    assert.notEqual(down.status, 'ready');
    // This turn corks the ready masters' sockets only, and uncorks them when the turn ends.
    conn.joinTurn();
    const corked = () => cluster.servers.map((_, i) => masterClient(i)?.stream.writableCorked ?? 0);
    assert.deepEqual(corked(), [0, 1, 1]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(corked(), [0, 0, 0]);

    await back;
    await until(() => masterClient(0)?.status === 'ready');
    const s1 = await stats();
    await Promise.all(conn.publish(batch(), true));
    for (const [i, m] of diff(s1, await stats()).entries())
      assert.deepEqual(m, { reads: 1, calls: { spublish: 20 } }, `master ${i} after the reconnect`);
  },
);

test(
  'across a slot move (MOVED) the publishes of a channel arrive once each, in order',
  { timeout: 60_000 },
  async () => {
    await allReady();
    const channel = (
      await namesPerMaster((i) => `moved-${randomUUID().slice(0, 6)}-${i}`, 1)
    )[0]![0];
    const slot = (await masters[0]!.cluster('KEYSLOT', channel!)) as number;
    const [from, to] = [masters[0]!, masters[1]!];
    const [fromId, toId] = (await Promise.all([
      from.cluster('MYID'),
      to.cluster('MYID'),
    ])) as string[];
    // The resharding steps for an empty slot; the new owner bumps its epoch on the final step.
    await to.cluster('SETSLOT', slot, 'IMPORTING', fromId!);
    await from.cluster('SETSLOT', slot, 'MIGRATING', toId!);
    for (const m of [to, from, masters[2]!]) await m.cluster('SETSLOT', slot, 'NODE', toId!);
    const listener = cluster.servers[1]!.client();
    try {
      const got: string[] = [];
      listener.on('smessage', (_c: string, m: string) => got.push(m));
      await listener.ssubscribe(channel!);
      // The Cluster still routes the slot to master 0: the first batch is redirected (MOVED).
      const first = Array.from({ length: 10 }, (_, n): [string, string] => [channel!, `${n}`]);
      const second = Array.from({ length: 10 }, (_, n): [string, string] => [
        channel!,
        `${10 + n}`,
      ]);
      const s0 = await stats();
      await Promise.all(conn.publish(first, true));
      const moved = diff(s0, await stats())[0]!.calls['spublish!rejected'];
      assert.equal(moved, 10, 'the first batch was refused by master 0 (MOVED)');
      await Promise.all(conn.publish(second, true));
      // A marker after both: once it arrived, nothing of the batches is still on its way.
      await Promise.all(conn.publish([[channel!, 'end']], true));
      await until(() => got.includes('end'));
      assert.deepEqual(got, [...Array.from({ length: 20 }, (_, n) => `${n}`), 'end']);
    } finally {
      listener.disconnect();
    }
  },
);

test(
  'two backends: per-sender order and exactly-once across rooms on every shard, many turns',
  { timeout: 60_000 },
  async () => {
    const prefix = `w-${randomUUID().slice(0, 6)}:`;
    const rooms = (await namesPerMaster((i) => `${prefix}room:r${i}`, 2))
      .flat()
      .map((c) => c.slice(`${prefix}room:`.length));
    const make = () =>
      new RedisBackend(
        { ...config(), redisKeyPrefix: prefix },
        pino({ level: 'silent' }),
        createMetrics(new Registry(), false),
      );
    const [a, b] = [make(), make()];
    const inbox = new Map<string, Envelope[]>();
    try {
      await a.start({ onEnvelope: () => undefined });
      await b.start({ onEnvelope: (room, e) => inbox.set(room, [...(inbox.get(room) ?? []), e]) });
      for (const r of rooms) b.subscribe(r);
      await until(
        async () => {
          for (const r of rooms) {
            const ch = `${prefix}room:${r}`;
            const n = (await masters[await masterOf(ch)]!.pubsub('SHARDNUMSUB', ch)) as [
              string,
              number,
            ];
            if (n[1] !== 1) return false;
          }
          return true;
        },
        10_000,
        'b subscribed to every room',
      );
      const TURNS = 20;
      const senders = ['s1', 's2'];
      for (let t = 0; t < TURNS; t++) {
        // Per turn: 3 envelopes of each sender in each room, interleaved across rooms and senders.
        for (let k = 0; k < 3; k++)
          for (const r of rooms)
            for (const s of senders)
              a.publish(r, {
                senderId: s,
                data: { type: 'candidate', candidate: `${t * 3 + k}` },
                originServerId: a.serverId,
              });
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (const r of rooms)
        a.publish(r, {
          senderId: 'end',
          data: { type: 'candidate', candidate: 'end' },
          originServerId: a.serverId,
        });
      await until(
        () => rooms.every((r) => inbox.get(r)?.some((e) => e.senderId === 'end')),
        10_000,
        'every room ended',
      );
      for (const r of rooms)
        for (const s of senders)
          assert.deepEqual(
            inbox
              .get(r)!
              .filter((e) => e.senderId === s)
              .map((e) => (e.data as { candidate: string }).candidate),
            Array.from({ length: TURNS * 3 }, (_, n) => `${n}`),
            `room ${r} sender ${s}`,
          );
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  },
);

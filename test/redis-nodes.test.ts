/**
 * Several Switchboard processes sharing one real redis-server: cross-node forwarding, the
 * capacity race, per-room subscription, directed v2 messages, no Redis round trip per message,
 * graceful shutdown of one node.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { connect, until, memberV2, settle, type TestClient } from './helpers/server.js';

const CAPACITY = 20;
let redis: RedisServer;
let admin: Redis;
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    await settle([
      NodeProcess.start(env()).then((n) => (a = n)),
      NodeProcess.start(env()).then((n) => (b = n)),
    ]);
  },
  { timeout: 60_000 },
);

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all([a?.kill(), b?.kill()]);
    admin?.disconnect();
    await redis?.stop();
  },
  { timeout: 30_000 },
);

const room = () => `r-${randomUUID().slice(0, 8)}`;
const env = () => ({ REDIS_URL: redis.url, ROOM_CAPACITY: String(CAPACITY) });

/** A v2 client, admitted (welcome received). */
const member = (node: NodeProcess, roomId: string) => memberV2(node.url, roomId, clients);

/** A v1 client, admitted (its id read from Redis is not needed). */
async function v1member(node: NodeProcess, roomId: string): Promise<TestClient> {
  const before = await admin.scard(`room:${roomId}`);
  const c = await connect(node.url, { roomId });
  clients.push(c);
  await eventually(async () => (await admin.scard(`room:${roomId}`)) > before, 'v1 admitted');
  return c;
}

test('messages cross between nodes both ways, v1 shapes exact, peer-disconnected too', async () => {
  const r = room();
  const x = await v1member(a, r);
  const y = await v1member(b, r);
  await awaitLinked(x, y);
  await awaitLinked(y, x);
  x.send({ type: 'offer', sdp: 'v=0 from-a', extra: 'dropped' });
  assert.deepEqual(await y.next(), { type: 'offer', sdp: 'v=0 from-a' });
  y.send({ type: 'candidate', candidate: 'cand', sdpMid: '0', sdpMLineIndex: 0 });
  assert.deepEqual(await x.next(), {
    type: 'candidate',
    candidate: 'cand',
    sdpMid: '0',
    sdpMLineIndex: 0,
  });
  await y.close();
  assert.deepEqual(await x.next(), { type: 'peer-disconnected' });
  await x.close();
  // The Redis operations behind it were timed, by operation.
  const { body } = await a.get('/metrics');
  for (const op of ['join', 'leave'])
    assert.match(
      body,
      new RegExp(`signaling_redis_operation_duration_seconds_count\\{operation="${op}"\\} [1-9]`),
    );
  assert.match(body, /^signaling_redis_up 1$/m);
  assert.match(body, /^signaling_circuit_breaker_open 0$/m);
});

test('per-sender order across nodes, nothing delivered twice', async () => {
  const r = room();
  const x = await member(a, r);
  const y = await member(b, r);
  await awaitLinked(x, y);
  const n = 300;
  for (let i = 0; i < n; i++) x.send({ type: 'control', action: 'seq', payload: i });
  const got: unknown[] = [];
  for (let i = 0; i < n; i++) got.push(((await y.next(5000)) as { payload: unknown }).payload);
  assert.deepEqual(
    got,
    Array.from({ length: n }, (_, i) => i),
  );
  // Nothing delivered twice: y's next message is the marker x sent after the n.
  x.send({ type: 'control', action: 'end' });
  assert.deepEqual(await y.next(5000), { type: 'control', action: 'end', from: x.id });
});

test('two nodes racing for the last place of a room: exactly one wins', async () => {
  const r = room();
  for (let i = 0; i < CAPACITY - 1; i++) await member(i % 2 ? a : b, r);
  const racers = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const c = await connect((i % 2 ? a : b).url, { roomId: r, v: 2 });
      clients.push(c);
      return c;
    }),
  );
  const outcomes = await Promise.all(
    racers.map((c) =>
      Promise.race([
        c.next(5000).then((m) => (m as { action?: string }).action),
        c.closed.then((cl) => `${cl.code} ${cl.reason}`),
      ]),
    ),
  );
  assert.equal(outcomes.filter((o) => o === 'welcome').length, 1, outcomes.join(', '));
  assert.equal(outcomes.filter((o) => o === '1000 Room is full').length, 9, outcomes.join(', '));
  assert.equal(await admin.scard(`room:${r}`), CAPACITY);
});

test('a node subscribes only to rooms it has members in', async () => {
  const r1 = room();
  const r2 = room();
  const x = await member(a, r1);
  const y = await member(b, r1);
  const z = await member(b, r2);
  await awaitLinked(x, y);
  // Room r1's channel has a subscriber on each node; r2's only on b; nobody pattern-subscribes.
  assert.deepEqual(await admin.pubsub('NUMSUB', `room:${r1}`, `room:${r2}`), [
    `room:${r1}`,
    2,
    `room:${r2}`,
    1,
  ]);
  assert.equal(await admin.pubsub('NUMPAT'), 0);
  const channels = (await admin.pubsub('CHANNELS', `*${r2}*`)) as string[];
  assert.ok(
    channels.every((ch) => !ch.includes(a.serverId!)),
    'a has no subscription in r2',
  );
  // Traffic of r2 does not reach a: a's subscriber connection receives nothing from it.
  const before = await subscriberOutput(a.serverId!);
  const z2 = await member(b, r2);
  await awaitLinked(z, z2);
  for (let i = 0; i < 50; i++) z.send({ type: 'offer', sdp: 'x'.repeat(1000) });
  for (let i = 0; i < 50; i++) await z2.next();
  assert.equal(await subscriberOutput(a.serverId!), before);
  // The last member of r1 on b leaves: b unsubscribes r1.
  await y.close();
  await eventually(
    async () => ((await admin.pubsub('NUMSUB', `room:${r1}`)) as [string, number])[1] === 1,
    'b unsubscribed r1',
  );
});

/** Bytes Redis has sent so far to the subscriber connection(s) of a node (CLIENT LIST tot-net-out). */
async function subscriberOutput(serverId: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  let total = 0;
  for (const line of list.split('\n')) {
    if (!line.includes(`name=${serverId}`) || !/ sub=[1-9]/.test(line)) continue;
    total += Number(/tot-net-out=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return total;
}

test('directed messages reach only their target across nodes; unknown peers are answered', async () => {
  const r = room();
  const x = await member(a, r);
  const y = await member(b, r);
  const w = await member(b, r);
  // x (on a) hears of y and w joining on b.
  for (const peer of [y, w])
    assert.deepEqual(await x.next(), {
      type: 'control',
      action: 'peer-joined',
      payload: { peerId: peer.id },
    });
  await awaitLinked(x, y, w);
  // An observer of the room channel, standing in for a third node with members in the room.
  const observer = redis.client();
  const seen: { data: { sdp?: string }; to?: string }[] = [];
  observer.on('message', (_ch, msg: string) => seen.push(JSON.parse(msg) as (typeof seen)[0]));
  await observer.subscribe(`room:${r}`);
  try {
    x.send({ type: 'offer', sdp: 'for-y', to: y.id });
    assert.deepEqual(await y.next(), { type: 'offer', sdp: 'for-y', from: x.id });
    x.send({ type: 'answer', sdp: 'for-all' });
    // w's next message is the broadcast: the directed offer was not delivered to it.
    assert.deepEqual(await w.next(), { type: 'answer', sdp: 'for-all', from: x.id });
    assert.deepEqual(await y.next(), { type: 'answer', sdp: 'for-all', from: x.id });
    // The directed offer went to b's node channel only: the room channel carried the broadcast
    // (published after it on the same connection) and not the offer.
    await until(() => seen.length > 0, 5000, 'observer got the broadcast');
    assert.deepEqual(
      seen.map((e) => e.data.sdp),
      ['for-all'],
    );
  } finally {
    observer.disconnect();
  }
  // y answers x across nodes (b learned x from its join result).
  y.send({ type: 'answer', sdp: 'to-x', to: x.id });
  assert.deepEqual(await x.next(), { type: 'answer', sdp: 'to-x', from: y.id });
  x.send({ type: 'offer', sdp: 'nobody', to: 'client:not-a-member' });
  assert.deepEqual(await x.next(), { type: 'control', action: 'unknown-peer' });
  // It reached nobody: y's next message is the one x sent after it.
  x.send({ type: 'answer', sdp: 'after', to: y.id });
  assert.deepEqual(await y.next(), { type: 'answer', sdp: 'after', from: x.id });
});

test('N messages cost at most N publishes (batched per room and turn), each reply skipped but about one a second, and no other Redis command', async (t) => {
  // A Redis and two nodes of their own (the shared ones sync idle limit keys in the
  // background), with timers that stay quiet for the whole test: the limit sync every 10 s
  // (its maximum) and the lease tick every NODE_LEASE_MS / 3 = 200 s. Their first ticks come
  // at least 10 s after the nodes start, so every command Redis counts in the window below was
  // caused by the messages themselves: n publishes and nothing else, exactly.
  const own = await RedisServer.start();
  const ownAdmin = own.client();
  const quiet = {
    REDIS_URL: own.url,
    ROOM_CAPACITY: String(CAPACITY),
    RATE_LIMIT_SYNC_MS: '10000',
    NODE_LEASE_MS: '600000',
  };
  const startedAt = Date.now();
  let qa: NodeProcess | undefined;
  let qb: NodeProcess | undefined;
  try {
    await settle([
      NodeProcess.start(quiet).then((n) => (qa = n)),
      NodeProcess.start(quiet).then((n) => (qb = n)),
    ]);
    const r = room();
    const x = await member(qa!, r);
    const y = await member(qb!, r);
    await awaitLinked(x, y);
    await awaitLinked(y, x);
    // Each node reconciles the room once its subscription is active (one HGETALL each), on
    // another connection than the one that carried the probes: wait until both are counted.
    await eventually(
      async () => (await commandStats(ownAdmin)).get('hgetall') === 2,
      'both nodes reconciled the room',
    );
    const before = await commandStats(ownAdmin);
    const n = 2000;
    for (let i = 0; i < n; i++) x.send({ type: 'candidate', candidate: `c${i}` });
    for (let i = 0; i < n; i++) await y.next(5000);
    const after = await commandStats(ownAdmin);
    const windowEnd = Date.now();
    const delta = (cmd: string) => (after.get(cmd) ?? 0) - (before.get(cmd) ?? 0);
    const others = [...after.keys()]
      .filter(
        (cmd) => cmd !== 'publish' && cmd !== 'client|reply' && cmd !== 'info' && delta(cmd) !== 0,
      )
      .map((cmd) => `${cmd} ${delta(cmd)}`);
    const skips = delta('client|reply');
    t.diagnostic(
      `${n} messages: ${delta('publish')} publishes, ${skips} of them without a reply, others: [${others.join(', ')}]`,
    );
    assert.ok(
      windowEnd - startedAt < 10_000,
      `setup and messages took ${windowEnd - startedAt} ms: a 10 s limit sync may have run`,
    );
    // One PUBLISH per room and event-loop turn: at least one, never more than one per message.
    assert.ok(delta('publish') >= 1 && delta('publish') <= n, `publishes: ${delta('publish')}`);
    // Each publish but the reported ones (one per second at most, reply-skip.ts) is preceded
    // by CLIENT REPLY SKIP: no reply per message for the node to read.
    const reported = delta('publish') - skips;
    const seconds = Math.ceil((windowEnd - startedAt) / 1000);
    assert.ok(reported >= 0 && reported <= seconds + 1, `reported publishes: ${reported}`);
    assert.deepEqual(others, []);
  } finally {
    await Promise.all([qa?.kill(), qb?.kill()]);
    ownAdmin.disconnect();
    await own.stop();
  }
});

async function commandStats(client: Redis): Promise<Map<string, number>> {
  const info = await client.info('commandstats');
  const stats = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(m[1]!, Number(m[2]));
  return stats;
}

test('graceful shutdown of one node with resume off: its clients leave everywhere, the others stay', async () => {
  // With resume on, a drain detaches its v2 clients instead (test/resume-cluster.test.ts).
  const c = await NodeProcess.start({ ...env(), RESUME_WINDOW_MS: '0' });
  try {
    const r = room();
    const x = await member(a, r);
    const y = await member(b, r);
    const leaving = await member(c, r);
    const joined = (id: string) => ({
      type: 'control',
      action: 'peer-joined',
      payload: { peerId: id },
    });
    // x hears y and then leaving join, y hears leaving: nothing else, nothing twice.
    assert.deepEqual(await awaitLinked(leaving, x, y), [
      joined(y.id),
      joined(leaving.id),
      joined(leaving.id),
    ]);
    assert.deepEqual(await awaitLinked(y, x), []);
    assert.equal(await admin.scard(`room:${r}`), 3);
    const gone = leaving.closed;
    await c.kill('SIGTERM');
    assert.deepEqual(await gone, { code: 1001, reason: 'Going away' });
    assert.deepEqual((await c.exit).code, 0);
    assert.deepEqual(await x.next(), { type: 'peer-disconnected', peerId: leaving.id });
    assert.deepEqual(await y.next(), { type: 'peer-disconnected', peerId: leaving.id });
    assert.deepEqual((await admin.smembers(`room:${r}`)).sort(), [x.id, y.id].sort());
    y.send({ type: 'offer', sdp: 'still here' });
    assert.deepEqual(await x.next(), { type: 'offer', sdp: 'still here', from: y.id });
  } finally {
    await c.kill();
  }
});

/**
 * Faults with real processes: a node SIGKILLed (its members reaped, peers told, within the
 * documented bound), Redis killed mid-session (local forwarding goes on, the circuit opens: new
 * connections 1013, /readyz 503) and restarted empty (the nodes recover by themselves and
 * rebuild the membership), publish failures, garbage on a room channel.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { connect, expectSilence, memberV2, settle, type TestClient } from './helpers/server.js';

const LEASE_MS = 1200;
let redis: RedisServer;
let admin: Redis;
let env: Record<string, string>;
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    env = {
      REDIS_URL: redis.url,
      NODE_LEASE_MS: String(LEASE_MS),
      CB_ERROR_THRESHOLD: '3',
      CB_OPEN_MS: '1000',
    };
    await settle([
      NodeProcess.start(env).then((n) => (a = n)),
      NodeProcess.start(env).then((n) => (b = n)),
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

const room = () => `f-${randomUUID().slice(0, 8)}`;

/** A v2 client, admitted (welcome received). */
const member = (node: NodeProcess, roomId: string) => memberV2(node.url, roomId, clients);

const joinedMsg = (id: string) => ({
  type: 'control',
  action: 'peer-joined',
  payload: { peerId: id },
});

test('a SIGKILLed node: its lease lapses, its members are reaped by node and their peers told once, within the bound', async (t) => {
  const c = await NodeProcess.start(env);
  try {
    const r = room();
    const x = await member(a, r);
    const y = await member(b, r);
    const ghost = await member(c, r);
    assert.deepEqual(await awaitLinked(ghost, x, y), [
      joinedMsg(y.id),
      joinedMsg(ghost.id),
      joinedMsg(ghost.id),
    ]);
    const record = await admin.hget(`{room:${r}}:members`, ghost.id);
    const deadNode = (JSON.parse(record!) as { node: string }).node;
    assert.notEqual(await admin.zscore('nodes', deadNode), null, 'the node has a lease');
    assert.deepEqual(await admin.smembers(`node:${deadNode}:rooms`), [r]);
    const killedAt = Date.now();
    await c.kill('SIGKILL');
    const gone = { type: 'peer-disconnected', peerId: ghost.id };
    assert.deepEqual(await x.next(LEASE_MS * 3), gone);
    const elapsed = Date.now() - killedAt;
    assert.deepEqual(await y.next(1000), gone);
    t.diagnostic(`peer-disconnected ${elapsed} ms after SIGKILL (lease ${LEASE_MS} ms)`);
    // The bound of README.md (Running several nodes with Redis): lease + one lease tick (lease / 3), plus scheduling slack.
    assert.ok(elapsed <= LEASE_MS + LEASE_MS / 3 + 1000, `took ${elapsed} ms`);
    assert.deepEqual((await admin.smembers(`room:${r}`)).sort(), [x.id, y.id].sort());
    assert.equal(await admin.hexists(`{room:${r}}:members`, ghost.id), 0);
    await expectSilence(x, 2 * LEASE_MS); // reaped once, announced once
    // Reaping by node: the dead node's lease and room index are gone too.
    assert.equal(await admin.zscore('nodes', deadNode), null);
    assert.equal(await admin.exists(`node:${deadNode}:rooms`), 0);
  } finally {
    await c.kill();
  }
});

test('garbage on a room channel is ignored; the node keeps serving', async () => {
  const r = room();
  const x = await member(a, r);
  const y = await member(b, r);
  assert.deepEqual(await awaitLinked(y, x), [joinedMsg(y.id)]);
  for (const junk of ['not json', '{"senderId":1}', 'null', '[]', '{"data":{}}'])
    await admin.publish(`room:${r}`, junk);
  y.send({ type: 'offer', sdp: 'after junk' });
  assert.deepEqual(await x.next(), { type: 'offer', sdp: 'after junk', from: y.id });
});

test('publishes that fail are counted, never thrown; local delivery goes on; the circuit opens', async () => {
  // A Redis user that may do everything but PUBLISH: joins work, every publish fails.
  await admin.call('ACL', 'SETUSER', 'nopub', 'on', '>pw', '~*', '&*', '+@all', '-publish');
  const url = new URL(redis.url);
  url.username = 'nopub';
  url.password = 'pw';
  // A long lease: the breaker counts consecutive failures, and a successful lease call between
  // two publishes (under a loaded suite, offers can be 400 ms apart) would reset the count.
  const c = await NodeProcess.start({
    ...env,
    REDIS_URL: url.toString(),
    CB_OPEN_MS: '60000',
    NODE_LEASE_MS: '60000',
  });
  try {
    const r = room();
    const x = await member(c, r);
    const y = await member(c, r);
    assert.deepEqual(await x.next(), joinedMsg(y.id));
    // Each offer is delivered locally; its publish fails. Until the circuit opens (bounded).
    let sent = 0;
    const open = async () => (await c.metric('signaling_circuit_breaker_open')) === 1;
    for (; sent < 50 && !(sent >= 3 && (await open())); sent++) {
      x.send({ type: 'offer', sdp: `local ${sent}` });
      assert.deepEqual(await y.next(), { type: 'offer', sdp: `local ${sent}`, from: x.id });
    }
    await eventually(open, 'open');
    assert.ok(((await c.metric('signaling_redis_publish_failures_total')) ?? 0) >= 3);
    const refused = await connect(c.url, { roomId: r, v: 2 });
    assert.deepEqual(await refused.closed, { code: 1013, reason: 'Service unavailable' });
    assert.equal((await c.get('/readyz')).status, 503);
    y.send({ type: 'answer', sdp: 'still local' });
    assert.deepEqual(await x.next(), { type: 'answer', sdp: 'still local', from: y.id });
    assert.equal(c.proc.exitCode, null);
  } finally {
    await c.kill();
  }
});

test('Redis killed mid-session, then restarted empty: local forwarding, 1013, 503, recovery', async (t) => {
  const r = room();
  const x = await member(a, r);
  const x2 = await member(a, r);
  const z = await member(b, r);
  assert.deepEqual(await x.next(), joinedMsg(x2.id));
  assert.deepEqual(await awaitLinked(z, x, x2), [joinedMsg(z.id), joinedMsg(z.id)]);
  assert.equal((await a.get('/readyz')).status, 200);
  const failuresBefore = (await a.metric('signaling_redis_publish_failures_total')) ?? 0;

  await redis.kill();
  const downAt = Date.now();
  // Local forwarding continues on a; each message's publish fails (counted, never thrown).
  for (let i = 0; i < 5; i++) {
    x.send({ type: 'offer', sdp: `local ${i}` });
    assert.deepEqual(await x2.next(), { type: 'offer', sdp: `local ${i}`, from: x.id });
  }
  await eventually(async () => (await a.metric('signaling_circuit_breaker_open')) === 1, 'open');
  t.diagnostic(`circuit open ${Date.now() - downAt} ms after Redis died`);
  assert.ok(((await a.metric('signaling_redis_publish_failures_total')) ?? 0) > failuresBefore);
  assert.equal(await a.metric('signaling_redis_up'), 0);
  assert.deepEqual(await a.get('/readyz'), { status: 503, body: 'not-ready' });
  const refused = await connect(a.url, { roomId: r, v: 2 });
  assert.deepEqual(await refused.closed, { code: 1013, reason: 'Service unavailable' });
  x2.send({ type: 'answer', sdp: 'still local' });
  assert.deepEqual(await x.next(), { type: 'answer', sdp: 'still local', from: x2.id });

  // Redis comes back without its data: the nodes reconnect, the circuit closes after its open
  // period, the lease refresh re-registers every live member, pub/sub is resubscribed.
  await redis.restart();
  const upAt = Date.now();
  await eventually(
    async () => (await admin.scard(`room:${r}`).catch(() => 0)) === 3,
    'membership rebuilt',
    10_000,
  );
  t.diagnostic(`membership rebuilt ${Date.now() - upAt} ms after Redis restarted`);
  assert.deepEqual((await admin.smembers(`room:${r}`)).sort(), [x.id, x2.id, z.id].sort());
  await eventually(async () => (await a.get('/readyz')).status === 200, 'a ready', 10_000);
  await eventually(async () => (await b.get('/readyz')).status === 200, 'b ready', 10_000);
  assert.equal(await a.metric('signaling_circuit_breaker_open'), 0);
  assert.equal(await a.metric('signaling_redis_up'), 1);
  // Across nodes again, both ways, with no spurious peer-joined/peer-disconnected.
  assert.deepEqual(await awaitLinked(z, x, x2), []);
  assert.deepEqual(await awaitLinked(x, z), []);
  // New connections are admitted and see every member.
  const late = await connect(b.url, { roomId: r, v: 2 });
  clients.push(late);
  const welcome = (await late.next(5000)) as { payload: { peers: string[] } };
  assert.deepEqual(welcome.payload.peers.sort(), [x.id, x2.id, z.id].sort());
});

test('Redis restart with data loss: membership rebuilt without restarting the nodes', async () => {
  const r = room();
  const x = await member(a, r);
  const y = await member(b, r);
  assert.deepEqual(await awaitLinked(y, x), [joinedMsg(y.id)]);
  await redis.restart();
  await eventually(
    async () => (await admin.scard(`room:${r}`).catch(() => 0)) === 2,
    'membership rebuilt',
    10_000,
  );
  assert.deepEqual((await admin.smembers(`room:${r}`)).sort(), [x.id, y.id].sort());
  await eventually(async () => (await a.get('/readyz')).status === 200, 'a ready', 10_000);
  assert.deepEqual(await awaitLinked(x, y), []);
  assert.deepEqual(await awaitLinked(y, x), []);
});

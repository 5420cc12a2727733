/**
 * What a node's subscriber misses while it is cut off from Redis: pub/sub keeps nothing, so the
 * joins and leaves announced meanwhile on another node would never reach its peers. After the
 * subscriber is back, every room is reconciled again: a missed join is told at once, a missed
 * leave once a read a lease later confirms it (tests with real processes, a real redis-server
 * and a TCP proxy between one node and Redis).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis.js';
import { NodeProcess, awaitLinked, eventually, type LogLine } from './helpers/node-process.js';
import { joined, left, reconciledLines, roomAcross, total } from './helpers/reconcile.js';
import { expectSilence, memberV2, settle, type TestClient } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

// Longer than the cut below plus B's reconnect, so A never takes B for crashed.
const LEASE_MS = 3000;
let redis: RedisServer;
let admin: Redis;
let proxy: TcpProxy;
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    proxy = await TcpProxy.start(redis.port);
    const env = { NODE_LEASE_MS: String(LEASE_MS), CB_ERROR_THRESHOLD: '3', CB_OPEN_MS: '500' };
    await settle([
      NodeProcess.start({ ...env, REDIS_URL: redis.url }).then((n) => (a = n)),
      NodeProcess.start({ ...env, REDIS_URL: `redis://127.0.0.1:${proxy.port}` }).then(
        (n) => (b = n),
      ),
    ]);
  },
  { timeout: 60_000 },
);

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    await Promise.all([a?.kill(), b?.kill()]);
    await proxy?.close();
    admin?.disconnect();
    await redis?.stop();
  },
  { timeout: 30_000 },
);

const member = (node: NodeProcess, roomId: string) => memberV2(node.url, roomId, clients);

/**
 * The lines a node logged, after its first `since` lines, when an outage's reconciliation was
 * done, once `until` holds for them (a reconnect with nothing missed logs one with 0 and 0).
 */
async function reconciled(
  node: NodeProcess,
  since: number,
  until: (lines: LogLine[]) => boolean = (lines) => lines.length > 0,
): Promise<LogLine[]> {
  const lines = () => reconciledLines(node, since);
  await eventually(async () => until(lines()), 'the reconciliation after the outage', 20_000);
  return lines();
}

test('a join and a leave announced while a node was cut off reach its peers once it is back; a member that stayed is not announced', async () => {
  const r = `rs-${randomUUID().slice(0, 8)}`;
  const { stays, goes, q } = await roomAcross(a, b, r, clients);
  const logsBefore = b.logs.length;

  proxy.down = true;
  proxy.sever(); // B's command and subscriber connections both drop; reconnects are refused
  goes.ws.close();
  assert.deepEqual(await stays.next(5000), left(goes.id));
  const comes = await member(a, r);
  assert.deepEqual(await stays.next(5000), joined(comes.id));
  const members = `{room:${r}}:members`;
  assert.deepEqual((await admin.hkeys(members)).sort(), [stays.id, q.id, comes.id].sort());
  await expectSilence(q, 300); // cut off: the join and the leave were published meanwhile
  proxy.down = false;

  // The join at once, the leave after a confirming read one lease later, each once. The
  // lease is counted from B's own log line of the subscriber's return: a starved test process
  // gets a message late, never early, so this lower bound cannot fail for that reason.
  assert.deepEqual(await q.next(10_000), joined(comes.id));
  assert.deepEqual(await q.next(2 * LEASE_MS + 5000), left(goes.id));
  const leftAt = Date.now();
  const back = b.logs
    .slice(logsBefore)
    .find((l) => l.msg === 'redis subscriber back: reconciling rooms');
  assert.ok(back, 'B logged the subscriber back');
  const waited = leftAt - Number(back.time);
  assert.ok(waited >= LEASE_MS - 100, `told a lease after the first read: ${waited} ms`);
  await expectSilence(q, 300);
  // Messages cross both ways again, and nothing else was heard on either side.
  assert.deepEqual(await awaitLinked(q, stays, comes), []);
  assert.deepEqual(await awaitLinked(comes, q), []);
});

test('Redis restarted without its data: the members come back, and the reconciliation tells nobody they left', async () => {
  const r = `rs-${randomUUID().slice(0, 8)}`;
  const x = await member(a, r);
  const y = await member(b, r);
  assert.deepEqual(await awaitLinked(y, x), [joined(y.id)]);
  assert.deepEqual(await awaitLinked(x, y), []);
  const since = [a.logs.length, b.logs.length] as const;
  await redis.restart(); // empty: both nodes re-register; their subscribers come back first
  const [doneA, doneB] = await Promise.all([reconciled(a, since[0]), reconciled(b, since[1])]);
  assert.deepEqual([total(doneA, 'left'), total(doneB, 'left')], [0, 0]);
  assert.deepEqual(await awaitLinked(x, y), []);
  assert.deepEqual(await awaitLinked(y, x), []);
  assert.deepEqual(
    (await admin.hkeys(`{room:${r}}:members`)).sort(),
    [x.id, y.id].sort(),
    'membership rebuilt',
  );
});

test('a node that died while Redis lost its data: nobody can reap its members, so after CB_OPEN_MS + NODE_LEASE_MS without its lease they are told gone, once', async () => {
  const r = `rs-${randomUUID().slice(0, 8)}`;
  const c = await NodeProcess.start({
    NODE_LEASE_MS: String(LEASE_MS),
    CB_ERROR_THRESHOLD: '3',
    CB_OPEN_MS: '500',
    REDIS_URL: redis.url,
  });
  try {
    const x = await member(a, r);
    const q = await member(b, r);
    const ghost = await member(c, r);
    assert.deepEqual(await awaitLinked(ghost, x, q), [
      joined(q.id),
      joined(ghost.id),
      joined(ghost.id),
    ]);
    const since = [a.logs.length, b.logs.length] as const;
    await c.kill('SIGKILL');
    await redis.restart(); // empty: the dead node's lease, members and room index are gone
    const t0 = Date.now();
    assert.deepEqual(await x.next(4 * LEASE_MS + 5000), left(ghost.id));
    assert.deepEqual(await q.next(4 * LEASE_MS + 5000), left(ghost.id));
    const waited = Date.now() - t0;
    assert.ok(
      waited >= 500 + LEASE_MS - 500,
      `not before CB_OPEN_MS + NODE_LEASE_MS: ${waited} ms`,
    );
    const told = (ls: LogLine[]) => total(ls, 'left') > 0;
    const [doneA, doneB] = await Promise.all([
      reconciled(a, since[0], told),
      reconciled(b, since[1], told),
    ]);
    assert.deepEqual([total(doneA, 'left'), total(doneB, 'left')], [1, 1]);
    assert.deepEqual(await awaitLinked(x, q), []);
    assert.deepEqual(await awaitLinked(q, x), []);
    assert.deepEqual((await admin.hkeys(`{room:${r}}:members`)).sort(), [x.id, q.id].sort());
  } finally {
    await c.kill();
  }
});

test('rooms whose reads the open circuit refused are reconciled as soon as it closes, not a lease later', async () => {
  // Its own node: a circuit that opens at the first failure and stays open longer than the
  // subscriber takes to come back, so the first round is refused; a lease longer than the
  // rest, so "not a lease later" is far apart from "at once".
  const lease = 8000;
  const cProxy = await TcpProxy.start(redis.port);
  const c = await NodeProcess.start({
    NODE_LEASE_MS: String(lease),
    CB_ERROR_THRESHOLD: '1',
    CB_OPEN_MS: '1500',
    REDIS_URL: `redis://127.0.0.1:${cProxy.port}`,
  });
  try {
    const r = `rs-${randomUUID().slice(0, 8)}`;
    const x = await member(a, r);
    const q = await member(c, r);
    assert.deepEqual(await awaitLinked(q, x), [joined(q.id)]);
    assert.deepEqual(await awaitLinked(x, q), []);
    const since = c.logs.length;
    const logged = (msg: string) => c.logs.slice(since).find((l) => l.msg === msg);
    cProxy.down = true;
    cProxy.sever();
    const comes = await member(a, r);
    assert.deepEqual(await x.next(5000), joined(comes.id));
    // C's next lease tick fails and opens its circuit; Redis is reachable again right after.
    await eventually(
      async () => logged('redis circuit breaker open') !== undefined,
      "C's circuit open",
      2 * lease,
    );
    cProxy.down = false;
    assert.deepEqual(await q.next(2 * lease), joined(comes.id));
    // The round logs its end once its last reads are in, after it told the join.
    await eventually(
      async () => logged('rooms reconciled after the outage') !== undefined,
      "C's reconciliation done",
      2 * lease,
    );
    const back = logged('redis subscriber back: reconciling rooms');
    const refused = logged('circuit not closed: rooms read when it closes');
    const closed = logged('redis circuit breaker closed');
    const done = logged('rooms reconciled after the outage');
    assert.ok(
      back && refused && closed && done,
      `C logged each step: ${JSON.stringify(c.logs.slice(since).map((l) => l.msg))}`,
    );
    // Times from C's own log (its clock, its order): read after the close, well within a lease.
    assert.ok(Number(done.time) >= Number(closed.time), 'reconciled after the circuit closed');
    const waited = Number(done.time) - Number(back.time);
    assert.ok(waited < lease / 2, `reconciled ${waited} ms after the subscriber was back`);
    assert.deepEqual(await awaitLinked(q, x, comes), []);
  } finally {
    await c.kill();
    await cProxy.close();
  }
});

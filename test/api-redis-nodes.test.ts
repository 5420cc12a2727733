/**
 * The server API across two Switchboard processes sharing one real redis-server (SPEC.md §14,
 * "the same answer whichever node is asked"): node B answers for, messages and removes a peer
 * connected to node A; commands for one node go on that node's channel only (seen with MONITOR);
 * the room listing pages correctly while rooms come and go on both nodes.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { API_KEY, api, errorCode } from './helpers/api.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { RedisServer } from './helpers/redis.js';
import { connect, expectSilence, memberV2, type TestClient } from './helpers/server.js';

let redis: RedisServer;
let admin: Redis;
let a: NodeProcess;
let b: NodeProcess;
const clients: TestClient[] = [];

before(
  async () => {
    redis = await RedisServer.start();
    admin = redis.client();
    const env = { REDIS_URL: redis.url, API_KEYS: API_KEY };
    [a, b] = await Promise.all([NodeProcess.start(env), NodeProcess.start(env)]);
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
  { timeout: 60_000 },
);

const room = () => `r-${randomUUID().slice(0, 8)}`;
const member = (node: NodeProcess, roomId: string) => memberV2(node.url, roomId, clients);

/** The PUBLISH commands Redis executes while `body` runs (MONITOR). */
async function publishesDuring(body: () => Promise<void>): Promise<string[][]> {
  const monitor = await admin.monitor();
  monitor.on('error', () => undefined);
  const seen: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'publish') seen.push(args);
  });
  try {
    await body();
  } finally {
    monitor.disconnect();
  }
  return seen;
}

describe('server API on two nodes sharing one redis', { timeout: 60_000 }, () => {
  test('node B lists the members of a room whose peers are on node A and on B', async () => {
    const r = room();
    const x = await member(a, r);
    const y = await member(b, r);
    for (const node of [a, b]) {
      const res = await api(node.port, 'GET', `/api/v1/rooms/${r}`);
      assert.equal(res.status, 200);
      const ids = (res.body as { members: { peerId: string; version: number }[] }).members;
      assert.deepEqual(ids.map((m) => m.peerId).sort(), [x.id, y.id].sort());
      assert.ok(ids.every((m) => m.version === 2));
    }
  });

  test('a directed message through B reaches the peer on A only, on A’s node channel', async () => {
    const r = room();
    const x = await member(a, r);
    const z = await member(a, r);
    const y = await member(b, r);
    await awaitLinked(y, x, z);
    const publishes = await publishesDuring(async () => {
      const res = await api(b.port, 'POST', `/api/v1/rooms/${r}/messages`, {
        body: { message: { type: 'offer', sdp: 'v=0 via api' }, to: x.id },
      });
      assert.equal(res.status, 202);
      const got = (await x.next(5000)) as Record<string, unknown>;
      assert.deepEqual(got, { type: 'offer', sdp: 'v=0 via api', from: 'server' });
    });
    await expectSilence(z);
    await expectSilence(y);
    assert.equal(publishes.length, 1, JSON.stringify(publishes));
    assert.equal(publishes[0]![1], `node:${a.serverId}:commands`);
  });

  test('a broadcast through B reaches every member on both nodes, once each', async () => {
    const r = room();
    const x = await member(a, r);
    const y = await member(b, r);
    const v1 = await connect(a.url, { roomId: r });
    clients.push(v1);
    await eventually(async () => (await admin.scard(`room:${r}`)) === 3, 'v1 admitted');
    // Both ways linked; whatever arrived before (peer-joined) is consumed.
    await awaitLinked(y, x, v1);
    await awaitLinked(x, y, v1);
    const message = { type: 'control', action: 'round-start', payload: { n: 1 } };
    const res = await api(b.port, 'POST', `/api/v1/rooms/${r}/messages`, { body: { message } });
    assert.equal(res.status, 202);
    assert.deepEqual(await x.next(5000), { ...message, from: 'server' });
    assert.deepEqual(await y.next(5000), { ...message, from: 'server' });
    assert.deepEqual(await v1.next(5000), message);
    for (const c of [x, y, v1]) await expectSilence(c);
  });

  test('removing a peer on A through B closes it 4001 "Removed"; both nodes see it gone', async () => {
    const r = room();
    const x = await member(a, r);
    const y = await member(b, r);
    await awaitLinked(y, x);
    const publishes = await publishesDuring(async () => {
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(res.status, 204);
      assert.deepEqual(await x.closed, { code: 4001, reason: 'Removed' });
    });
    assert.equal(publishes[0]![1], `node:${a.serverId}:commands`, 'only A’s channel');
    assert.deepEqual(await y.next(5000), { type: 'peer-disconnected', peerId: x.id });
    for (const node of [a, b])
      await eventually(async () => {
        const res = await api(node.port, 'GET', `/api/v1/rooms/${r}`);
        const members = (res.body as { members: { peerId: string }[] }).members;
        return members.length === 1 && members[0]!.peerId === y.id;
      }, 'x gone');
    const again = await api(a.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
    assert.equal(again.status, 404);
    assert.equal(errorCode(again), 'peer_not_found');
  });

  test('closing a room through A closes its members on both nodes', async () => {
    const r = room();
    const members = [await member(a, r), await member(b, r), await member(b, r)];
    const res = await api(a.port, 'DELETE', `/api/v1/rooms/${r}`);
    assert.equal(res.status, 204);
    for (const m of members) assert.deepEqual(await m.closed, { code: 4001, reason: 'Removed' });
    await eventually(async () => (await api(b.port, 'GET', `/api/v1/rooms/${r}`)).status === 404);
  });

  test('the room listing pages through both nodes’ rooms while rooms are created and removed', async () => {
    const p = `list-${randomUUID().slice(0, 6)}-`;
    const stay: string[] = [];
    const go: TestClient[] = [];
    for (let i = 0; i < 30; i++) {
      stay.push(`${p}stay-${i}`);
      await member(i % 2 ? a : b, `${p}stay-${i}`);
      go.push(await member(i % 2 ? b : a, `${p}go-${i}`));
    }
    const seen = new Set<string>();
    let cursor: string | null = null;
    let page = 0;
    do {
      const node = page % 2 ? a : b; // the cursor works on either node
      const qs: string = `prefix=${p}&limit=7${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await api(node.port, 'GET', `/api/v1/rooms?${qs}`);
      assert.equal(res.status, 200);
      const body = res.body as { rooms: { roomId: string; members: number }[]; cursor: null };
      assert.ok(body.rooms.length <= 7);
      for (const r of body.rooms) {
        assert.ok(r.roomId.startsWith(p));
        assert.ok(r.members >= 1);
        seen.add(r.roomId);
      }
      cursor = body.cursor;
      for (const c of go.splice(0, 3)) await c.close();
      for (let k = 0; k < 3; k++) await member(page % 2 ? b : a, `${p}new-${page}-${k}`);
      page++;
    } while (cursor !== null && page < 200);
    assert.equal(cursor, null);
    for (const id of stay) assert.ok(seen.has(id), `${id} listed`);
  });

  test('a peer of a node killed without cleanup: removal logged as unreachable, the peer reaped later', async () => {
    const c = await NodeProcess.start({
      REDIS_URL: redis.url,
      API_KEYS: API_KEY,
      NODE_LEASE_MS: '1500',
    });
    const r = room();
    const ghost = await member(c, r);
    const y = await member(b, r);
    await c.kill('SIGKILL');
    const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${ghost.id}`);
    assert.equal(res.status, 204);
    await b.waitForLog((l) => l.node === c.serverId && /does not listen/.test(l.msg));
    // Reaped with its node's lease: then y hears it leave and the room lists y alone.
    const left = (await y.next(30_000)) as { type: string; peerId: string };
    assert.deepEqual(left, { type: 'peer-disconnected', peerId: ghost.id });
    const after = await api(a.port, 'GET', `/api/v1/rooms/${r}`);
    assert.deepEqual(
      (after.body as { members: { peerId: string }[] }).members.map((m) => m.peerId),
      [y.id],
    );
  });
});

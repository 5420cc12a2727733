/**
 * The server API (SPEC.md §14) meets resume (SPEC.md §13): `GET /api/v1/rooms/ROOM` marks a
 * detached member `"detached": true`; removing a detached peer (or its room) ends its session at
 * once (its token then gives resumed:false) and the others hear one ordinary leave; a removed
 * attached peer is never detached. The same scenarios run on one server with the memory backend
 * and on two node processes sharing one real redis-server (peer detached on A, API asked on B).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API_KEY, api, errorCode } from './helpers/api.js';
import { NodeProcess, awaitLinked, eventually } from './helpers/node-process.js';
import { RedisServer } from './helpers/redis.js';
import {
  connect,
  expectSilence,
  settle,
  startServer,
  until,
  type TestClient,
  type TestServer,
} from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

interface WelcomePayload {
  peerId: string;
  peers: string[];
  resumeToken?: string;
  resumed?: boolean;
}
type Member = TestClient & { id: string; welcome: WelcomePayload };

interface ApiMember {
  peerId: string;
  detached?: unknown;
}

/** A node as the scenarios see it: where clients connect and where the API is asked. */
interface Node {
  url: string;
  port: number;
}

/** One cluster under test: A holds the peer that is detached, B answers the API. */
interface Cluster {
  a: Node;
  b: Node;
  /** Wait until A has logged peerId detached. */
  detachedLog(peerId: string): Promise<void>;
  /** Whether any node ever logged peerId as detached. */
  everDetached(peerId: string): boolean;
  /** Assert that A has no detached peer left (signaling_detached_peers 0, soon). */
  noneDetachedOnA(): Promise<void>;
}

/** Wait until A has detached peerId and the backend holds its session (A lists it detached). */
async function detached(c: Cluster, roomId: string, peerId: string): Promise<void> {
  await c.detachedLog(peerId);
  await eventually(async () => {
    const res = await api(c.a.port, 'GET', `/api/v1/rooms/${roomId}`);
    const list = (res.body as { members?: ApiMember[] }).members ?? [];
    return list.some((m) => m.peerId === peerId && m.detached === true);
  }, 'member record detached');
}

const clients: TestClient[] = [];
const proxies: TcpProxy[] = [];
let seq = 0;
const newRoom = () => `ar-${process.pid}-${++seq}`;

async function member(url: string, roomId: string, resume?: string): Promise<Member> {
  const query = resume === undefined ? undefined : `resume=${encodeURIComponent(resume)}`;
  const c = await connect(url, { roomId, v: 2, query });
  clients.push(c);
  const w = (await c.next(10_000)) as { action: string; payload: WelcomePayload };
  assert.equal(w.action, 'welcome', JSON.stringify(w));
  return Object.assign(c, { id: w.payload.peerId, welcome: w.payload });
}

/** A member of roomId on `node` through a TCP proxy, so the test can cut it without a close. */
async function cuttable(node: Node, roomId: string): Promise<Member & { proxy: TcpProxy }> {
  const proxy = await TcpProxy.start(node.port);
  proxies.push(proxy);
  return Object.assign(await member(proxy.url, roomId), { proxy });
}

/** Every client has heard every other (subscriptions active, peer-joined events consumed). */
async function linked(...members: TestClient[]): Promise<void> {
  for (const from of members) await awaitLinked(from, ...members.filter((m) => m !== from));
}

async function members(port: number, roomId: string): Promise<ApiMember[]> {
  const res = await api(port, 'GET', `/api/v1/rooms/${roomId}`);
  assert.equal(res.status, 200, res.text);
  return (res.body as { members: ApiMember[] }).members;
}

/** signaling_disconnects_total{cause="removed"}, summed over the cluster's nodes. */
async function removedCount(c: Cluster): Promise<number> {
  let sum = 0;
  for (const port of new Set([c.a.port, c.b.port])) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = /^signaling_disconnects_total\{cause="removed"\} (\d+)$/m.exec(text);
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

function scenarios(name: string, cluster: () => Cluster): void {
  describe(`server API and detached peers (${name})`, { timeout: 60_000 }, () => {
    test('GET marks the detached member "detached": true, only it, and no longer once it resumes', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(a.url, r);
      const z = await member(b.url, r);
      await linked(x, y, z);
      x.proxy.sever();
      await detached(c, r, x.id);
      for (const node of [a, b]) {
        const list = await members(node.port, r);
        assert.deepEqual(list.map((m) => m.peerId).sort(), [x.id, y.id, z.id].sort());
        for (const m of list) {
          if (m.peerId === x.id) assert.equal(m.detached, true);
          else assert.ok(!('detached' in m), `${JSON.stringify(m)} carries no detached`);
        }
      }
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      for (const node of [a, b])
        assert.ok((await members(node.port, r)).every((m) => !('detached' in m)));
    });

    test('DELETE of a detached peer: 204, the others hear one peer-disconnected, its token gives resumed:false', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(a.url, r);
      const z = await member(b.url, r);
      await linked(x, y, z);
      x.proxy.sever();
      await detached(c, r, x.id);
      const removedBefore = await removedCount(c);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(res.status, 204, res.text);
      for (const other of [y, z])
        assert.deepEqual(await other.next(5000), { type: 'peer-disconnected', peerId: x.id });
      await expectSilence(y, 300);
      await expectSilence(z, 1);
      assert.equal((await removedCount(c)) - removedBefore, 1, 'one leave, cause removed, in all');
      await c.noneDetachedOnA();
      for (const node of [a, b])
        assert.deepEqual(
          (await members(node.port, r)).map((m) => m.peerId).sort(),
          [y.id, z.id].sort(),
        );
      const again = await api(a.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(again.status, 404);
      assert.equal(errorCode(again), 'peer_not_found');
      const late = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
    });

    test('DELETE of a room ends its detached sessions and closes its attached members 4001', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(b.url, r);
      await linked(x, y);
      x.proxy.sever();
      await detached(c, r, x.id);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}`);
      assert.equal(res.status, 204, res.text);
      assert.deepEqual(await y.closed, { code: 4001, reason: 'Removed' });
      await eventually(
        async () => (await api(a.port, 'GET', `/api/v1/rooms/${r}`)).status === 404,
        'room gone',
      );
      await c.noneDetachedOnA();
      const late = await member(a.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
    });

    test('DELETE of a room whose only member is detached: 204, not 404; the session is over', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      x.proxy.sever();
      await detached(c, r, x.id);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}`);
      assert.equal(res.status, 204, res.text);
      assert.equal((await api(b.port, 'GET', `/api/v1/rooms/${r}`)).status, 404);
      await c.noneDetachedOnA();
      const late = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.deepEqual(late.welcome.peers, []);
    });

    test('a removed attached peer (4001 "Removed") is never detached: its token gives resumed:false', async () => {
      const { a, b, everDetached } = cluster();
      const r = newRoom();
      const x = await member(a.url, r);
      const y = await member(b.url, r);
      await linked(x, y);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(res.status, 204, res.text);
      assert.deepEqual(await x.closed, { code: 4001, reason: 'Removed' });
      assert.deepEqual(await y.next(5000), { type: 'peer-disconnected', peerId: x.id });
      await eventually(async () => {
        const list = await members(a.port, r);
        return list.length === 1 && list[0]!.peerId === y.id;
      }, 'only y left');
      const late = await member(a.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
      assert.ok(!everDetached(x.id), 'never logged as detached');
    });
  });
}

after(
  async () => {
    for (const c of clients) c.ws.terminate();
    for (const p of proxies) await p.close();
  },
  { timeout: 60_000 },
);

// ---- one server, memory backend ------------------------------------------------------------

let server: TestServer | undefined;
describe('memory backend', { timeout: 60_000 }, () => {
  before(
    async () => {
      server = await startServer({ apiKeys: [API_KEY] });
    },
    { timeout: 60_000 },
  );
  after(() => server?.close(), { timeout: 60_000 });
  scenarios('memory, one server', () => {
    const s = server!;
    const node = { url: s.url, port: s.port };
    const everDetached = (peerId: string) =>
      s.logs.lines.some((l) => l.includes('"msg":"peer detached"') && l.includes(peerId));
    return {
      a: node,
      b: node,
      detachedLog: (peerId) => until(() => everDetached(peerId), 5000, 'peer detached'),
      everDetached,
      noneDetachedOnA: async () => assert.equal(s.server.resume.detachedHere, 0),
    };
  });
});

// ---- two node processes, one real Redis ----------------------------------------------------

let redis: RedisServer | undefined;
let nodeA: NodeProcess | undefined;
let nodeB: NodeProcess | undefined;
describe('redis backend', { timeout: 60_000 }, () => {
  before(
    async () => {
      redis = await RedisServer.start();
      const env = { REDIS_URL: redis.url, API_KEYS: API_KEY };
      await settle([
        NodeProcess.start(env).then((n) => (nodeA = n)),
        NodeProcess.start(env).then((n) => (nodeB = n)),
      ]);
    },
    { timeout: 60_000 },
  );
  after(
    async () => {
      await Promise.all([nodeA?.kill(), nodeB?.kill()]);
      await redis?.stop();
    },
    { timeout: 60_000 },
  );
  scenarios('redis, two node processes', () => {
    const a = nodeA!;
    const b = nodeB!;
    const isDetach = (peerId: string) => (l: { msg: string; peerId?: unknown }) =>
      l.msg === 'peer detached' && l.peerId === peerId;
    return {
      a,
      b,
      detachedLog: (peerId) => a.waitForLog(isDetach(peerId), 10_000, 'peer detached'),
      everDetached: (peerId) => a.hasLog(isDetach(peerId)) || b.hasLog(isDetach(peerId)),
      noneDetachedOnA: () =>
        eventually(async () => (await a.metric('signaling_detached_peers')) === 0, 'A: 0 detached'),
    };
  });
});

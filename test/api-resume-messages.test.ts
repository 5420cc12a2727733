/**
 * API messages (SPEC.md §14, peer id `server`) to a detached peer (SPEC.md §13): directed or
 * broadcast, they are kept in its mailbox and replayed on resume, after the welcome, in order,
 * exactly once; attached members hear a broadcast live, once. On one server with the memory
 * backend and on two node processes sharing one real redis-server (peer detached from A by a
 * severed TCP proxy, the API asked on B, the peer resumed on B).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API_KEY, api } from './helpers/api.js';
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
const newRoom = () => `am-${process.pid}-${++seq}`;

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

async function say(port: number, roomId: string, message: object, to?: string): Promise<void> {
  const body: { message: object; to?: string } = { message };
  if (to !== undefined) body.to = to;
  const res = await api(port, 'POST', `/api/v1/rooms/${roomId}/messages`, { body });
  assert.equal(res.status, 202, res.text);
}

const offer = (n: number) => ({ type: 'offer', sdp: `v=${n}` });
const fromServer = (n: number) => ({ ...offer(n), from: 'server' });

function scenarios(name: string, cluster: () => Cluster): void {
  describe(`API messages to a detached peer (${name})`, { timeout: 60_000 }, () => {
    test('directed and broadcast API messages are replayed after the welcome, in order, exactly once', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(a.url, r);
      const z = await member(b.url, r);
      await linked(x, y, z);
      x.proxy.sever();
      await detached(c, r, x.id);
      await say(b.port, r, offer(1), x.id);
      await say(b.port, r, offer(2));
      await say(b.port, r, offer(3), x.id);
      for (const other of [y, z]) assert.deepEqual(await other.next(5000), fromServer(2));
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.equal(back.id, x.id);
      for (const n of [1, 2, 3]) assert.deepEqual(await back.next(5000), fromServer(n));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
      await expectSilence(z, 1);
    });

    test('a directed API message is kept when the asked node holds nothing of the room', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(a.url, r);
      await linked(x, y);
      x.proxy.sever();
      await detached(c, r, x.id);
      await say(b.port, r, offer(7), x.id);
      await say(b.port, r, offer(8));
      assert.deepEqual(await y.next(5000), fromServer(8));
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.deepEqual(await back.next(5000), fromServer(7));
      assert.deepEqual(await back.next(5000), fromServer(8));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
    });

    test('after the resume, API messages reach the resumed peer live, once', async () => {
      const c = cluster();
      const { a, b } = c;
      const r = newRoom();
      const x = await cuttable(a, r);
      const y = await member(a.url, r);
      await linked(x, y);
      x.proxy.sever();
      await detached(c, r, x.id);
      await say(a.port, r, offer(4), x.id);
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.deepEqual(await back.next(5000), fromServer(4));
      await c.noneDetachedOnA();
      await say(a.port, r, offer(5), x.id);
      assert.deepEqual(await back.next(5000), fromServer(5));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
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

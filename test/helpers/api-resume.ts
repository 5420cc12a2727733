/**
 * Fixtures shared by the tests where the server API (SPEC.md §14) meets resume (SPEC.md §13):
 * v2 members (optionally behind a TCP proxy the test can sever without a close frame), and the
 * two clusters every scenario runs on: one server with the memory backend, and two node
 * processes sharing one real redis-server (A holds the peer that is detached, B answers the API).
 */
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { API_KEY, api } from './api.js';
import { NodeProcess, awaitLinked, eventually } from './node-process.js';
import { RedisServer } from './redis.js';
import { connect, settle, startServer, until, type TestClient, type TestServer } from './server.js';
import { TcpProxy } from './tcp-proxy.js';

export interface WelcomePayload {
  peerId: string;
  peers: string[];
  resumeToken?: string;
  resumed?: boolean;
}
export type Member = TestClient & { id: string; welcome: WelcomePayload };

export interface ApiMember {
  peerId: string;
  detached?: unknown;
}

/** A node as the scenarios see it: where clients connect and where the API is asked. */
export interface Node {
  url: string;
  port: number;
}

/** One cluster under test: A holds the peer that is detached, B answers the API. */
export interface Cluster {
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
export async function detached(c: Cluster, roomId: string, peerId: string): Promise<void> {
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

/** A fresh room id, unique in this process. */
export const newRoom = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;

export async function member(url: string, roomId: string, resume?: string): Promise<Member> {
  const query = resume === undefined ? undefined : `resume=${encodeURIComponent(resume)}`;
  const c = await connect(url, { roomId, v: 2, query });
  clients.push(c);
  const w = (await c.next(10_000)) as { action: string; payload: WelcomePayload };
  assert.equal(w.action, 'welcome', JSON.stringify(w));
  return Object.assign(c, { id: w.payload.peerId, welcome: w.payload });
}

/** A member of roomId on `node` through a TCP proxy, so the test can cut it without a close. */
export async function cuttable(node: Node, roomId: string): Promise<Member & { proxy: TcpProxy }> {
  const proxy = await TcpProxy.start(node.port);
  proxies.push(proxy);
  return Object.assign(await member(proxy.url, roomId), { proxy });
}

/** Every client has heard every other (subscriptions active, peer-joined events consumed). */
export async function linked(...members: TestClient[]): Promise<void> {
  for (const from of members) await awaitLinked(from, ...members.filter((m) => m !== from));
}

/**
 * Run `scenarios` on both clusters: one server with the memory backend (A and B are the same
 * server), and two node processes with the API on, sharing one real redis-server. Also closes
 * every client and proxy the file made, after its tests.
 */
export function onBothBackends(scenarios: (name: string, cluster: () => Cluster) => void): void {
  after(
    async () => {
      for (const c of clients) c.ws.terminate();
      for (const p of proxies) await p.close();
    },
    { timeout: 60_000 },
  );

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
          eventually(
            async () => (await a.metric('signaling_detached_peers')) === 0,
            'A: 0 detached',
          ),
      };
    });
  });
}

/**
 * The common start of a scenario: a new room with x on A behind a cuttable proxy and one member
 * on each node of `others`, all linked; then x's connection is cut (no close frame) and the
 * test waits until A has detached it.
 */
export async function withDetached<const N extends readonly Node[]>(
  c: Cluster,
  prefix: string,
  others: N,
): Promise<{
  r: string;
  x: Member & { proxy: TcpProxy };
  others: { -readonly [K in keyof N]: Member };
}> {
  const r = newRoom(prefix);
  const x = await cuttable(c.a, r);
  const rest: Member[] = [];
  for (const node of others) rest.push(await member(node.url, r));
  await linked(x, ...rest);
  x.proxy.sever();
  await detached(c, r, x.id);
  return { r, x, others: rest as { -readonly [K in keyof N]: Member } };
}

/**
 * SPEC.md §13 across nodes, with real node processes and one real Redis: a peer cut on one node
 * (TCP proxy, no close frame) resumes on another with exactly the messages of the gap; a rolling
 * restart (SIGTERM) loses no client its place or a message; a session whose node has exited
 * still ends, announced once by a survivor; Redis killed during a window leaves no ghost.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { NodeProcess, awaitLinked } from './helpers/node-process.js';
import { RedisServer } from './helpers/redis.js';
import { connect, expectSilence, until, type TestClient } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

interface WelcomePayload {
  peerId: string;
  peers: string[];
  resumeToken?: string;
  resumed?: boolean;
}
type Member = TestClient & { id: string; welcome: WelcomePayload };

let redis: RedisServer;
const nodes: NodeProcess[] = [];
const clients: TestClient[] = [];
const proxies: TcpProxy[] = [];
let seq = 0;
const room = () => `rc-${process.pid}-${++seq}`;

before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    for (const c of clients) c.ws.terminate();
    for (const p of proxies) await p.close();
    await Promise.all(nodes.map((n) => n.kill()));
    await redis.stop();
  },
  { timeout: 60_000 },
);

async function node(env: Record<string, string> = {}): Promise<NodeProcess> {
  const n = await NodeProcess.start({ REDIS_URL: redis.url, NODE_LEASE_MS: '1000', ...env });
  nodes.push(n);
  return n;
}

async function member(url: string, roomId: string, resume?: string): Promise<Member> {
  const query = resume === undefined ? undefined : `resume=${encodeURIComponent(resume)}`;
  const c = await connect(url, { roomId, v: 2, query });
  clients.push(c);
  const w = (await c.next(10_000)) as { action: string; payload: WelcomePayload };
  assert.equal(w.action, 'welcome', JSON.stringify(w));
  return Object.assign(c, { id: w.payload.peerId, welcome: w.payload });
}

const detachedOn = (n: NodeProcess, peerId: string) =>
  n.waitForLog((l) => l.msg === 'peer detached' && l.peerId === peerId, 10_000, 'peer detached');

test('cut on node A, resumed on node B: same id, exactly the N messages of the gap in order, nobody sees a leave', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  const proxy = await TcpProxy.start(a.port);
  proxies.push(proxy);
  const r = room();
  const p = await member(proxy.url, r);
  const q = await member(b.url, r);
  await awaitLinked(q, p);
  await awaitLinked(p, q);
  proxy.sever();
  await detachedOn(a, p.id);
  const N = 60;
  for (let i = 0; i < N; i++) {
    const m = { type: 'control', action: 'gap', payload: i };
    q.send(i % 3 === 0 ? { ...m, to: p.id } : m);
  }
  const started = Date.now();
  const p2 = await member(b.url, r, p.welcome.resumeToken);
  const resumeMs = Date.now() - started;
  assert.equal(p2.welcome.resumed, true);
  assert.equal(p2.id, p.id);
  assert.deepEqual(p2.welcome.peers, [q.id]);
  for (let i = 0; i < N; i++) {
    const m = (await p2.next(5000)) as { action: string; payload: number; from: string };
    assert.deepEqual([m.action, m.payload, m.from], ['gap', i, q.id], `message ${i}`);
  }
  q.send({ type: 'control', action: 'live' });
  assert.equal(((await p2.next(5000)) as { action: string }).action, 'live');
  p2.send({ type: 'control', action: 'back' });
  assert.equal(((await q.next(5000)) as { action: string }).action, 'back');
  await expectSilence(q, 200);
  await expectSilence(p2, 1);
  await b.waitForLog((l) => l.msg === 'peer resumed' && l.peerId === p.id);
  console.log(`# resume round trip (connect to welcome, ${N} kept): ${resumeMs} ms`);
});

test('a resume on node B while the old connection still looks open on node A (half-open) takes it over', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  const r = room();
  const p = await member(a.url, r); // stays open: A has not noticed anything
  const q = await member(b.url, r);
  await awaitLinked(q, p);
  const p2 = await member(b.url, r, p.welcome.resumeToken);
  assert.equal(p2.welcome.resumed, true);
  assert.equal(p2.id, p.id);
  assert.equal((await p.closed).code, 1006, 'node A dropped the old connection');
  await a.waitForLog((l) => l.msg === 'peer detached' && l.cause === 'takeover');
  q.send({ type: 'control', action: 'after-takeover' });
  assert.equal(((await p2.next(5000)) as { action: string }).action, 'after-takeover');
  await expectSilence(q, 200);
});

test('a forged token naming an attached peer of another node is a normal join; that peer is untouched', async () => {
  const [a, b] = await Promise.all([node(), node()]);
  const r = room();
  const p = await member(a.url, r);
  const q = await member(b.url, r);
  await awaitLinked(q, p);
  const forged = await member(b.url, r, `${'A'.repeat(24)}.${p.id}`);
  assert.equal(forged.welcome.resumed, false);
  assert.notEqual(forged.id, p.id);
  q.send({ type: 'control', action: 'still-there' });
  assert.deepEqual(await p.next(5000), {
    type: 'control',
    action: 'peer-joined',
    payload: { peerId: forged.id },
  });
  assert.equal(((await p.next(5000)) as { action: string }).action, 'still-there');
});

test('rolling restart: SIGTERM node A with traffic flowing; every client resumes on B or C, 0 lost, 0 duplicated, 0 peer-disconnected; A exits 0', async () => {
  const [a, b, c] = await Promise.all([node(), node(), node()]);
  const r = room();
  const movers: Member[] = [];
  for (let i = 0; i < 6; i++) movers.push(await member(a.url, r));
  const talker = await member(b.url, r);
  const watcher = await member(c.url, r);
  await awaitLinked(talker, ...movers, watcher);
  await awaitLinked(watcher, talker);
  // Everything each client receives, across its connections.
  const received = new Map<Member, unknown[]>();
  const drain = (from: TestClient, into: unknown[]) =>
    from.ws.on('message', (d) => into.push(JSON.parse(d.toString())));
  for (const m of movers) received.set(m, m.takeAll());
  const seen: unknown[] = [];
  for (const m of movers) drain(m, received.get(m)!);
  drain(watcher, seen);
  const talkerSeen: unknown[] = [];
  drain(talker, talkerSeen);

  let sent = 0;
  let stop = false;
  const pump = (async () => {
    while (!stop) {
      talker.send({ type: 'control', action: 'tick', payload: sent++ });
      await new Promise((res) => setTimeout(res, 2));
    }
  })();
  await until(() => sent > 50, 10_000, 'traffic flowing');
  const closes = movers.map((m) => m.closed);
  await a.kill('SIGTERM');
  const codes = await Promise.all(closes);
  for (const code of codes) assert.deepEqual(code, { code: 1001, reason: 'Going away' });
  const resumed = await Promise.all(
    movers.map((m, i) => member((i % 2 === 0 ? b : c).url, r, m.welcome.resumeToken)),
  );
  for (const [i, m] of resumed.entries()) {
    assert.equal(m.welcome.resumed, true, `client ${i} resumed`);
    assert.equal(m.id, movers[i]!.id);
    received.get(movers[i]!)!.push(...m.takeAll());
    drain(m, received.get(movers[i]!)!);
  }
  await until(() => sent > 300, 20_000, 'traffic after the restart');
  stop = true;
  await pump;
  talker.send({ type: 'control', action: 'end' });
  for (const m of movers)
    await until(
      () => received.get(m)!.some((x) => (x as { action?: string }).action === 'end'),
      10_000,
      'end marker',
    );
  assert.equal((await a.exit).code, 0);
  for (const [i, m] of movers.entries()) {
    const ticks = received
      .get(m)!
      .filter((x) => (x as { action?: string }).action === 'tick')
      .map((x) => (x as { payload: number }).payload);
    const firstTick = ticks[0] ?? 0;
    assert.deepEqual(
      ticks,
      Array.from({ length: sent - firstTick }, (_, k) => firstTick + k),
      `client ${i}: every tick once, in order (${ticks.length} of ${sent})`,
    );
    for (const x of received.get(m)!)
      assert.notEqual((x as { type?: string }).type, 'peer-disconnected', `client ${i}`);
  }
  for (const x of [...seen, ...talkerSeen])
    assert.notEqual((x as { type?: string }).type, 'peer-disconnected');
});

test("a drained node's detached peer that never returns is announced once, by a surviving node, after the window", async () => {
  const windowMs = 1500;
  const env = { RESUME_WINDOW_MS: String(windowMs) };
  const [a, b, c] = await Promise.all([node(env), node(env), node(env)]);
  const r = room();
  const gone = await member(a.url, r);
  const x = await member(b.url, r);
  const y = await member(c.url, r);
  await awaitLinked(x, gone, y);
  await awaitLinked(y, x);
  const t0 = Date.now();
  await a.kill('SIGTERM');
  assert.equal((await a.exit).code, 0);
  for (const w of [x, y]) {
    assert.deepEqual(await w.next(10_000), { type: 'peer-disconnected', peerId: gone.id });
    assert.ok(Date.now() - t0 >= windowMs - 100, `after the window: ${Date.now() - t0} ms`);
  }
  await expectSilence(x, 500);
  await expectSilence(y, 1);
});

test('Redis killed during a detached window: no crash; the others get one peer-disconnected within window + lease; the token then gives resumed:false', async () => {
  const own = await RedisServer.start();
  try {
    const env = { REDIS_URL: own.url, RESUME_WINDOW_MS: '1500', CB_OPEN_MS: '500' };
    const [a, b] = await Promise.all([node(env), node(env)]);
    const proxy = await TcpProxy.start(a.port);
    proxies.push(proxy);
    const r = room();
    const p = await member(proxy.url, r);
    const q = await member(b.url, r);
    await awaitLinked(q, p);
    proxy.sever();
    await detachedOn(a, p.id);
    const t0 = Date.now();
    await own.kill();
    await until(() => Date.now() - t0 > 300, 2000, 'redis down a while');
    await own.restart(); // empty: the session is gone with the data
    assert.deepEqual(await q.next(15_000), { type: 'peer-disconnected', peerId: p.id });
    const bound = 1500 + 1000 + 2000; // window + lease + sweep slack
    assert.ok(Date.now() - t0 <= bound + 3000, `within the bound: ${Date.now() - t0} ms`);
    await expectSilence(q, 500);
    await until(async () => (await b.get('/readyz')).status === 200, 15_000, 'b ready again');
    const late = await member(b.url, r, p.welcome.resumeToken);
    assert.equal(late.welcome.resumed, false);
    assert.equal(a.proc.exitCode, null, 'node a still running');
    assert.equal(b.proc.exitCode, null, 'node b still running');
  } finally {
    await own.stop();
  }
});

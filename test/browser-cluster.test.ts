/**
 * End-to-end in real headless Chromium across two server nodes sharing one real Redis
 * (scenarios 3 and 4 of issue 5): pages on different nodes open a data channel, and a page whose
 * node stops fails over to the other node: it resumes there (SPEC.md §13, the connection kept),
 * or with resume off, renegotiates.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  launchChromium,
  openDemo,
  peerIdOf,
  sendChat,
  startDemoServer,
  waitForChannels,
  waitForChat,
} from './helpers/browser.js';
import { RedisServer } from './helpers/redis.js';
import { until, type TestServer } from './helpers/server.js';

type DemoServer = TestServer & { httpUrl: string };
let browser: Browser;
let redis: RedisServer;
const nodes = new Set<DemoServer>();

// One at a time, each assigned as soon as it exists, so that when one fails (chromium not
// installed: one line, at once) `after` still stops the other and the file ends.
before(
  async () => {
    browser = await launchChromium();
    redis = await RedisServer.start();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await browser?.close();
    await Promise.all([...nodes].map((n) => n.close()));
    await redis?.stop();
  },
  { timeout: 30_000 },
);

async function node(overrides: { resumeWindowMs?: number } = {}): Promise<DemoServer> {
  const n = await startDemoServer({ redisUrl: redis.url, ...overrides });
  assert.equal(n.server.backend.kind, 'redis');
  nodes.add(n);
  return n;
}

const localPeers = (n: DemoServer, room: string) => n.server.hub.get(room)?.peers.size ?? 0;

test(
  'two pages on different nodes open a data channel through Redis',
  { timeout: 45_000 },
  async () => {
    const [a, b] = await Promise.all([node(), node()]);
    const p1 = await openDemo(browser, a.httpUrl, { room: 'cluster-two' });
    const p2 = await openDemo(browser, b.httpUrl, { room: 'cluster-two' });
    await Promise.all([waitForChannels(p1, 1), waitForChannels(p2, 1)]);
    // each page is on its own node: the offer/answer/candidates crossed Redis
    assert.equal(localPeers(a, 'cluster-two'), 1);
    assert.equal(localPeers(b, 'cluster-two'), 1);
    const [id1, id2] = await Promise.all([peerIdOf(p1), peerIdOf(p2)]);
    await sendChat(p1, 'from node A');
    assert.equal(await waitForChat(p2, 'from node A'), id1);
    await sendChat(p2, 'from node B');
    assert.equal(await waitForChat(p1, 'from node B'), id2);
    assert.deepEqual([...p1.errors, ...p2.errors], []);
    await Promise.all([p1.page.context().close(), p2.page.context().close()]);
  },
);

test(
  'a page whose node stops resumes on the other node: same id, the data channel stays open, nothing renegotiated',
  { timeout: 60_000 },
  async () => {
    const [a, b] = await Promise.all([node(), node()]);
    const room = 'cluster-resume';
    const p1 = await openDemo(browser, a.httpUrl, { room, server: `${a.url},${b.url}` });
    const p2 = await openDemo(browser, b.httpUrl, { room, server: b.url });
    await Promise.all([waitForChannels(p1, 1), waitForChannels(p2, 1)]);
    const [id1, id2] = await Promise.all([peerIdOf(p1), peerIdOf(p2)]);
    const pcs = () => p2.page.evaluate(() => [...window.demo!.mesh!.peers.keys()]);
    assert.deepEqual(await pcs(), [id1]);

    // Stop node A (a rolling restart's step): p1 is closed 1001, detached, resumes on B.
    await a.close();
    nodes.delete(a);
    await p1.page.waitForFunction(() => window.demo?.resumes === 1, null, { timeout: 15_000 });
    await until(() => localPeers(b, room) === 2, 10_000, 'both pages on node B');
    assert.equal(await peerIdOf(p1), id1, 'same peer id');
    const counts = await p1.page.evaluate(() => ({
      welcomes: window.demo!.welcomes,
      open: window.demo!.openChannels(),
    }));
    assert.deepEqual(counts, { welcomes: 1, open: 1 });
    assert.deepEqual(await pcs(), [id1], 'p2 kept its connection to p1');
    await sendChat(p1, 'after the restart');
    assert.equal(await waitForChat(p2, 'after the restart'), id1);
    await sendChat(p2, 'still here');
    assert.equal(await waitForChat(p1, 'still here'), id2);
    assert.deepEqual([...p1.errors, ...p2.errors], []);
    await Promise.all([p1.page.context().close(), p2.page.context().close()]);
  },
);

test(
  'with resume off, a page whose node stops reconnects to the other node and renegotiates',
  { timeout: 60_000 },
  async () => {
    const [a, b] = await Promise.all([node({ resumeWindowMs: 0 }), node({ resumeWindowMs: 0 })]);
    const room = 'cluster-failover';
    // p1 lists both nodes (A first); p2 only knows B.
    const p1 = await openDemo(browser, a.httpUrl, { room, server: `${a.url},${b.url}` });
    const p2 = await openDemo(browser, b.httpUrl, { room, server: b.url });
    await Promise.all([waitForChannels(p1, 1), waitForChannels(p2, 1)]);
    assert.equal(localPeers(a, room), 1);
    const oldId = await peerIdOf(p1);
    await sendChat(p1, 'before failover');
    assert.equal(await waitForChat(p2, 'before failover'), oldId);

    // Stop node A: p1 is closed with 1001 "Going away" and retries on the next URL, B.
    await a.close();
    nodes.delete(a);
    await p1.page.waitForFunction(() => window.demo?.welcomes === 2, null, { timeout: 15_000 });
    const newId = await peerIdOf(p1);
    assert.notEqual(newId, oldId);
    await until(() => localPeers(b, room) === 2, 10_000, 'both pages on node B');

    // A fresh peer connection, negotiated again through the surviving node.
    await Promise.all([waitForChannels(p1, 1), waitForChannels(p2, 1)]);
    const p2Channels = await p2.page.evaluate(() => [...window.demo!.channels.keys()]);
    assert.deepEqual(p2Channels, [newId], 'p2 dropped the old peer and connected to the new one');
    await sendChat(p1, 'after failover');
    assert.equal(await waitForChat(p2, 'after failover'), newId);
    await sendChat(p2, 'welcome back');
    assert.equal(await waitForChat(p1, 'welcome back'), await peerIdOf(p2));
    assert.deepEqual([...p1.errors, ...p2.errors], []);
    await Promise.all([p1.page.context().close(), p2.page.context().close()]);
  },
);

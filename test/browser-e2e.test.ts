/**
 * End-to-end in real headless Chromium: demo pages (examples/) signal through a real server
 * and must end up with working RTCDataChannels. Scenarios 1 and 2 of issue 5 (one node).
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
  type DemoPage,
} from './helpers/browser.js';
import type { TestServer } from './helpers/server.js';

let browser: Browser;
let s: TestServer & { httpUrl: string };
before(async () => {
  [browser, s] = await Promise.all([launchChromium(), startDemoServer()]);
});
after(async () => {
  await browser?.close();
  await s?.close();
});

async function forwarded(): Promise<number> {
  const metric = await s.server.metrics.registry
    .getSingleMetric('signaling_messages_forwarded_total')
    ?.get();
  return metric?.values[0]?.value ?? 0;
}

test(
  'two pages in one room open an RTCDataChannel through the server and chat',
  { timeout: 45_000 },
  async () => {
    const before = await forwarded();
    const a = await openDemo(browser, s.httpUrl, { room: 'e2e-two' });
    const b = await openDemo(browser, s.httpUrl, { room: 'e2e-two' });
    await Promise.all([waitForChannels(a, 1), waitForChannels(b, 1)]);
    const [idA, idB] = await Promise.all([peerIdOf(a), peerIdOf(b)]);

    await sendChat(a, 'hello from A');
    assert.equal(await waitForChat(b, 'hello from A'), idA);
    await sendChat(b, 'hello from B');
    assert.equal(await waitForChat(a, 'hello from B'), idB);
    // The offer/answer/candidates went through the server; the chat text did not.
    assert.ok((await forwarded()) - before >= 2, 'signaling was forwarded by the server');
    assert.deepEqual([...a.errors, ...b.errors], []);
    await Promise.all([a.page.context().close(), b.page.context().close()]);
  },
);

test('three pages form a full mesh with directed v2 messages', { timeout: 60_000 }, async () => {
  const pages: DemoPage[] = [];
  for (let i = 0; i < 3; i++) pages.push(await openDemo(browser, s.httpUrl, { room: 'e2e-mesh' }));
  await Promise.all(pages.map((p) => waitForChannels(p, 2, 20_000)));
  const ids = await Promise.all(pages.map(peerIdOf));
  assert.equal(new Set(ids).size, 3);

  for (let i = 0; i < 3; i++) await sendChat(pages[i]!, `mesh hello ${i}`);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      // page j got page i's text over the i–j channel, stamped with i's id
      assert.equal(await waitForChat(pages[j]!, `mesh hello ${i}`), ids[i]);
    }
    // and nobody echoes a page's own text back to it
    const own = await pages[i]!.page.evaluate(
      (t) => window.demo!.received.filter((r) => r.text === t).length,
      `mesh hello ${i}`,
    );
    assert.equal(own, 0);
  }
  // every page's channels are to exactly the other two peers
  for (let i = 0; i < 3; i++) {
    const peers = await pages[i]!.page.evaluate(() => [...window.demo!.channels.keys()].sort());
    assert.deepEqual(peers, ids.filter((_, j) => j !== i).sort());
  }
  assert.deepEqual(
    pages.flatMap((p) => p.errors),
    [],
  );
  await Promise.all(pages.map((p) => p.page.context().close()));
});

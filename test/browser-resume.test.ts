/**
 * SPEC.md §13 in real headless Chromium: two demo pages with an open data channel; one page's
 * signaling socket is cut (TCP proxy, no close frame) and comes back. The session resumes: the
 * data channel stays open, no RTCPeerConnection is created, and a signaling message sent to
 * the page during the gap arrives after the resume.
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
import { until, type TestServer } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

let browser: Browser;
let s: TestServer & { httpUrl: string };
let proxy: TcpProxy;
before(
  async () => {
    [browser, s] = await Promise.all([launchChromium(), startDemoServer()]);
    proxy = await TcpProxy.start(s.port);
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await browser?.close();
    await proxy?.close();
    await s?.close();
  },
  { timeout: 60_000 },
);

async function forwarded(): Promise<number> {
  const metric = await s.server.metrics.registry
    .getSingleMetric('signaling_messages_forwarded_total')
    ?.get();
  return metric?.values[0]?.value ?? 0;
}

test(
  'a cut signaling socket resumes: the data channel stays open, no new RTCPeerConnection, a message of the gap arrives',
  { timeout: 60_000 },
  async () => {
    const a = await openDemo(browser, s.httpUrl, { room: 'e2e-resume', server: proxy.url });
    const b = await openDemo(browser, s.httpUrl, { room: 'e2e-resume' });
    await Promise.all([waitForChannels(a, 1), waitForChannels(b, 1)]);
    const [idA, idB] = await Promise.all([peerIdOf(a), peerIdOf(b)]);
    // From here on: count new connections, record signaling control messages and channel closes.
    for (const p of [a, b])
      await p.page.evaluate(() => {
        const w = window as unknown as { pcs: number; got: string[]; dcClosed: number };
        w.pcs = 0;
        w.got = [];
        w.dcClosed = 0;
        (window.demo!.client as unknown as { on(e: string, f: (x: unknown) => void): void }).on(
          'message',
          (m) => {
            const msg = m as { type: string; action?: string };
            if (msg.type === 'control') w.got.push(msg.action!);
          },
        );
        (window.demo!.mesh as unknown as { on(e: string, f: () => void): void }).on(
          'peer',
          () => w.pcs++,
        );
        for (const dc of window.demo!.channels.values())
          dc.addEventListener('close', () => w.dcClosed++);
      });

    proxy.down = true;
    proxy.sever();
    await until(() => s.server.resume.detachedHere === 1, 10_000, 'a detached');
    const before = await forwarded();
    await b.page.evaluate(
      (to) =>
        (window.demo!.client as unknown as { send(m: unknown): boolean }).send({
          type: 'control',
          action: 'during-gap',
          to,
        }),
      idA,
    );
    // The server has taken the message (kept for a) before the network comes back.
    await until(async () => (await forwarded()) > before, 5000, 'message forwarded');
    assert.equal(s.server.resume.detachedHere, 1, 'a still detached');
    proxy.down = false;
    await a.page.waitForFunction(() => window.demo!.resumes === 1, undefined, { timeout: 20_000 });
    await a.page.waitForFunction(
      () => (window as unknown as { got: string[] }).got.includes('during-gap'),
      undefined,
      { timeout: 10_000 },
    );
    assert.equal(await peerIdOf(a), idA, 'same peer id');
    for (const p of [a, b]) {
      const state = await p.page.evaluate(() => ({
        pcs: (window as unknown as { pcs: number }).pcs,
        dcClosed: (window as unknown as { dcClosed: number }).dcClosed,
        open: window.demo!.openChannels(),
        welcomes: window.demo!.welcomes,
      }));
      assert.deepEqual(state, { pcs: 0, dcClosed: 0, open: 1, welcomes: 1 });
    }
    // The kept data channel still carries data both ways.
    await sendChat(a, 'after the blip from A');
    assert.equal(await waitForChat(b, 'after the blip from A'), idA);
    await sendChat(b, 'after the blip from B');
    assert.equal(await waitForChat(a, 'after the blip from B'), idB);
    // The only errors: Chromium's report of the reconnect attempts the proxy refused while down.
    const refused = (e: string) =>
      e.includes(`127.0.0.1:${proxy.port}/`) && e.includes('ERR_CONNECTION_RESET');
    assert.deepEqual([...a.errors.filter((e) => !refused(e)), ...b.errors], []);
  },
);

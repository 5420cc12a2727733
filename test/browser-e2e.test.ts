/**
 * End-to-end in real headless Chromium: demo pages (examples/) signal through a real server
 * and must end up with working RTCDataChannels. Scenarios 1 and 2 of issue 5 (one node).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type * as Sdk from '../client/index.js';
import { observedJwtAuth } from './helpers/auth-spy.js';
import { SECRET, signHs } from './helpers/jwt.js';
import {
  launchChromium,
  newSdkContext,
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
// One at a time, each assigned as soon as it exists, so that when one fails (chromium not
// installed: one line, at once) `after` still closes the other and the file ends.
before(
  async () => {
    browser = await launchChromium();
    s = await startDemoServer();
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await browser?.close();
    await s?.close();
  },
  { timeout: 30_000 },
);

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

test(
  'glare: simultaneous offers resolve the polite/impolite way',
  { timeout: 45_000 },
  async () => {
    const context = await newSdkContext(browser);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${s.httpUrl}/demo/`); // loads the bundle; no autojoin
    const result = await page.evaluate(async (url) => {
      const { connect, PeerMesh } = (window as unknown as { Switchboard: typeof Sdk }).Switchboard;
      const glare: string[] = [];
      const make = async () => {
        const client = connect({ url, roomId: 'e2e-glare' });
        const mesh = new PeerMesh(client, {
          setup: (p) => void p.pc.createDataChannel('chat', { negotiated: true, id: 0 }),
        });
        mesh.on('glare', (_id, how) => glare.push(how));
        await client.ready;
        return { client, mesh };
      };
      const a = await make();
      const b = await make();
      // The mesh's one peer connection, once connected (events, not polling).
      const pcOf = (m: InstanceType<typeof PeerMesh>) =>
        new Promise<RTCPeerConnection>((resolve) => {
          const watch = (peer: Sdk.RemotePeer) => {
            const check = () => {
              if (peer.pc.connectionState !== 'connected') return;
              peer.pc.removeEventListener('connectionstatechange', check);
              resolve(peer.pc);
            };
            peer.pc.addEventListener('connectionstatechange', check);
            check();
          };
          const existing = [...m.peers.values()][0];
          if (existing) watch(existing);
          else m.once('peer', watch);
        });
      const [pa, pb] = await Promise.all([pcOf(a.mesh), pcOf(b.mesh)]);
      // Nothing of the first negotiation may still be in flight, or a late candidate in one
      // side's operations chain delays its negotiationneeded past the other's offer (no glare).
      // Gathering complete on both sides: no candidate will be sent any more ...
      const gathered = (pc: RTCPeerConnection) =>
        new Promise<void>((resolve) => {
          const check = () => {
            if (pc.iceGatheringState !== 'complete') return;
            pc.removeEventListener('icegatheringstatechange', check);
            resolve();
          };
          pc.addEventListener('icegatheringstatechange', check);
          check();
        });
      await Promise.all([gathered(pa), gathered(pb)]);
      // ... and a message each way through the server after them: every candidate sent has
      // been received and handed to its connection.
      const roundTrip = (from: Sdk.SignalingClient, to: Sdk.SignalingClient) =>
        new Promise<void>((resolve) => {
          const onMessage = (m: Sdk.ReceivedMessage) => {
            if (m.type !== 'control' || m.action !== 'sync') return;
            to.off('message', onMessage);
            resolve();
          };
          to.on('message', onMessage);
          from.send({ type: 'control', action: 'sync', to: to.peerId! });
        });
      await Promise.all([roundTrip(a.client, b.client), roundTrip(b.client, a.client)]);
      glare.length = 0;
      // Renegotiate on both sides in the same task: both make an offer before either arrives.
      pa.addTransceiver('audio');
      pb.addTransceiver('audio');
      // Both renegotiations done: stable, with both transceivers negotiated. Every step that
      // assigns a mid also changes the signaling state, so checking at each change suffices.
      const settled = (pc: RTCPeerConnection) =>
        new Promise<void>((resolve) => {
          const check = () => {
            const mids = pc.getTransceivers().filter((t) => t.mid !== null).length;
            if (pc.signalingState !== 'stable' || mids !== 2) return;
            pc.removeEventListener('signalingstatechange', check);
            resolve();
          };
          pc.addEventListener('signalingstatechange', check);
          check();
        });
      await Promise.all([settled(pa), settled(pb)]);
      const out = {
        glare: [...glare].sort(),
        transceivers: [pa.getTransceivers().length, pb.getTransceivers().length],
        state: [pa.connectionState, pb.connectionState],
      };
      a.client.close();
      b.client.close();
      return out;
    }, s.url);
    // Exactly one of each: the impolite side ignored the offer, the polite side rolled back.
    assert.deepEqual(result.glare, ['ignored', 'rolled-back']);
    // Both added transceivers were negotiated (each side's own, plus the other's).
    assert.deepEqual(result.transceivers, [2, 2]);
    assert.deepEqual(result.state, ['connected', 'connected']);
    assert.deepEqual(errors, []);
    await context.close();
  },
);

test('camera: a fake-device video track reaches the other page', { timeout: 45_000 }, async () => {
  const media = await launchChromium(true);
  try {
    const a = await openDemo(media, s.httpUrl, { room: 'e2e-camera', camera: '1' });
    const b = await openDemo(media, s.httpUrl, { room: 'e2e-camera', camera: '1' });
    await Promise.all([waitForChannels(a, 1), waitForChannels(b, 1)]);
    const idA = await peerIdOf(a);
    // b plays a's camera: frames decoded means media flowed over the negotiated connection
    await b.page.waitForFunction(
      (id) => {
        const v = document.getElementById(`video-${id}`) as HTMLVideoElement | null;
        return v !== null && v.videoWidth > 0 && v.currentTime > 0;
      },
      idA,
      { timeout: 15_000, polling: 100 },
    );
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await media.close();
  }
});

test(
  'Chromium sends the token as an access_token.* subprotocol entry (real JWT auth)',
  { timeout: 30_000 },
  async () => {
    const { auth, seen } = observedJwtAuth({ jwtSecret: SECRET });
    const authed = await startDemoServer({ enableAuth: true, jwtSecret: SECRET }, { auth });
    const good = await signHs({ rooms: ['e2e-token'] });
    const context = await newSdkContext(browser);
    try {
      const page = await context.newPage();
      await page.goto(`${authed.httpUrl}/demo/`);
      const result = await page.evaluate(
        async ({ url, token }) => {
          const { connect } = (window as unknown as { Switchboard: typeof Sdk }).Switchboard;
          const run = (t: string) =>
            new Promise((resolve) => {
              const c = connect({
                url,
                roomId: 'e2e-token',
                token: t,
                tokenTransport: 'subprotocol',
              });
              c.on('welcome', (w) => {
                resolve(`welcome ${w.roomId}`);
                c.close();
              });
              c.on('close', (i) => resolve(`close ${i.code} ${i.reason} ${i.willRetry}`));
            });
          return [await run(token), await run('not.a.jwt')];
        },
        { url: authed.url, token: good },
      );
      assert.deepEqual(result, ['welcome e2e-token', 'close 1008 Unauthorized false']);
      assert.deepEqual(seen, [
        { query: false, protocols: ['switchboard', `access_token.${good}`] },
        { query: false, protocols: ['switchboard', 'access_token.not.a.jwt'] },
      ]);
    } finally {
      await context.close();
      await authed.close();
    }
  },
);

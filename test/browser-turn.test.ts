/**
 * SPEC.md §12 end to end: real Chromium pages signal through Switchboard and connect with
 * `iceTransportPolicy: 'relay'`, so the only way their media and data can flow is through a real
 * coturn, with the TURN credentials Switchboard handed out in the v2 welcome.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type * as Sdk from '../client/index.js';
import {
  LOOPBACK_ICE_ARGS,
  launchChromium,
  newSdkContext,
  startDemoServer,
} from './helpers/browser.js';
import { startCoturn, type Coturn } from './helpers/coturn.js';
import { settle, type TestServer } from './helpers/server.js';

const TURN_SECRET = 'browser-turn-secret-0123456789abcdef';

type DemoServer = TestServer & { httpUrl: string };

/** What startPeer() keeps on window.t (read by the test through page.evaluate). */
interface PeerState {
  client: Sdk.SignalingClient;
  pc: RTCPeerConnection | undefined;
  dc: RTCDataChannel | undefined;
  /** performance.now() (ms since this page's navigation started) when the channel opened. */
  dcOpenAt: number | undefined;
  received: string[];
  candidateErrors: { code: number; url: string }[];
  iceStates: string[];
  applied: string[];
  /** Date.now() when the first restart for fresh credentials was made. */
  restartedAt: number | undefined;
  errors: string[];
}

/** Runs in the page: join `roomId` with a relay-only PeerMesh and one negotiated data channel. */
async function startPeer(args: { url: string; roomId: string; camera: boolean }): Promise<void> {
  const { connect, PeerMesh } = (window as unknown as { Switchboard: typeof Sdk }).Switchboard;
  const t: PeerState = {
    client: undefined as unknown as Sdk.SignalingClient,
    pc: undefined,
    dc: undefined,
    dcOpenAt: undefined,
    received: [],
    candidateErrors: [],
    iceStates: [],
    applied: [],
    restartedAt: undefined,
    errors: [],
  };
  (window as unknown as { t: PeerState }).t = t;
  const stream = args.camera ? await navigator.mediaDevices.getUserMedia({ video: true }) : null;
  const client = connect({ url: args.url, roomId: args.roomId });
  t.client = client;
  const mesh = new PeerMesh(client, {
    rtcConfig: { iceTransportPolicy: 'relay' },
    setup: ({ pc }) => {
      t.pc = pc;
      const dc = pc.createDataChannel('chat', { negotiated: true, id: 0 });
      t.dc = dc;
      dc.onopen = () => (t.dcOpenAt ??= performance.now());
      dc.onclose = () => t.errors.push('data channel closed');
      dc.onmessage = (e: MessageEvent) => {
        const text = String(e.data);
        t.received.push(text);
        if (text.startsWith('ping:')) dc.send(`pong:${text.slice(5)}`);
      };
      pc.addEventListener('icecandidateerror', (e) => {
        const err = e as RTCPeerConnectionIceErrorEvent;
        t.candidateErrors.push({ code: err.errorCode, url: err.url });
      });
      pc.addEventListener('iceconnectionstatechange', () =>
        t.iceStates.push(pc.iceConnectionState),
      );
      if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
      pc.ontrack = (e) => {
        const v = document.createElement('video');
        v.id = 'remote';
        v.muted = true;
        v.autoplay = true;
        v.srcObject = e.streams[0] ?? new MediaStream([e.track]);
        document.body.append(v);
      };
    },
  });
  mesh.on('ice-servers-applied', (_id, restarted) => {
    t.applied.push(`restarted=${restarted}`);
    if (restarted) t.restartedAt ??= Date.now();
  });
  mesh.on('error', (_id, err) => t.errors.push(String(err)));
  await client.ready;
}

/** Runs in the page: the selected candidate pair's local and remote candidates. */
async function selectedPair(): Promise<{ local: string; remote: string; localAddress: string }> {
  const pc = (window as unknown as { t: PeerState }).t.pc!;
  const stats = await pc.getStats();
  let pairId: string | undefined;
  stats.forEach((r: { type: string; selectedCandidatePairId?: string }) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  const pair = pairId ? stats.get(pairId) : undefined;
  const local = pair ? stats.get(pair.localCandidateId) : undefined;
  const remote = pair ? stats.get(pair.remoteCandidateId) : undefined;
  return {
    local: local?.candidateType ?? 'none',
    remote: remote?.candidateType ?? 'none',
    localAddress: local ? `${local.address}:${local.port}` : '',
  };
}

interface Peer {
  context: BrowserContext;
  page: Page;
  pageErrors: string[];
}

async function openPeer(
  browser: Browser,
  server: DemoServer,
  roomId: string,
  camera = false,
): Promise<Peer> {
  const context = await newSdkContext(browser);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.setDefaultTimeout(20_000);
  await page.goto(`${server.httpUrl}/demo/`); // loads the SDK bundle; no autojoin
  await page.evaluate(startPeer, { url: server.url, roomId, camera });
  return { context, page, pageErrors };
}

function waitOpen(p: Peer, ms = 20_000): Promise<unknown> {
  return p.page.waitForFunction(
    () => (window as unknown as { t: PeerState }).t.dc?.readyState === 'open',
    undefined,
    { timeout: ms, polling: 50 },
  );
}

/** Send `ping:<n>` from a and wait for b's `pong:<n>` back on a: data flows both ways. */
async function roundTrip(a: Peer, n: string): Promise<void> {
  await a.page.evaluate((x) => (window as unknown as { t: PeerState }).t.dc!.send(`ping:${x}`), n);
  await a.page.waitForFunction(
    (x) => (window as unknown as { t: PeerState }).t.received.includes(`pong:${x}`),
    n,
    { timeout: 10_000, polling: 50 },
  );
}

async function closePeers(...peers: Peer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.context.close()));
}

let coturn: Coturn;
let browser: Browser;
// Each assigned as soon as it is up, so when one fails `after` stops the other (see settle).
before(
  async () => {
    await settle([
      startCoturn({ secrets: [TURN_SECRET], verbose: true }).then((c) => (coturn = c)),
      launchChromium(true, LOOPBACK_ICE_ARGS).then((b) => (browser = b)),
    ]);
  },
  { timeout: 60_000 },
);
after(
  async () => {
    await browser?.close();
    await coturn?.stop();
  },
  { timeout: 30_000 },
);

describe('relay-only WebRTC through coturn with Switchboard credentials', () => {
  let s: DemoServer;
  before(
    async () => {
      s = await startDemoServer({ turnUrls: [coturn.url], turnSecret: TURN_SECRET });
    },
    { timeout: 60_000 },
  );
  after(async () => s?.close(), { timeout: 30_000 });

  test('the data channel opens over a relay pair', { timeout: 60_000 }, async (t) => {
    const a = await openPeer(browser, s, 'turn-dc');
    const b = await openPeer(browser, s, 'turn-dc');
    try {
      await Promise.all([waitOpen(a), waitOpen(b)]);
      const pair = await a.page.evaluate(selectedPair);
      assert.equal(pair.local, 'relay');
      assert.equal((await b.page.evaluate(selectedPair)).local, 'relay');
      await roundTrip(a, '1');
      await roundTrip(b, '2');
      const openedAt = await b.page.evaluate(
        () => (window as unknown as { t: PeerState }).t.dcOpenAt,
      );
      t.diagnostic(
        `page load → relayed data channel open: ${Math.round(openedAt!)} ms (second page; ${coturn.version})`,
      );
      assert.deepEqual([...a.pageErrors, ...b.pageErrors], []);
    } finally {
      await closePeers(a, b);
    }
  });

  test('a fake-camera video track plays over the relay', { timeout: 60_000 }, async () => {
    const a = await openPeer(browser, s, 'turn-camera', true);
    const b = await openPeer(browser, s, 'turn-camera', true);
    try {
      await b.page.waitForFunction(
        () => {
          const v = document.getElementById('remote') as HTMLVideoElement | null;
          return v !== null && v.videoWidth > 0 && v.currentTime > 0;
        },
        undefined,
        { timeout: 20_000, polling: 100 },
      );
      assert.equal((await b.page.evaluate(selectedPair)).local, 'relay');
      assert.equal((await a.page.evaluate(selectedPair)).local, 'relay');
      assert.deepEqual([...a.pageErrors, ...b.pageErrors], []);
    } finally {
      await closePeers(a, b);
    }
  });
});

describe('with a TURN_SECRET coturn does not know', () => {
  let s: DemoServer;
  before(
    async () => {
      s = await startDemoServer({ turnUrls: [coturn.url], turnSecret: 'not-the-coturn-secret' });
    },
    { timeout: 60_000 },
  );
  after(async () => s?.close(), { timeout: 30_000 });

  test(
    'the allocation is refused (401): no relay candidate, ICE cannot connect',
    { timeout: 60_000 },
    async () => {
      const a = await openPeer(browser, s, 'turn-wrong');
      const b = await openPeer(browser, s, 'turn-wrong');
      try {
        for (const p of [a, b]) {
          // Gathering ends (complete) with TURN's 401 as the only outcome. With relay-only policy
          // no other candidate can exist and nothing gathers again without an ICE restart (which
          // would meet the same 401), so this connection can never be established.
          await p.page.waitForFunction(
            () => {
              const t = (window as unknown as { t: PeerState }).t;
              return (
                t.pc?.iceGatheringState === 'complete' &&
                t.candidateErrors.some((e) => e.code === 401)
              );
            },
            undefined,
            { timeout: 30_000, polling: 100 },
          );
          const state = await p.page.evaluate(async () => {
            const t = (window as unknown as { t: PeerState }).t;
            let localCandidates = 0;
            (await t.pc!.getStats()).forEach((r: { type: string }) => {
              if (r.type === 'local-candidate') localCandidates++;
            });
            return {
              localCandidates,
              ice: t.pc!.iceConnectionState,
              everConnected: t.iceStates.some((x) => x === 'connected' || x === 'completed'),
              dcOpened: t.dcOpenAt !== undefined,
            };
          });
          assert.equal(state.localCandidates, 0, 'no relay candidate was allocated');
          assert.ok(['new', 'failed'].includes(state.ice), `ICE state ${state.ice}`);
          assert.equal(state.everConnected, false);
          assert.equal(state.dcOpened, false);
        }
      } finally {
        await closePeers(a, b);
      }
    },
  );
});

/** Runs in the page: the TURN username this page currently holds. */
function turnUsername(): string {
  const t = (window as unknown as { t: PeerState }).t;
  const entry = t.client.iceServers.find((e) => e.username !== undefined);
  return entry!.username!;
}

/** The selected local candidate address, once it differs from `previous` (bounded wait). */
async function newRelayAddress(p: Peer, previous: string, ms = 20_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pair = await p.page.evaluate(selectedPair);
    if (pair.local === 'relay' && pair.localAddress !== previous) return pair.localAddress;
    if (Date.now() > deadline)
      throw new Error(`selected pair still ${JSON.stringify(pair)} (was ${previous})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Poll `get` until it returns a value (bounded: 10 s). */
async function until<T>(get: () => T | undefined, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Usernames coturn logged a successful ALLOCATE for (needs coturn's -v). */
function allocatedUsernames(): string[] {
  const re = /user <([^>]+)>: incoming packet ALLOCATE processed, success/g;
  return [...coturn.log().matchAll(re)].map((m) => m[1]!);
}

describe('credential refresh with a short TURN_TTL_SECONDS', () => {
  const TTL = 12;
  let s: DemoServer;
  before(
    async () => {
      s = await startDemoServer({
        turnUrls: [coturn.url],
        turnSecret: TURN_SECRET,
        turnTtlSeconds: TTL,
      });
    },
    { timeout: 60_000 },
  );
  after(async () => s?.close(), { timeout: 30_000 });

  test(
    'a relay-only session outlives its first credential: refreshed, ICE-restarted onto a new allocation',
    { timeout: 90_000 },
    async () => {
      const a = await openPeer(browser, s, 'turn-refresh');
      const b = await openPeer(browser, s, 'turn-refresh');
      try {
        await Promise.all([waitOpen(a), waitOpen(b)]);
        const first = await a.page.evaluate(turnUsername);
        const firstExpiry = Number(first.split(':')[0]);
        const peerId = first.slice(first.indexOf(':') + 1);
        const firstAddress = (await a.page.evaluate(selectedPair)).localAddress;
        assert.equal((await a.page.evaluate(selectedPair)).local, 'relay');

        // The server's ice-servers refresh arrives before the credential expires, and the SDK
        // restarts the relayed connection onto an allocation made with the fresh credential.
        await a.page.waitForFunction(
          () => (window as unknown as { t: PeerState }).t.applied.includes('restarted=true'),
          undefined,
          { timeout: TTL * 1000 + 5000, polling: 100 },
        );
        const refreshed = await a.page.evaluate(turnUsername);
        assert.ok(Number(refreshed.split(':')[0]) > firstExpiry, 'a later expiry');
        const restartedAt = await a.page.evaluate(
          () => (window as unknown as { t: PeerState }).t.restartedAt!,
        );
        assert.ok(restartedAt < firstExpiry * 1000, 'restarted before the first one expired');
        const secondAddress = await newRelayAddress(a, firstAddress);
        await until(
          () => allocatedUsernames().includes(refreshed) || undefined,
          'coturn allocating with the refreshed credential',
        );

        // Past the first credential's expiry: the channel is open and carries data both ways.
        await a.page.waitForFunction((e) => Date.now() / 1000 > e + 1, firstExpiry, {
          timeout: TTL * 1000,
          polling: 200,
        });
        await roundTrip(a, 'after-expiry-a');
        await roundTrip(b, 'after-expiry-b');

        // And a restart now (a network change, say) must allocate again: only the refreshed
        // credential can, the first one has expired (coturn answers it 401).
        const allocationsBefore = allocatedUsernames().length;
        await a.page.evaluate(() => (window as unknown as { t: PeerState }).t.pc!.restartIce());
        await newRelayAddress(a, secondAddress);
        await roundTrip(a, 'after-restart');
        // coturn's log reaches us through a pipe, a moment after the allocation.
        const mine = await until(() => {
          const fresh = allocatedUsernames()
            .slice(allocationsBefore)
            .filter((u) => u.endsWith(`:${peerId}`));
          return fresh.length > 0 ? fresh : undefined;
        }, 'page A allocating again after the expiry');
        for (const u of mine) assert.ok(Number(u.split(':')[0]) > firstExpiry, u);

        const state = await a.page.evaluate(() => {
          const t = (window as unknown as { t: PeerState }).t;
          return { dc: t.dc!.readyState, errors: t.errors };
        });
        assert.deepEqual(state, { dc: 'open', errors: [] });
        assert.deepEqual([...a.pageErrors, ...b.pageErrors], []);
      } finally {
        await closePeers(a, b);
      }
    },
  );
});

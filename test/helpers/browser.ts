/**
 * Browser test helpers: real headless Chromium (Debian's /usr/bin/chromium via playwright-core)
 * and servers that serve the demo page at /demo/.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Config } from '../../src/config.js';
import type { CreateOptions } from '../../src/index.js';
import { createDemoRoute, findExamplesDir } from '../../src/server/demo-route.js';
import { buildClientBundle } from '../../examples/build.js';
import { startServer, type TestServer } from './server.js';
import { requireBinary } from './system-deps.js';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
/** Only for tests that use a camera or microphone. */
export const MEDIA_ARGS = ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];

/** For tests whose ICE candidates are on 127.0.0.1 (a loopback TURN server's relays). */
export const LOOPBACK_ICE_ARGS = ['--allow-loopback-in-peer-connection'];

/** Chromium, headless; fails at once with one line when it is not installed (system-deps.ts). */
export function launchChromium(media = false, extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: requireBinary('chromium'),
    headless: true,
    args: [...CHROMIUM_ARGS, ...(media ? MEDIA_ARGS : []), ...extraArgs],
    timeout: 30_000,
  });
}

let bundle: Promise<string> | undefined;
/** Build examples/switchboard-client.bundle.js once per test process. */
export function ensureBundle(): Promise<string> {
  bundle ??= buildClientBundle();
  return bundle;
}

/** A test server that also serves the demo page (as `--demo` does). */
export async function startDemoServer(
  overrides: Partial<Config> = {},
  opts: CreateOptions = {},
): Promise<TestServer & { httpUrl: string }> {
  await ensureBundle();
  const dir = findExamplesDir();
  if (!dir) throw new Error('examples/ not found');
  const t = await startServer(overrides, { extraRoute: createDemoRoute(dir), ...opts });
  return { ...t, httpUrl: `http://127.0.0.1:${t.port}` };
}

export interface DemoPage {
  page: Page;
  /** Page errors and console errors, for failure messages. */
  errors: string[];
}

/**
 * A context for tests that run SDK code in the page via page.evaluate(callback). tsx compiles
 * test files with esbuild's keepNames, which wraps named functions in a `__name(fn, "name")`
 * helper; the callback runs in the page, where that helper must exist.
 */
export async function newSdkContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript('globalThis.__name = (fn) => fn;');
  return context;
}

/** Pages open now (all are described when a wait fails). */
const openPages = new Set<DemoPage>();

/** Open the demo in its own browser context (like a separate user) and join automatically. */
export async function openDemo(
  browser: Browser,
  httpUrl: string,
  params: Record<string, string>,
): Promise<DemoPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: string[] = [];
  const demoPage: DemoPage = { page, errors };
  openPages.add(demoPage);
  page.on('close', () => openPages.delete(demoPage));
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.setDefaultTimeout(15_000);
  const qs = new URLSearchParams({ autojoin: '1', ...params });
  await page.goto(`${httpUrl}/demo/?${qs}`);
  return demoPage;
}

/** Wait until the page has `n` open data channels. */
export async function waitForChannels(p: DemoPage, n: number, ms = 15_000): Promise<void> {
  try {
    await p.page.waitForFunction((want) => window.demo?.openChannels() === want, n, {
      timeout: ms,
      polling: 50,
    });
  } catch (err) {
    const states = await Promise.all([...openPages].map((o) => describe(o).catch(String)));
    throw new Error(
      `expected ${n} open channels on ${await describe(p).catch(String)}\nall pages:\n${states.join('\n')}`,
      { cause: err },
    );
  }
}

/** A page's signaling and peer connection state, for failure messages. */
async function describe(p: DemoPage): Promise<string> {
  const state = await p.page.evaluate(() => ({
    me: window.demo?.client?.peerId,
    state: window.demo?.client?.state,
    channels: [...(window.demo?.channels ?? new Map()).entries()].map(
      ([id, dc]) => `${id}:${dc.readyState}`,
    ),
    pcs: [...(window.demo?.mesh?.peers.values() ?? [])].map(
      (p) =>
        `${p.id} polite=${p.polite} ${p.pc.signalingState}/${p.pc.iceConnectionState}/${p.pc.connectionState} remote=${p.pc.remoteDescription?.type} gathering=${p.pc.iceGatheringState}`,
    ),
    trace: window.demo?.trace,
  }));
  return `${JSON.stringify(state)} errors: ${p.errors.join(' | ')}`;
}

/** Type a message into the demo's chat box and send it over every open data channel. */
export async function sendChat(p: DemoPage, text: string): Promise<void> {
  await p.page.fill('#text', text);
  await p.page.click('#send');
}

/** Wait until the page received `text` over a data channel; resolves to the sender's id. */
export async function waitForChat(p: DemoPage, text: string, ms = 10_000): Promise<string> {
  const handle = await p.page.waitForFunction(
    (t) => window.demo?.received.find((r) => r.text === t)?.from,
    text,
    { timeout: ms, polling: 50 },
  );
  return (await handle.jsonValue()) as string;
}

export async function peerIdOf(p: DemoPage): Promise<string> {
  const id = await p.page.evaluate(() => window.demo?.client?.peerId);
  if (!id) throw new Error('page has no peer id');
  return id;
}

/** The shape of window.demo (examples/demo.js), for typed page.evaluate callbacks. */
declare global {
  interface Window {
    demo?: {
      client?: { peerId?: string; state: string; peers: Set<string> };
      channels: Map<string, RTCDataChannel>;
      mesh?: { peers: Map<string, { id: string; polite: boolean; pc: RTCPeerConnection }> };
      received: { from: string; text: string }[];
      welcomes: number;
      resumes: number;
      trace: string[];
      openChannels(): number;
    };
  }
}

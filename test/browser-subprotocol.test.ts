/**
 * SPEC.md §1 step 5 in a real browser: with SUBPROTOCOL set, a Chromium WebSocket that offers
 * other protocols sees the close code and reason 1008 "Subprotocol required", not a failed
 * handshake (1006); one offering SUBPROTOCOL gets it selected.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { Close } from '../src/close-codes.js';
import { launchChromium } from './helpers/browser.js';
import { startServer, type TestServer } from './helpers/server.js';

let browser: Browser;
let t: TestServer;
before(
  async () => {
    [browser, t] = await Promise.all([launchChromium(), startServer({ subprotocol: 'sb.v1' })]);
  },
  { timeout: 60000 },
);
after(
  async () => {
    await browser?.close();
    await t?.close();
  },
  { timeout: 30000 },
);

test(
  'Chromium offering other protocols sees 1008 "Subprotocol required"',
  { timeout: 30_000 },
  async () => {
    const page = await browser.newPage();
    try {
      const outcome = (protocols: string[]) =>
        page.evaluate(
          ([url, offered]) =>
            new Promise<{ opened: string | null; code: number; reason: string }>((resolve) => {
              const ws = new WebSocket(url as string, offered as string[]);
              let opened: string | null = null;
              ws.onopen = () => {
                opened = ws.protocol;
                if (ws.protocol === 'sb.v1') ws.close(1000, 'done');
              };
              ws.onclose = (e) => resolve({ opened, code: e.code, reason: e.reason });
            }),
          [`${t.url}/?roomId=browser-sp`, protocols] as const,
        );
      const refused = await outcome(['chat', 'other']);
      assert.deepEqual(
        { code: refused.code, reason: refused.reason },
        { ...Close.subprotocolRequired },
      );
      assert.equal(refused.opened, 'chat', 'the handshake completed with an offered protocol');
      const admitted = await outcome(['other', 'sb.v1']);
      assert.deepEqual(admitted, { opened: 'sb.v1', code: 1000, reason: 'done' });
    } finally {
      await page.close();
    }
  },
);

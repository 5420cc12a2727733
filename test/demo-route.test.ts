/**
 * The demo route: off by default; when on, only the fixed files under /demo/, nothing else.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import http from 'node:http';
import { startDemoServer } from './helpers/browser.js';
import { settle, startServer, type TestServer } from './helpers/server.js';

let demo: TestServer;
let plain: TestServer;
before(
  async () => {
    await settle([
      startDemoServer().then((s) => (demo = s)),
      startServer().then((s) => (plain = s)),
    ]);
  },
  { timeout: 30_000 },
);
after(() => Promise.all([demo?.close(), plain?.close()]), { timeout: 30_000 });

/** GET with the path sent exactly as given (no normalization of `..`). */
function get(port: number, path: string) {
  return new Promise<{ status: number; type: string | undefined; body: string }>(
    (resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }),
        );
      });
      req.on('error', reject);
      req.end();
    },
  );
}

test('serves the page, its script and the client bundle', async () => {
  const page = await get(demo.port, '/demo/');
  assert.equal(page.status, 200);
  assert.match(page.type ?? '', /^text\/html/);
  assert.match(page.body, /<script src="switchboard-client\.bundle\.js">/);
  const js = await get(demo.port, '/demo/demo.js?x=1');
  assert.equal(js.status, 200);
  assert.match(js.type ?? '', /^text\/javascript/);
  const bundle = await get(demo.port, '/demo/switchboard-client.bundle.js');
  assert.equal(bundle.status, 200);
  assert.match(bundle.body, /var Switchboard = /);
  const redirect = await get(demo.port, '/demo');
  assert.equal(redirect.status, 301);
});

test('nothing outside the fixed list, whatever the path spelling', async () => {
  for (const path of [
    '/demo/../package.json',
    '/demo/%2e%2e/package.json',
    '/demo/..%2fpackage.json',
    '/demo//etc/passwd',
    '/demo/build.ts',
    '/demo/index.html/',
    '/demo/%00',
  ]) {
    const res = await get(demo.port, path);
    assert.equal(res.status, 404, path);
    assert.equal(res.body, 'Not Found', path);
  }
  // other routes are untouched
  assert.equal((await get(demo.port, '/healthz')).status, 200);
  assert.equal((await get(demo.port, '/package.json')).status, 426);
});

test('off by default: /demo/ is not served', async () => {
  assert.equal((await get(plain.port, '/demo/')).status, 426);
  assert.equal((await get(plain.port, '/demo/demo.js')).status, 426);
});

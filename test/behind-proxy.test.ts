/**
 * Behind a real nginx terminating TLS (self-signed certificate made by openssl), with
 * TRUST_PROXY: REQUIRE_WSS honours X-Forwarded-Proto, the client IP is the one nginx appended
 * to X-Forwarded-For, so rate limits key on the real client and a forged header dodges nothing.
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { SECRET, signHs } from './helpers/jwt.js';
import { startNginx, type Nginx } from './helpers/nginx.js';
import {
  connect,
  startServer,
  type Closed,
  type TestClient,
  type TestServer,
} from './helpers/server.js';
import { makeCert, tempDir, type Cert } from './helpers/tls.js';

const tmp = tempDir('sb-nginx-');
let cert: Cert;
let t: TestServer;
let nginx: Nginx;

before(
  async () => {
    cert = makeCert(tmp.dir, 'proxy');
    t = await startServer({
      trustProxy: true,
      requireWss: true,
      rateLimitConnPer10s: 3,
      enableAuth: true,
      jwtSecret: SECRET,
    });
    nginx = await startNginx(tmp.dir, t.port, cert);
  },
  { timeout: 30_000 },
);
after(
  async () => {
    await nginx?.stop();
    await t?.close();
    tmp.remove();
  },
  { timeout: 30_000 },
);

const wss = () => `wss://127.0.0.1:${nginx.httpsPort}`;
const token = () => signHs({ rooms: ['proxied'] });

async function viaProxy(localAddress: string, headers: Record<string, string> = {}) {
  const c = await connect(wss(), {
    roomId: 'proxied',
    v: 2,
    ca: cert.cert,
    localAddress,
    headers: { authorization: `Bearer ${await token()}`, ...headers },
  });
  return { c, result: await welcomed(c) };
}

/**
 * Through a proxy the server's socket is nginx's, so admission is read from the protocol: a
 * v2 client is admitted when it receives its welcome, refused when it receives a close.
 */
async function welcomed(c: TestClient): Promise<'admitted' | Closed> {
  const first = await Promise.race([c.next(3000), c.closed]);
  if ((first as { action?: string }).action === 'welcome') return 'admitted';
  if (typeof (first as Closed).code === 'number') return first as Closed;
  throw new Error(`unexpected ${JSON.stringify(first)}`);
}

const ipsLogged = () =>
  t.logs.lines
    .map((l) => JSON.parse(l) as { msg: string; ip?: string })
    .filter((l) => l.msg === 'peer joined' || l.msg === 'connection refused')
    .map((l) => l.ip);

test('wss through nginx: admitted, messages flow, the client IP is the real one', async () => {
  const a = await viaProxy('127.0.0.11');
  const b = await viaProxy('127.0.0.12');
  assert.equal(a.result, 'admitted');
  assert.equal(b.result, 'admitted');
  assert.equal(((await a.c.next()) as { action: string }).action, 'peer-joined');
  a.c.send({ type: 'offer', sdp: 'through nginx' });
  const got = (await b.c.next()) as Record<string, unknown>;
  assert.deepEqual({ type: got.type, sdp: got.sdp }, { type: 'offer', sdp: 'through nginx' });
  assert.deepEqual(ipsLogged().slice(-2), ['127.0.0.11', '127.0.0.12']);
  await a.c.close();
  await b.c.close();
});

test('the token in a subprotocol entry survives the proxy and is not echoed', async () => {
  const c = await connect(wss(), {
    roomId: 'proxied',
    ca: cert.cert,
    localAddress: '127.0.0.13',
    v: 2,
    protocols: ['switchboard', `access_token.${await token()}`],
  });
  assert.equal(c.ws.protocol, 'switchboard');
  assert.equal(await welcomed(c), 'admitted');
  await c.close();
});

test('rate limits key on the real client IP; a forged X-Forwarded-For dodges nothing', async () => {
  // Every attempt claims a different address; nginx appends the real one, which is used.
  const results = [];
  for (let i = 0; i < 5; i++) {
    const r = await viaProxy('127.0.0.21', { 'x-forwarded-for': `198.51.100.${i}` });
    results.push(r.result);
    if (r.result === 'admitted') await r.c.close();
  }
  assert.deepEqual(results.slice(0, 3), ['admitted', 'admitted', 'admitted']);
  assert.deepEqual(results.slice(3), [{ ...Close.rateLimited }, { ...Close.rateLimited }]);
  assert.ok(
    ipsLogged()
      .slice(-5)
      .every((ip) => ip === '127.0.0.21'),
  );
  // Another client behind the same proxy (same proxy IP) has its own budget.
  const other = await viaProxy('127.0.0.22');
  assert.equal(other.result, 'admitted');
  await other.c.close();
});

test('plain ws through the proxy (X-Forwarded-Proto http) is refused "WSS required"', async () => {
  const c = await connect(`ws://127.0.0.1:${nginx.httpPort}`, {
    roomId: 'proxied',
    v: 2,
    localAddress: '127.0.0.31',
    headers: { authorization: `Bearer ${await token()}`, 'x-forwarded-proto': 'https' },
  });
  assert.deepEqual(await welcomed(c), { ...Close.wssRequired });
});

test('the proxy hides /metrics; /healthz still answers through it', async () => {
  const get = (p: string) =>
    new Promise<number>((resolve, reject) =>
      https
        .get(`https://127.0.0.1:${nginx.httpsPort}${p}`, { ca: cert.cert }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject),
    );
  assert.equal(await get('/metrics'), 404);
  assert.equal(await get('/healthz'), 200);
});

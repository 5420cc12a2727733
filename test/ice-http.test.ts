/**
 * SPEC.md §12 through a real server: `GET /ice-servers` (shape, no-store, auth 401/403, CORS,
 * the per-IP connection rate), the v2 welcome's `iceServers` and the `ice-servers` refresh
 * before expiry, the credentials metric, and that no secret or credential reaches the logs.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { Config } from '../src/config.js';
import { SECRET, signHs } from './helpers/jwt.js';
import {
  connect,
  expectSilence,
  startServer,
  type TestClient,
  type TestServer,
} from './helpers/server.js';

const TURN_SECRET = 'http-turn-secret-0123456789abcdef';
const ICE: Partial<Config> = {
  stunUrls: ['stun:127.0.0.1:3478'],
  turnUrls: ['turn:127.0.0.1:3478?transport=udp', 'turns:turn.example.com:443?transport=tcp'],
  turnSecret: TURN_SECRET,
  turnTtlSeconds: 3600,
};

interface IceServerJson {
  urls: string[];
  username?: string;
  credential?: string;
}

const servers: TestServer[] = [];
after(
  async () => {
    await Promise.all(servers.map((s) => s.close()));
  },
  { timeout: 30_000 },
);

async function server(overrides: Partial<Config>): Promise<TestServer> {
  const s = await startServer(overrides);
  servers.push(s);
  return s;
}

function get(s: TestServer, query: string, headers: Record<string, string> = {}) {
  return fetch(`http://127.0.0.1:${s.port}/ice-servers${query}`, { headers });
}

async function issued(s: TestServer, via: string): Promise<number> {
  const m = await s.server.metrics.registry
    .getSingleMetric('signaling_turn_credentials_issued_total')
    ?.get();
  return m?.values.find((v) => v.labels.via === via)?.value ?? 0;
}

function checkTurnEntry(entry: IceServerJson, user: RegExp | string, ttl: number): void {
  const { username, credential } = entry;
  assert.ok(username && credential);
  const colon = username.indexOf(':');
  const expiry = Number(username.slice(0, colon));
  const now = Date.now() / 1000;
  assert.ok(expiry > now + ttl - 3 && expiry <= now + ttl + 1, `expiry ${expiry}`);
  if (typeof user === 'string') assert.equal(username.slice(colon + 1), user);
  else assert.match(username.slice(colon + 1), user);
  assert.equal(credential, createHmac('sha1', TURN_SECRET).update(username).digest('base64'));
}

describe('GET /ice-servers', { timeout: 30_000 }, () => {
  test('200 with STUN and TURN entries, the TTL, no-store; the metric counts it', async () => {
    const s = await server(ICE);
    const res = await get(s, '?roomId=room-1');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as { iceServers: IceServerJson[]; ttl: number };
    assert.equal(body.ttl, 3600);
    assert.equal(body.iceServers.length, 2);
    assert.deepEqual(body.iceServers[0], { urls: ['stun:127.0.0.1:3478'] });
    assert.deepEqual(body.iceServers[1]!.urls, ICE.turnUrls);
    checkTurnEntry(body.iceServers[1]!, /^client:[0-9a-f-]{36}$/, 3600);
    assert.equal(await issued(s, 'http'), 1);
    // A fresh credential per request.
    const again = (await (await get(s, '?roomId=room-1')).json()) as {
      iceServers: IceServerJson[];
    };
    assert.notEqual(again.iceServers[1]!.username, body.iceServers[1]!.username);
  });

  test('nothing configured: 200 with no ICE servers; bad roomId 400; not on HEALTH_PORT', async () => {
    const s = await server({ healthPort: 0 });
    const res = await get(s, '?roomId=room-1');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { iceServers: [], ttl: 86400 });
    for (const q of ['', '?roomId=', '?roomId=has%20space', `?roomId=${'x'.repeat(200)}`]) {
      const r = await get(s, q);
      assert.equal(r.status, 400, q);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'invalid_room_id');
    }
    const post = await fetch(`http://127.0.0.1:${s.port}/ice-servers?roomId=r`, { method: 'POST' });
    assert.equal(post.status, 405);
    const health = await fetch(`http://127.0.0.1:${s.server.healthPort}/ice-servers?roomId=r`);
    assert.equal(health.status, 404);
    await health.body?.cancel();
  });

  test('auth on: 401 without or with a bad token, 403 for another room, user = sub', async () => {
    const s = await server({ ...ICE, enableAuth: true, jwtSecret: SECRET });
    assert.equal((await get(s, '?roomId=room-a')).status, 401);
    assert.equal((await get(s, '?roomId=room-a&token=not.a.jwt')).status, 401);
    const other = await signHs({ sub: 'carol', rooms: ['room-b'] });
    assert.equal((await get(s, `?roomId=room-a&token=${other}`)).status, 403);
    const bearer = await get(s, '?roomId=room-a', { authorization: `Bearer ${other}` });
    assert.equal(bearer.status, 403);
    assert.equal(bearer.headers.get('cache-control'), 'no-store');

    const good = await signHs({ sub: 'carol', rooms: ['room-a'] });
    for (const res of [
      await get(s, '?roomId=room-a', { authorization: `Bearer ${good}` }),
      await get(s, `?roomId=room-a&token=${good}`),
    ]) {
      assert.equal(res.status, 200);
      const body = (await res.json()) as { iceServers: IceServerJson[] };
      checkTurnEntry(body.iceServers[1]!, 'carol', 3600);
    }
  });

  test('CORS: answered for listed origins only; other origins refused', async () => {
    const s = await server({ ...ICE, allowedOrigins: ['https://app.example.com'] });
    const ok = await get(s, '?roomId=r', { origin: 'https://app.example.com' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(ok.headers.get('vary'), 'Origin');
    await ok.body?.cancel();

    const preflight = await fetch(`http://127.0.0.1:${s.port}/ice-servers?roomId=r`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'GET');
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/i);

    const evil = await get(s, '?roomId=r', { origin: 'https://evil.example.com' });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
    await evil.body?.cancel();
    const evilPreflight = await fetch(`http://127.0.0.1:${s.port}/ice-servers?roomId=r`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'GET' },
    });
    assert.equal(evilPreflight.status, 403);
    assert.equal(evilPreflight.headers.get('access-control-allow-origin'), null);
    await evilPreflight.body?.cancel();
    // Like a WebSocket without Origin: refused unless ALLOW_MISSING_ORIGIN.
    assert.equal((await get(s, '?roomId=r')).status, 403);
    const lenient = await server({
      ...ICE,
      allowedOrigins: ['app.example.com'],
      allowMissingOrigin: true,
    });
    assert.equal((await get(lenient, '?roomId=r')).status, 200);

    // No ALLOWED_ORIGINS: any caller is served, but no cross-origin page may read the answer.
    const open = await server(ICE);
    const res = await get(open, '?roomId=r', { origin: 'https://anywhere.example' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    await res.body?.cancel();
  });

  test('counted against the per-IP connection rate: 429 past it, for WebSockets too', async () => {
    // A clock standing still mid-window: the sliding window estimate is exact then (at a
    // window boundary the previous window's weight decays while the test runs).
    const s = await startServer(
      { ...ICE, rateLimitConnPer10s: 3 },
      { now: () => 1_800_000_005_000 },
    );
    servers.push(s);
    for (let i = 0; i < 3; i++) {
      const r = await get(s, '?roomId=r');
      assert.equal(r.status, 200);
      await r.body?.cancel();
    }
    const limited = await get(s, '?roomId=r');
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '10');
    assert.equal(limited.headers.get('cache-control'), 'no-store');
    assert.equal(
      ((await limited.json()) as { error: { code: string } }).error.code,
      'rate_limited',
    );
    const ws = await connect(s.url, { roomId: 'r' });
    assert.deepEqual(await ws.closed, { code: 1013, reason: 'Rate limited' });
  });
});

describe('v2 welcome and refresh', { timeout: 30_000 }, () => {
  const clients: TestClient[] = [];
  after(() => clients.forEach((c) => c.ws.close()), { timeout: 30_000 });

  test('the welcome carries iceServers; an ice-servers refresh comes before expiry', async () => {
    const s = await server({ ...ICE, turnTtlSeconds: 4, logLevel: 'debug' });
    const welcomedAt = Date.now();
    const c = await connect(s.url, { roomId: 'w', v: 2 });
    clients.push(c);
    const welcome = (await c.next()) as {
      action: string;
      payload: { peerId: string; iceServers: IceServerJson[] };
    };
    assert.equal(welcome.action, 'welcome');
    assert.deepEqual(welcome.payload.iceServers[0], { urls: ['stun:127.0.0.1:3478'] });
    checkTurnEntry(welcome.payload.iceServers[1]!, welcome.payload.peerId, 4);
    const firstExpiry = Number(welcome.payload.iceServers[1]!.username!.split(':')[0]);

    const refresh = (await c.next(6000)) as {
      type: string;
      action: string;
      payload: { iceServers: IceServerJson[] };
    };
    const at = Date.now();
    assert.equal(refresh.type, 'control');
    assert.equal(refresh.action, 'ice-servers');
    // Due at 85–90 % of the 4 s TTL (ticks of 100 ms): before the credential expires.
    assert.ok(at - welcomedAt >= 3400, `${at - welcomedAt} ms after the welcome`);
    assert.ok(at < firstExpiry * 1000, `${firstExpiry * 1000 - at} ms before the expiry`);
    checkTurnEntry(refresh.payload.iceServers[1]!, welcome.payload.peerId, 4);
    assert.equal(await issued(s, 'welcome'), 1);
    assert.ok((await issued(s, 'refresh')) >= 1);

    // A v1 client gets no welcome and no refresh.
    const v1 = await connect(s.url, { roomId: 'w' });
    clients.push(v1);
    await expectSilence(v1, 4500);

    // Nothing secret in the logs (debug level): not the secret, a username or a credential.
    const httpBody = (await (await get(s, '?roomId=w')).json()) as { iceServers: IceServerJson[] };
    const logs = s.logs.text;
    assert.ok(logs.length > 0);
    for (const secret of [
      TURN_SECRET,
      welcome.payload.iceServers[1]!.credential!,
      welcome.payload.iceServers[1]!.username!,
      refresh.payload.iceServers[1]!.credential!,
      httpBody.iceServers[1]!.credential!,
    ])
      assert.ok(!logs.includes(secret), 'a secret or credential was logged');
  });
});

/**
 * JWT admission with JWT_SECRET (SPEC.md §1 step 7, §10): token sources, algorithm pinning,
 * claims, and the rooms claim, on a real server with real ws clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exportSPKI, generateKeyPair, type JWTPayload } from 'jose';
import { Close } from '../src/close-codes.js';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { roomGranted } from '../src/server/jwt-auth.js';
import { admission } from './helpers/admission.js';
import { connect, join, startServer, type TestServer } from './helpers/server.js';
import { SECRET, sign, signHs, unsecuredToken } from './helpers/jwt.js';
import { rawUpgrade } from './helpers/raw-ws.js';

const ROOMS = { rooms: ['lobby', 'game-*'] };

let t: TestServer;
before(
  async () => {
    t = await startServer({
      enableAuth: true,
      jwtSecret: SECRET,
      jwtIssuer: 'https://issuer.test',
      jwtAudience: 'switchboard',
      jwtClockSkewSeconds: 30,
    });
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

const good = (claims: JWTPayload = ROOMS, extra = {}) =>
  signHs(claims, { iss: 'https://issuer.test', aud: 'switchboard', ...extra });

/** Connect with a token in the query and return how the server answered. */
async function outcome(roomId: string, token: string | undefined, server = t) {
  const c = await connect(server.url, { roomId, query: token ? `token=${token}` : undefined });
  const result = await admission(server, c);
  if (result === 'admitted') await c.close();
  return result;
}

describe('token sources', () => {
  test('query ?token= admits and the room works', async () => {
    const token = await good();
    const a = await join(t, 'lobby', { query: `token=${token}` });
    const b = await join(t, 'lobby', { query: `token=${token}` });
    a.send({ type: 'offer', sdp: 'v=0' });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'v=0' });
    await a.close();
    await b.close();
  });

  test('Authorization: Bearer admits', async () => {
    const token = await good();
    assert.equal(await outcomeWith({ headers: { authorization: `Bearer ${token}` } }), 'admitted');
    assert.deepEqual(await outcomeWith({ headers: { authorization: `Basic ${token}` } }), {
      ...Close.unauthorized,
    });
  });

  test('Sec-WebSocket-Protocol access_token.JWT admits; the token is never echoed', async () => {
    const token = await good();
    const c = await connect(t.url, {
      roomId: 'lobby',
      protocols: [`access_token.${token}`, 'switchboard'],
    });
    assert.equal(c.ws.protocol, 'switchboard');
    assert.equal(await admission(t, c), 'admitted');
    await c.close();
    // Only the token offered: the server selects no protocol at all rather than echo it.
    const raw = await rawUpgrade(t.port, '/?roomId=lobby', {
      headers: { 'Sec-WebSocket-Protocol': `access_token.${token}` },
    });
    assert.equal(raw.status, 101);
    assert.equal(raw.headers['sec-websocket-protocol'], undefined);
    assert.ok(!JSON.stringify(raw.headers).includes(token));
    raw.socket.destroy();
  });

  test('no token anywhere → 1008 Unauthorized', async () => {
    assert.deepEqual(await outcome('lobby', undefined), { ...Close.unauthorized });
  });
});

async function outcomeWith(opts: { headers?: Record<string, string>; protocols?: string[] }) {
  const c = await connect(t.url, { roomId: 'lobby', ...opts });
  const result = await admission(t, c);
  if (result === 'admitted') await c.close();
  return result;
}

describe('verification', () => {
  test('bad signature, wrong key, garbage → Unauthorized', async () => {
    const token = await good();
    const [h, p, s] = token.split('.');
    const flipped = `${h}.${p}.${s!.startsWith('A') ? 'B' : 'A'}${s!.slice(1)}`;
    assert.deepEqual(await outcome('lobby', flipped), { ...Close.unauthorized });
    const otherKey = await sign(ROOMS, new TextEncoder().encode('x'.repeat(40)), {
      iss: 'https://issuer.test',
      aud: 'switchboard',
      expIn: 60,
    });
    assert.deepEqual(await outcome('lobby', otherKey), { ...Close.unauthorized });
    assert.deepEqual(await outcome('lobby', 'not.a.jwt'), { ...Close.unauthorized });
    assert.deepEqual(await outcome('lobby', 'garbage'), { ...Close.unauthorized });
  });

  test('alg none is refused', async () => {
    const token = unsecuredToken({
      ...ROOMS,
      iss: 'https://issuer.test',
      aud: 'switchboard',
      exp: Math.floor(Date.now() / 1000) + 60,
    });
    assert.deepEqual(await outcome('lobby', token), { ...Close.unauthorized });
  });

  test('HS256 signed with an RSA public key (algorithm confusion) is refused', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const token = await sign(ROOMS, new TextEncoder().encode(pem), {
      iss: 'https://issuer.test',
      aud: 'switchboard',
      expIn: 60,
    });
    assert.deepEqual(await outcome('lobby', token), { ...Close.unauthorized });
  });

  test('issuer and audience are checked', async () => {
    assert.deepEqual(await outcome('lobby', await good(ROOMS, { iss: 'https://evil.test' })), {
      ...Close.unauthorized,
    });
    assert.deepEqual(await outcome('lobby', await good(ROOMS, { aud: 'other' })), {
      ...Close.unauthorized,
    });
    assert.equal(await outcome('lobby', await good()), 'admitted');
  });

  test('exp and nbf honoured with the clock skew (30 s here)', async () => {
    assert.deepEqual(await outcome('lobby', await good(ROOMS, { expIn: -120 })), {
      ...Close.unauthorized,
    });
    assert.deepEqual(await outcome('lobby', await good(ROOMS, { nbfIn: 120 })), {
      ...Close.unauthorized,
    });
    // Within the skew: accepted.
    assert.equal(await outcome('lobby', await good(ROOMS, { expIn: -10 })), 'admitted');
    assert.equal(await outcome('lobby', await good(ROOMS, { nbfIn: 10 })), 'admitted');
  });
});

describe('rooms claim', () => {
  test('exact and suffix-wildcard grants; anything else is Forbidden', async () => {
    const token = await good();
    assert.equal(await outcome('lobby', token), 'admitted');
    assert.equal(await outcome('game-42', token), 'admitted');
    assert.equal(await outcome('game-', token), 'admitted');
    assert.deepEqual(await outcome('game', token), { ...Close.forbidden });
    assert.deepEqual(await outcome('lobby2', token), { ...Close.forbidden });
    assert.deepEqual(await outcome('xgame-1', token), { ...Close.forbidden });
  });

  test('roomGranted: exact, prefix*, lone *, and nothing else', () => {
    assert.equal(roomGranted(['*'], 'anything', false), true);
    assert.equal(roomGranted(['a-*'], 'a-', false), true);
    assert.equal(roomGranted(['a-*'], 'a', false), false);
    assert.equal(roomGranted(['a*b'], 'axb', false), false, 'only a trailing * is a wildcard');
    assert.equal(roomGranted([1, null, { room: 'r' }, 'r'], 'r', false), true);
    assert.equal(roomGranted([1, null, { room: 'r' }], 'r', false), false);
    assert.equal(roomGranted('r', 'r', false), false, 'a string is not a list');
    assert.equal(roomGranted({ 0: 'r', length: 1 }, 'r', false), false);
    assert.equal(roomGranted(undefined, 'r', false), false);
    assert.equal(roomGranted(undefined, 'r', true), true);
    assert.equal(roomGranted(null, 'r', true), false, 'null is a claim of the wrong type');
  });

  test('a token without the claim, or with a non-array claim, is Forbidden', async () => {
    assert.deepEqual(await outcome('lobby', await good({})), { ...Close.forbidden });
    assert.deepEqual(await outcome('lobby', await good({ rooms: 'lobby' })), {
      ...Close.forbidden,
    });
    assert.deepEqual(await outcome('lobby', await good({ rooms: [] })), { ...Close.forbidden });
  });

  test('metrics count each refusal by reason, without the token', async () => {
    // The server is shared with the other tests: count from here.
    const count = async (reason: string) =>
      (await t.server.metrics.admissionRefusals.get()).values.find(
        (v) => v.labels.reason === reason,
      )?.value ?? 0;
    const [unauthorized, forbidden] = [await count('unauthorized'), await count('forbidden')];
    const badToken = `${await good()}x`; // bad signature
    const otherRoom = await good({ rooms: ['elsewhere'] });
    assert.deepEqual(await outcome('lobby', badToken), { ...Close.unauthorized });
    assert.deepEqual(await outcome('lobby', otherRoom), { ...Close.forbidden });
    assert.equal((await count('unauthorized')) - unauthorized, 1);
    assert.equal((await count('forbidden')) - forbidden, 1);
    const body = await t.server.metrics.registry.metrics();
    for (const token of [badToken, otherRoom])
      for (const part of token.split('.')) assert.equal(body.includes(part), false);
  });
});

describe('settings', () => {
  test('ALLOW_CLAIMLESS_TOKENS admits a token without the claim (but not a wrong claim)', async () => {
    const s = await startServer({
      enableAuth: true,
      jwtSecret: SECRET,
      allowClaimlessTokens: true,
    });
    try {
      assert.equal(await outcome('any', await signHs({}), s), 'admitted');
      assert.deepEqual(await outcome('any', await signHs({ rooms: ['other'] }), s), {
        ...Close.forbidden,
      });
    } finally {
      await s.close();
    }
  });

  test('JWT_ALG naming an algorithm without its key source stops the start', () => {
    const secret = 'x'.repeat(32);
    assert.throws(
      () => loadConfig({ ENABLE_AUTH: 'true', JWKS_URL: 'http://127.0.0.1/j', JWT_ALG: 'HS256' }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'JWT_ALG',
    );
    assert.throws(
      () => loadConfig({ ENABLE_AUTH: 'true', JWT_SECRET: secret, JWT_ALG: 'RS256,none' }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'JWT_ALG',
    );
    assert.throws(
      () => loadConfig({ ENABLE_AUTH: 'true', JWT_SECRET: secret, JWT_ALG: 'none' }),
      (e: unknown) => e instanceof ConfigError && e.setting === 'JWT_ALG',
    );
    assert.equal(
      loadConfig({ ENABLE_AUTH: 'true', JWT_SECRET: secret, JWT_ALG: 'HS512' }).config.jwtAlg[0],
      'HS512',
    );
  });

  test('with SUBPROTOCOL set, the required protocol is selected, never the token entry', async () => {
    const s = await startServer({ enableAuth: true, jwtSecret: SECRET, subprotocol: 'sb.v1' });
    try {
      const token = await signHs({ rooms: ['r'] });
      const c = await connect(s.url, {
        roomId: 'r',
        protocols: [`access_token.${token}`, 'sb.v1'],
      });
      assert.equal(c.ws.protocol, 'sb.v1');
      assert.equal(await admission(s, c), 'admitted');
      await c.close();
      // The token alone does not satisfy SUBPROTOCOL.
      const d = await connect(s.url, { roomId: 'r', protocols: [`access_token.${token}`] }).catch(
        (e: Error) => e,
      );
      assert.ok(d instanceof Error, 'handshake without the required protocol fails');
    } finally {
      await s.close();
    }
  });

  test('JWT_ALG pins the algorithm', async () => {
    const s = await startServer({ enableAuth: true, jwtSecret: SECRET, jwtAlg: ['HS512'] });
    try {
      assert.deepEqual(await outcome('r', await signHs({ rooms: ['r'] }), s), {
        ...Close.unauthorized,
      });
      assert.equal(
        await outcome('r', await signHs({ rooms: ['r'] }, { alg: 'HS512' }), s),
        'admitted',
      );
    } finally {
      await s.close();
    }
  });
});

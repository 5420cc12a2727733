/**
 * JWT admission with keys from a real JWKS endpoint (SPEC.md §10): RS256/ES256/EdDSA, the key
 * set fetched once (not per connection), refetched on an unknown kid (rotation), and an
 * endpoint that is down or hanging does not block tokens whose key is cached.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SignJWT, exportSPKI } from 'jose';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { JwksServer, makeKey, sign, type KeyPair } from './helpers/jwt.js';
import { connect, startServer, until, type TestServer } from './helpers/server.js';

const TTL = 400;
const claims = { rooms: ['room-*'] };

async function outcome(t: TestServer, token: string, roomId = 'room-1') {
  const c = await connect(t.url, { roomId, query: `token=${token}` });
  const started = Date.now();
  const result = await admission(t, c);
  const ms = Date.now() - started;
  if (result === 'admitted') await c.close();
  return { result, ms };
}

const signWith = (k: KeyPair, extra = {}) =>
  sign(claims, k.privateKey, { alg: k.alg, kid: k.kid, expIn: 600, ...extra });

describe('JWKS', () => {
  const jwks = new JwksServer();
  let rs: KeyPair, es: KeyPair, ed: KeyPair;
  let t: TestServer;

  before(
    async () => {
      [rs, es, ed] = await Promise.all([
        makeKey('RS256', 'rs-1'),
        makeKey('ES256', 'es-1'),
        makeKey('EdDSA', 'ed-1'),
      ]);
      jwks.keys = [rs.jwk, es.jwk, ed.jwk];
      const url = await jwks.start();
      t = await startServer({ enableAuth: true, jwksUrl: url, jwksCacheTtl: TTL });
    },
    { timeout: 30_000 },
  );
  after(
    async () => {
      await t.close();
      await jwks.stop().catch(() => undefined);
    },
    { timeout: 30_000 },
  );

  test('RS256, ES256 and EdDSA tokens are admitted; the key set is fetched once', async () => {
    await until(() => jwks.fetches === 1, 3000, 'warm-up fetch at start');
    for (const k of [rs, es, ed, rs, es, ed])
      assert.equal((await outcome(t, await signWith(k))).result, 'admitted', k.alg);
    assert.equal(jwks.fetches, 1, 'one fetch for six connections');
  });

  test('HS tokens never meet a JWKS key (no secret, not allowed): Unauthorized', async () => {
    const pem = await exportSPKI(rs.publicKey);
    for (const key of [new TextEncoder().encode(pem), new TextEncoder().encode('x'.repeat(40))]) {
      const token = await sign(claims, key, { alg: 'HS256', kid: rs.kid, expIn: 600 });
      assert.deepEqual((await outcome(t, token)).result, { ...Close.unauthorized });
    }
  });

  test('an algorithm outside the defaults (RS384) and a forged kid are refused', async () => {
    const rs384 = await makeKey('RS384', 'rs384');
    jwks.keys = [...jwks.keys, rs384.jwk];
    assert.deepEqual((await outcome(t, await signWith(rs384))).result, { ...Close.unauthorized });
    // Signed by a key that is not in the set, claiming the kid of one that is.
    const stranger = await makeKey('RS256', 'rs-1');
    assert.deepEqual((await outcome(t, await signWith(stranger))).result, {
      ...Close.unauthorized,
    });
    // A key embedded in the token's own header (jwk) is never trusted.
    const attacker = await makeKey('RS256', 'attacker');
    const embedded = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'attacker', jwk: attacker.jwk })
      .setExpirationTime('10m')
      .sign(attacker.privateKey);
    assert.deepEqual((await outcome(t, embedded)).result, { ...Close.unauthorized });
    jwks.keys = [rs.jwk, es.jwk, ed.jwk];
  });

  test('an unknown kid refetches the set: key rotation without restart', async () => {
    const rotated = await makeKey('ES256', 'es-2');
    jwks.keys = [rs.jwk, es.jwk, ed.jwk, rotated.jwk];
    const before = jwks.fetches;
    const token = await signWith(rotated);
    // A refetch happens at most once per cooldown (the TTL here), so retry within a bound.
    let result: Awaited<ReturnType<typeof outcome>>['result'] | undefined;
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      result = (await outcome(t, token)).result;
      if (result === 'admitted') break;
    }
    assert.equal(result, 'admitted');
    assert.ok(jwks.fetches > before, 'the set was fetched again');
  });

  test('JWKS endpoint down: tokens whose key is cached are still admitted, at once', async () => {
    const token = await signWith(es);
    assert.equal((await outcome(t, token)).result, 'admitted');
    await jwks.stop();
    const stoppedAt = Date.now();
    await until(() => Date.now() > stoppedAt + TTL * 2, 3000, 'cache older than its TTL');
    for (let i = 0; i < 3; i++) {
      const { result, ms } = await outcome(t, token);
      assert.equal(result, 'admitted');
      assert.ok(ms < 1000, `admitted in ${ms} ms`);
    }
    // A key that was never fetched cannot be had while the endpoint is down.
    const unknown = await makeKey('ES256', 'es-never');
    assert.deepEqual((await outcome(t, await signWith(unknown))).result, {
      ...Close.unauthorized,
    });
    assert.match(t.logs.text, /JWKS refresh failed; using cached keys/);
  });
});

test('JWKS endpoint hanging: cached keys admit without waiting for the fetch timeout', async () => {
  const jwks = new JwksServer();
  const k = await makeKey('RS256', 'rs-h');
  jwks.keys = [k.jwk];
  const url = await jwks.start();
  const t = await startServer({ enableAuth: true, jwksUrl: url, jwksCacheTtl: 200 });
  try {
    const token = await signWith(k);
    assert.equal((await outcome(t, token)).result, 'admitted');
    jwks.mode = 'hang';
    const fetches = jwks.fetches;
    const hungAt = Date.now();
    await until(() => Date.now() > hungAt + 300, 3000, 'cache older than its TTL');
    const { result, ms } = await outcome(t, token);
    assert.equal(result, 'admitted');
    assert.ok(ms < 1000, `admitted in ${ms} ms while the JWKS fetch hangs`);
    await until(() => jwks.fetches > fetches, 3000, 'background refresh started');
  } finally {
    await t.close();
    await jwks.stop();
  }
});

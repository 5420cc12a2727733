/**
 * JWT admission with keys from a real JWKS endpoint (SPEC.md §10): RS256/ES256/EdDSA, the key
 * set fetched once (not per connection), refetched on an unknown kid (rotation) at most once
 * per cooldown, and an endpoint that is down or hanging does not block tokens whose key is
 * cached.
 *
 * Each test has its own endpoint and server, and mocks Date (node:test): the cache TTL and the
 * refetch cooldown (jose's and ours read Date.now()) pass when the test advances the clock,
 * never while a test is running on a slow machine.
 */
import assert from 'node:assert/strict';
import { before, test, type TestContext } from 'node:test';
import { SignJWT, exportSPKI } from 'jose';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { JwksServer, makeKey, sign, type KeyPair } from './helpers/jwt.js';
import { connect, startServer, until, type TestServer } from './helpers/server.js';

/** JWKS_CACHE_TTL; the refetch cooldown is min(30 s, TTL) = 30 s. */
const TTL = 60_000;
const COOLDOWN = 30_000;
const claims = { rooms: ['room-*'] };

let rs: KeyPair, es: KeyPair, ed: KeyPair;
before(
  async () => {
    [rs, es, ed] = await Promise.all([
      makeKey('RS256', 'rs-1'),
      makeKey('ES256', 'es-1'),
      makeKey('EdDSA', 'ed-1'),
    ]);
  },
  { timeout: 30_000 },
);

interface Fixture {
  jwks: JwksServer;
  t: TestServer;
  /** Advance the mocked Date. */
  advance(ms: number): void;
}

/** A JWKS endpoint serving `keys`, a server using it, its warm-up fetch done; Date mocked. */
async function fixture(ctx: TestContext, keys = [rs.jwk, es.jwk, ed.jwk]): Promise<Fixture> {
  ctx.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const jwks = new JwksServer();
  jwks.keys = keys;
  const url = await jwks.start();
  ctx.after(() => jwks.stop(), { timeout: 30_000 });
  const t = await startServer({ enableAuth: true, jwksUrl: url, jwksCacheTtl: TTL });
  ctx.after(() => t.close(), { timeout: 30_000 });
  await until(() => jwks.fetches === 1, 5000, 'warm-up fetch at start');
  return { jwks, t, advance: (ms) => ctx.mock.timers.tick(ms) };
}

async function outcome(t: TestServer, token: string, roomId = 'room-1') {
  const c = await connect(t.url, { roomId, query: `token=${token}` });
  const result = await admission(t, c);
  if (result === 'admitted') await c.close();
  return result;
}

const signWith = (k: KeyPair, extra = {}) =>
  sign(claims, k.privateKey, { alg: k.alg, kid: k.kid, expIn: 600, ...extra });

test('RS256, ES256 and EdDSA tokens are admitted; the key set is fetched once', async (ctx) => {
  const { t, jwks } = await fixture(ctx);
  for (const k of [rs, es, ed, rs, es, ed])
    assert.equal(await outcome(t, await signWith(k)), 'admitted', k.alg);
  assert.equal(jwks.fetches, 1, 'one fetch for six connections');
});

test('HS tokens never meet a JWKS key (no secret, not allowed): Unauthorized', async (ctx) => {
  const { t } = await fixture(ctx);
  const pem = await exportSPKI(rs.publicKey);
  for (const key of [new TextEncoder().encode(pem), new TextEncoder().encode('x'.repeat(40))]) {
    const token = await sign(claims, key, { alg: 'HS256', kid: rs.kid, expIn: 600 });
    assert.deepEqual(await outcome(t, token), { ...Close.unauthorized });
  }
});

test('an algorithm outside the defaults (RS384), a forged kid and an embedded jwk are refused', async (ctx) => {
  const rs384 = await makeKey('RS384', 'rs384');
  const { t } = await fixture(ctx, [rs.jwk, es.jwk, ed.jwk, rs384.jwk]);
  assert.deepEqual(await outcome(t, await signWith(rs384)), { ...Close.unauthorized });
  // Signed by a key that is not in the set, claiming the kid of one that is.
  const stranger = await makeKey('RS256', 'rs-1');
  assert.deepEqual(await outcome(t, await signWith(stranger)), { ...Close.unauthorized });
  // A key embedded in the token's own header (jwk) is never trusted.
  const attacker = await makeKey('RS256', 'attacker');
  const embedded = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'attacker', jwk: attacker.jwk })
    .setExpirationTime('10m')
    .sign(attacker.privateKey);
  assert.deepEqual(await outcome(t, embedded), { ...Close.unauthorized });
});

test('an unknown kid refetches the set once the cooldown has passed: rotation without restart', async (ctx) => {
  const { t, jwks, advance } = await fixture(ctx);
  assert.equal(await outcome(t, await signWith(es)), 'admitted'); // warm-up stored
  const rotated = await makeKey('ES256', 'es-2');
  jwks.keys = [rs.jwk, es.jwk, ed.jwk, rotated.jwk];
  const token = await signWith(rotated);
  // Within the cooldown after the last fetch, an unknown kid fetches nothing (random kids
  // cannot hammer the endpoint) and is refused.
  assert.deepEqual(await outcome(t, token), { ...Close.unauthorized });
  assert.equal(jwks.fetches, 1);
  advance(COOLDOWN);
  assert.equal(await outcome(t, token), 'admitted');
  assert.equal(jwks.fetches, 2, 'exactly one refetch');
});

test('JWKS endpoint down: tokens whose key is cached are still admitted; an unseen key is not', async (ctx) => {
  const { t, jwks, advance } = await fixture(ctx);
  const token = await signWith(es);
  assert.equal(await outcome(t, token), 'admitted');
  await jwks.stop();
  advance(TTL); // the cache is stale: the next verification triggers a refresh, which fails
  for (let i = 0; i < 3; i++) assert.equal(await outcome(t, token), 'admitted');
  await until(() => /JWKS refresh failed; using cached keys/.test(t.logs.text), 5000, 'log');
  // A key that was never fetched cannot be had while the endpoint is down.
  const unknown = await makeKey('ES256', 'es-never');
  advance(COOLDOWN);
  assert.deepEqual(await outcome(t, await signWith(unknown)), { ...Close.unauthorized });
});

test('JWKS endpoint hanging: cached keys admit while the refresh is still unanswered', async (ctx) => {
  const k = await makeKey('RS256', 'rs-h');
  const { t, jwks, advance } = await fixture(ctx, [k.jwk]);
  const token = await signWith(k);
  assert.equal(await outcome(t, token), 'admitted');
  jwks.mode = 'hang';
  advance(TTL); // stale: the next verification starts a background refresh, which hangs
  assert.equal(await outcome(t, token), 'admitted');
  // The refresh that admission started has reached the endpoint and is still held open: the
  // admission above did not wait for it.
  await until(() => jwks.fetches === 2, 5000, 'background refresh started');
  assert.equal(jwks.hangingCount, 1);
  assert.equal(await outcome(t, token), 'admitted');
  assert.equal(jwks.fetches, 2, 'one refresh at a time');
});

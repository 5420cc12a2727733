/**
 * SPEC.md §1: every admission row, its close code and reason, and the order of the checks.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { FailingJoinBackend, GatedJoinBackend, OpenCircuitBackend } from './helpers/backends.js';
import { RedisServer } from './helpers/redis.js';
import { connect, join, startServer, until, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const s = await startServer(...args);
  servers.push(s);
  return s;
}
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

async function refusedWith(
  t: TestServer,
  opts: Parameters<typeof connect>[1],
  expected: { code: number; reason: string },
): Promise<void> {
  const c = await connect(t.url, opts);
  assert.deepEqual(await c.closed, expected);
}

async function refusals(t: TestServer, reason: string): Promise<number> {
  const m = await t.server.metrics.admissionRefusals.get();
  return m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('admission rows', () => {
  test('1. circuit breaker open → 1013 "Service unavailable"', async () => {
    const t = await server({}, { backend: new OpenCircuitBackend() });
    await refusedWith(t, { roomId: 'r' }, Close.serviceUnavailable);
    assert.equal(await refusals(t, 'circuit-open'), 1);
  });

  test('2. connection rate per IP → 1013 "Rate limited", every attempt counts', async () => {
    const t = await server({ rateLimitConnPer10s: 3 });
    // Failed attempts (invalid roomId) count too.
    await refusedWith(t, { roomId: 'bad room' }, Close.invalidRoomId);
    const a = await join(t, 'rate');
    const b = await join(t, 'rate');
    await refusedWith(t, { roomId: 'rate' }, Close.rateLimited);
    // The limit is checked before the roomId: an invalid roomId is now also rate limited.
    await refusedWith(t, { roomId: 'bad room' }, Close.rateLimited);
    assert.equal(await refusals(t, 'rate-limited'), 2);
    await a.close();
    await b.close();
  });

  test('3. roomId missing, invalid or too long → 1008 "Invalid roomId"', async () => {
    const t = await server({ roomIdMaxLength: 8 });
    await refusedWith(t, {}, Close.invalidRoomId);
    await refusedWith(t, { roomId: '' }, Close.invalidRoomId);
    await refusedWith(t, { roomId: 'a/b' }, Close.invalidRoomId);
    await refusedWith(t, { roomId: 'späce' }, Close.invalidRoomId);
    await refusedWith(t, { roomId: '123456789' }, Close.invalidRoomId);
    const ok = await join(t, 'A-z_0:.9');
    assert.equal(t.server.hub.get('A-z_0:.9')?.peers.size, 1);
    await ok.close();
  });

  test('4. Origin not allowed → 1008 "Origin not allowed"', async () => {
    const t = await server({ allowedOrigins: ['https://app.example.com', 'demo.example.org'] });
    await refusedWith(
      t,
      { roomId: 'o', origin: 'https://evil.example.com' },
      Close.originNotAllowed,
    );
    await refusedWith(
      t,
      { roomId: 'o', origin: 'https://app.example.com.evil.io' },
      Close.originNotAllowed,
    );
    await refusedWith(t, { roomId: 'o', origin: 'http://app.example.com' }, Close.originNotAllowed);
    await refusedWith(t, { roomId: 'o' }, Close.originNotAllowed);
    const a = await join(t, 'o', { origin: 'https://app.example.com' });
    const b = await join(t, 'o', { origin: 'http://demo.example.org:8080' });
    a.send({ type: 'offer', sdp: 'x' });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'x' });
    await a.close();
    await b.close();
  });

  test('5. SUBPROTOCOL required → 1008 "Subprotocol required"; selected when offered', async () => {
    const t = await server({ subprotocol: 'switchboard.v1' });
    await refusedWith(t, { roomId: 's' }, Close.subprotocolRequired);
    // Offering other protocols: the handshake completes (one of them echoed), then 1008.
    await refusedWith(t, { roomId: 's', protocols: ['other'] }, Close.subprotocolRequired);
    await refusedWith(
      t,
      { roomId: 's', protocols: ['access_token.abc', 'chat', 'x'] },
      Close.subprotocolRequired,
    );
    const c = await join(t, 's', { protocols: ['other', 'switchboard.v1'] });
    assert.equal(c.ws.protocol, 'switchboard.v1');
    assert.equal(t.server.hub.get('s')?.peers.size, 1);
    await c.close();
  });

  test('6. REQUIRE_WSS on plain ws → 1008 "WSS required"; X-Forwarded-Proto only with TRUST_PROXY', async () => {
    const t = await server({ requireWss: true });
    await refusedWith(t, { roomId: 'w' }, Close.wssRequired);
    await refusedWith(
      t,
      { roomId: 'w', headers: { 'x-forwarded-proto': 'https' } },
      Close.wssRequired,
    );
    const p = await server({ requireWss: true, trustProxy: true });
    const c = await join(p, 'w', { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(p.server.hub.get('w')?.peers.size, 1);
    await c.close();
  });

  test('8. room at capacity → 1000 "Room is full"', async () => {
    const t = await server({ roomCapacity: 2 });
    const a = await join(t, 'full');
    const b = await join(t, 'full');
    await refusedWith(t, { roomId: 'full' }, Close.roomFull);
    await b.close();
    await until(() => t.server.hub.get('full')?.peers.size === 1);
    const c = await join(t, 'full');
    assert.equal(t.server.hub.get('full')?.peers.size, 2);
    await a.close();
    await c.close();
  });

  test('9. backend failure while joining → 1011 "Internal error"', async () => {
    const t = await server({}, { backend: new FailingJoinBackend() });
    await refusedWith(t, { roomId: 'r' }, Close.internalError);
  });

  test('9. (real Redis) Redis gone, circuit still closed: the join fails → 1011 "Internal error"', async () => {
    const redis = await RedisServer.start();
    try {
      const t = await server({ redisUrl: redis.url, cbErrorThreshold: 3 });
      assert.equal(t.server.backend.kind, 'redis');
      const ok = await join(t, 'r');
      await ok.close();
      await redis.kill();
      // Failures below CB_ERROR_THRESHOLD leave the circuit closed: each join is tried, fails
      // at once (no offline queue) and is refused 1011.
      await refusedWith(t, { roomId: 'r' }, Close.internalError);
      assert.equal(t.server.backend.circuitOpen, false);
      assert.equal(await refusals(t, 'backend-error'), 1);
    } finally {
      await redis.stop();
    }
  });
});

describe('admission order and refusal side effects', () => {
  test('the first failing check decides, in SPEC order', async () => {
    const t = await server({
      allowedOrigins: ['https://ok.example'],
      subprotocol: 'sp',
      requireWss: true,
    });
    // Invalid roomId and bad origin: roomId (3) comes before origin (4).
    await refusedWith(t, { roomId: 'bad room', origin: 'https://no.example' }, Close.invalidRoomId);
    // Bad origin and no subprotocol: origin (4) before subprotocol (5).
    await refusedWith(t, { roomId: 'r', origin: 'https://no.example' }, Close.originNotAllowed);
    // No subprotocol and plain ws: subprotocol (5) before WSS (6).
    await refusedWith(t, { roomId: 'r', origin: 'https://ok.example' }, Close.subprotocolRequired);
    await refusedWith(
      t,
      { roomId: 'r', origin: 'https://ok.example', protocols: 'sp' },
      Close.wssRequired,
    );
  });

  test('each refusal is logged once, without the query string', async () => {
    const t = await server();
    await refusedWith(
      t,
      { roomId: 'bad room', query: 'token=secret-token-value' },
      Close.invalidRoomId,
    );
    await until(() => t.logs.lines.some((l) => l.includes('connection refused')));
    const refusalsLogged = t.logs.lines.filter((l) => l.includes('connection refused'));
    assert.equal(refusalsLogged.length, 1);
    assert.ok(!t.logs.text.includes('secret-token-value'));
    assert.match(refusalsLogged[0]!, /"reason":"Invalid roomId"/);
  });

  test('messages sent during admission are processed, in order, once admitted', async () => {
    const backend = new GatedJoinBackend();
    const t = await server({}, { backend });
    const receiver = await join(t, 'gated');
    backend.hold = true;
    const sender = await connect(t.url, { roomId: 'gated' });
    await until(() => backend.joinsWaiting === 1, 2000, 'the held join');
    const sent = [1, 2, 3, 4, 5].map((i) => ({ type: 'control', action: `m${i}` }));
    await Promise.all(
      sent.map(
        (m) => new Promise<void>((resolve) => sender.ws.send(JSON.stringify(m), () => resolve())),
      ),
    );
    // A round trip through the same event loop: the frames were read before it answers.
    assert.equal((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status, 200);
    assert.equal(receiver.buffered.length, 0);
    backend.release();
    for (const m of sent) assert.deepEqual(await receiver.next(), m);
    await sender.close();
    await receiver.close();
  });
});

/**
 * Hostile handshakes on a real server: oversized request heads, slowloris (the pending
 * handshake cap and the handshake timeout), a connection flood from one IP, and forged
 * X-Forwarded-For without TRUST_PROXY. The server keeps serving others afterwards.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { rawUpgrade } from './helpers/raw-ws.js';
import { connect, join, startServer, until, type TestServer } from './helpers/server.js';

async function assertServing(t: TestServer, opts = {}): Promise<void> {
  const roomId = `ok-${Math.random().toString(36).slice(2)}`;
  const x = await join(t, roomId, opts);
  const y = await join(t, roomId, opts);
  x.send({ type: 'offer', sdp: 'serving' });
  assert.deepEqual(await y.next(), { type: 'offer', sdp: 'serving' });
  await x.close();
  await y.close();
}

test('a 64 KB URL and 200 large headers get 431; 200 small headers are fine', async () => {
  const t = await startServer();
  try {
    const longUrl = await rawUpgrade(t.port, `/?roomId=r&pad=${'a'.repeat(64 * 1024)}`);
    assert.equal(longUrl.status, 431);
    longUrl.socket.destroy();

    const big: Record<string, string> = {};
    for (let i = 0; i < 200; i++) big[`X-Pad-${i}`] = 'b'.repeat(100);
    const bigHeaders = await rawUpgrade(t.port, '/?roomId=r', { headers: big });
    assert.equal(bigHeaders.status, 431);
    bigHeaders.socket.destroy();

    const small: Record<string, string> = {};
    for (let i = 0; i < 200; i++) small[`X-Pad-${i}`] = String(i);
    const smallHeaders = await rawUpgrade(t.port, '/?roomId=small', { headers: small });
    assert.equal(smallHeaders.status, 101);
    await until(() => t.server.hub.get('small') !== undefined, 2000, 'admitted');
    smallHeaders.socket.destroy();
    await assertServing(t);
  } finally {
    await t.close();
  }
});

test('slowloris: pending handshakes are capped and timed out, then service resumes', async () => {
  const cap = 5;
  const t = await startServer({ maxPendingUpgrades: cap, handshakeTimeoutMs: 400 });
  const sockets: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const closedAt: number[] = [];
    const started = Date.now();
    for (let i = 0; i < cap; i++) {
      const s = net.connect(t.port, '127.0.0.1');
      sockets.push(s);
      s.on('error', () => undefined);
      s.on('close', () => closedAt.push(Date.now() - started));
      s.on('connect', () => {
        // Socket 0 connects and then neither sends nor reads: the server must still let go
        // of it (not wait for it to read the 408). The others trickle header lines: even
        // "slow but steady" bytes must not keep a handshake alive.
        if (i === 0) return;
        s.resume();
        s.write('GET /?roomId=slow HTTP/1.1\r\nHost: x\r\n');
        timers.push(setInterval(() => s.writable && s.write(`X-Slow-${i}: 1\r\n`), 50));
      });
    }
    await until(() => t.server.pendingHandshakes === cap, 2000, 'all slow sockets accepted');

    // At the cap: a new connection is refused at once with 503, counted in metrics.
    const refused = new WebSocket(`${t.url}/?roomId=r`);
    const err = await new Promise<Error>((resolve) => refused.once('error', resolve));
    assert.match(err.message, /503/);
    assert.match(
      await t.server.metrics.registry.metrics(),
      /signaling_admission_refusals_total\{reason="pending-upgrades"\} 1/,
    );

    // The timeout drops every slow socket (idle or trickling) within a bound.
    await until(() => t.server.pendingHandshakes === 0, 3000, 'server let go of every slow socket');
    const dropped = Date.now() - started;
    assert.ok(dropped < 2000, `dropped after ${dropped} ms`);
    await until(() => closedAt.length === cap - 1, 3000, 'reading clients saw the close');
    assert.ok(Math.min(...closedAt) >= 300, 'not before the handshake timeout');
    await assertServing(t);
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const s of sockets) s.destroy();
    await t.close();
  }
});

test('a connection flood from one IP is rate limited; other IPs are served', async () => {
  const t = await startServer({ rateLimitConnPer10s: 5 });
  try {
    const clients = await Promise.all(
      Array.from({ length: 20 }, () => connect(t.url, { roomId: 'flood' })),
    );
    const outcomes = await Promise.all(clients.map((c) => admission(t, c)));
    const admitted = outcomes.filter((o) => o === 'admitted').length;
    const limited = outcomes.filter(
      (o) =>
        typeof o === 'object' &&
        o.code === Close.rateLimited.code &&
        o.reason === Close.rateLimited.reason,
    ).length;
    assert.equal(admitted, 5);
    assert.equal(limited, 15);
    // Another client IP (127.0.0.2 is loopback too) is not affected.
    await assertServing(t, { localAddress: '127.0.0.2' });
    // The admitted ones still work.
    const open = clients.filter((_, i) => outcomes[i] === 'admitted');
    open[0]!.send({ type: 'offer', sdp: 'x' });
    assert.deepEqual(await open[1]!.next(), { type: 'offer', sdp: 'x' });
    for (const c of open) await c.close();
  } finally {
    await t.close();
  }
});

test('without TRUST_PROXY a forged X-Forwarded-For does not dodge the per-IP limit', async () => {
  const t = await startServer({ rateLimitConnPer10s: 3 });
  try {
    const outcomes = [];
    for (let i = 0; i < 6; i++) {
      const c = await connect(t.url, {
        roomId: 'xff',
        headers: { 'x-forwarded-for': `203.0.113.${i}` },
      });
      outcomes.push(await admission(t, c));
    }
    assert.deepEqual(outcomes.slice(3), [
      { ...Close.rateLimited },
      { ...Close.rateLimited },
      { ...Close.rateLimited },
    ]);
    assert.ok(!t.logs.text.includes('203.0.113.'), 'the forged address is not the client IP');
    assert.match(t.logs.text, /"ip":"127\.0\.0\.1"/);
  } finally {
    await t.close();
  }
});

test('with TRUST_PROXY the last X-Forwarded-For entry is the client IP; a non-IP is ignored', async () => {
  const t = await startServer({ trustProxy: true });
  try {
    for (const xff of ['198.51.100.7, 203.0.113.9', 'not-an-ip', '::ffff:192.0.2.4']) {
      const c = await connect(t.url, { roomId: 'tp', headers: { 'x-forwarded-for': xff } });
      assert.equal(await admission(t, c), 'admitted');
      await c.close();
    }
    const ips = t.logs.lines
      .map((l) => JSON.parse(l) as { msg: string; ip?: string })
      .filter((l) => l.msg === 'peer joined')
      .map((l) => l.ip);
    assert.deepEqual(ips, ['203.0.113.9', '127.0.0.1', '192.0.2.4']);
  } finally {
    await t.close();
  }
});

/**
 * Memory bounded per connection at every stage (issue 10 §2): frames held during admission are
 * capped by bytes (RSS of the real server process measured), refused and overloaded sockets are
 * let go promptly and give their connection slots back at once, and per-IP limits count an
 * IPv6 client by its /64.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { CLOSE_GRACE_MS } from '../src/server/close-grace.js';
import { admission } from './helpers/admission.js';
import { JwksServer, makeKey, sign } from './helpers/jwt.js';
import { NodeProcess } from './helpers/node-process.js';
import { FrameReader, rawUpgrade } from './helpers/raw-ws.js';
import {
  TestClient,
  connect,
  join,
  startServer,
  until,
  type TestServer,
} from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())));
async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const t = await startServer(...args);
  servers.push(t);
  return t;
}

/** Peak and current resident set of a process, in MiB (Linux /proc). */
function rss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)![1]);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

describe('frames held while admission is pending', () => {
  test('are capped by bytes: 115 MiB sent to a pending socket raise the RSS by far less', async () => {
    const jwks = new JwksServer();
    const key = await makeKey('RS256', 'k1');
    const url = await jwks.start();
    // JWKS_CACHE_TTL=1: the token's kid makes the server refetch the key set at once; that
    // fetch hangs (5 s timeout), holding this client's admission pending while it sends.
    const node = await NodeProcess.start({
      ENABLE_AUTH: 'true',
      JWKS_URL: url,
      JWKS_CACHE_TTL: '1',
      MESSAGE_MAX_BYTES: '65536',
      MAX_FRAME_BYTES: '1048576',
    });
    try {
      const token = await sign({ rooms: ['*'] }, key.privateKey, {
        alg: 'RS256',
        kid: 'k1',
        expIn: 600,
      });
      jwks.mode = 'hang';
      const before = rss(node.proc.pid!);
      const c = new TestClient(new WebSocket(`${node.url}/?roomId=mem&token=${token}`));
      await c.opened;
      const big = Buffer.alloc(1024 * 1024 - 64, 0x61); // over MESSAGE_MAX_BYTES, under the frame cap
      for (let i = 0; i < 100; i++) c.ws.send(big);
      const small = Buffer.alloc(60 * 1024, 0x62); // under MESSAGE_MAX_BYTES: 256 of them = 15 MiB
      for (let i = 0; i < 256; i++) c.ws.send(small);
      // The pong comes after the server has read every frame sent before the ping.
      const pong = new Promise<string>((resolve) => c.ws.once('pong', () => resolve('pong')));
      c.ws.ping();
      const outcome = await Promise.race([pong, c.closed.then((cl) => `closed ${cl.code}`)]);
      assert.equal(outcome, 'pong', 'the server read everything while admission was pending');
      const after = rss(node.proc.pid!);
      const grew = after.peak - before.now;
      console.log(
        `pending socket: RSS ${before.now.toFixed(0)} MiB before, peak ${after.peak.toFixed(0)} MiB (+${grew.toFixed(0)})`,
      );
      assert.ok(grew < 75, `RSS peak grew by ${grew.toFixed(0)} MiB`);
      c.ws.terminate();
    } finally {
      await node.kill();
      await jwks.stop();
    }
  });
});

/** A raw client refused by the server that never answers its close frame. */
async function refusedAndSilent(t: TestServer, path: string) {
  const raw = await rawUpgrade(t.port, path);
  assert.equal(raw.status, 101);
  const reader = new FrameReader(raw.socket, raw.rest);
  const ended = new Promise<number>((resolve) =>
    raw.socket.once('close', () => resolve(Date.now())),
  );
  return { raw, reader, ended };
}

describe('refused and overloaded sockets', () => {
  test('refused sockets still closing do not count against MAX_CONNECTIONS_PER_IP', async () => {
    const t = await serve({ maxConnectionsPerIp: 3, maxConnections: 5 });
    const silent = [];
    for (let i = 0; i < 10; i++) {
      const s = await refusedAndSilent(t, '/?roomId=bad%20room');
      assert.deepEqual(await s.reader.closed, Close.invalidRoomId);
      silent.push(s);
    }
    // Ten refused sockets have not finished closing (they never answer); real clients get in.
    assert.ok(silent.every((s) => !s.raw.socket.destroyed));
    const a = await join(t, 'lockout');
    const b = await join(t, 'lockout');
    assert.equal(await admission(t, a), 'admitted');
    assert.equal(await admission(t, b), 'admitted');
    for (const s of silent) s.raw.socket.destroy();
    await a.close();
    await b.close();
  });

  test(`a refused socket that never answers the close is dropped after the ${CLOSE_GRACE_MS} ms grace, not ws's 30 s`, async () => {
    const t = await serve();
    const s = await refusedAndSilent(t, '/?roomId=bad%20room');
    const refusedAt = Date.now();
    assert.deepEqual(await s.reader.closed, Close.invalidRoomId);
    const ended = await Promise.race([
      s.ended,
      new Promise<number>((r) => setTimeout(() => r(0), 10_000)),
    ]);
    assert.ok(ended > 0, 'the server dropped the socket within 10 s');
    assert.ok(ended - refusedAt >= CLOSE_GRACE_MS - 100, 'not before the grace');
  });

  test('a receiver that stops reading is closed 1013 and its socket released within the grace', async () => {
    const t = await serve({ maxConnectionsPerIp: 100 });
    const sender = await join(t, 'slow');
    const raw = await rawUpgrade(t.port, '/?roomId=slow');
    await until(() => t.server.hub.get('slow')?.peers.size === 2);
    raw.socket.pause(); // never reads again: the kernel buffers fill, then the server's
    const closedSockets = () => t.server.connectionCount;
    const chunk = JSON.stringify({ type: 'offer', sdp: 'x'.repeat(60_000) });
    const overloaded = async () =>
      ((await t.server.metrics.backpressureCloses.get()).values[0]?.value ?? 0) > 0;
    for (let i = 0; i < 2000 && !(await overloaded()); i++) {
      sender.send(chunk);
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    assert.ok(await overloaded(), 'the receiver was closed for backpressure');
    const overloadedAt = Date.now();
    // The close frame waits behind megabytes the receiver never reads; the grace ends it.
    await until(() => closedSockets() === 1, 10_000, 'overloaded socket released');
    const took = Date.now() - overloadedAt;
    console.log(`overloaded socket released ${took} ms after its 1013`);
    assert.ok(took < CLOSE_GRACE_MS + 3000, `released after ${took} ms`);
    raw.socket.destroy();
    await sender.close();
  });
});

describe('per-IP limits and IPv6', () => {
  test('clients rotating addresses within one /64 share MAX_CONNECTIONS_PER_IP', async () => {
    const t = await serve({ trustProxy: true, maxConnectionsPerIp: 2 });
    const from = (ip: string) => ({ roomId: 'v6', headers: { 'x-forwarded-for': ip } });
    const a = await connect(t.url, from('2001:db8::1'));
    const b = await connect(t.url, from('2001:db8::ffff:2'));
    assert.equal(await admission(t, a), 'admitted');
    assert.equal(await admission(t, b), 'admitted');
    const c = await connect(t.url, from('2001:db8:0:0:1234::3'));
    assert.deepEqual(await c.closed, Close.tooManyConnections);
    // Another /64 is another client.
    const d = await connect(t.url, from('2001:db8:0:1::1'));
    assert.equal(await admission(t, d), 'admitted');
    for (const x of [a, b, d]) await x.close();
  });

  test('IPV6_PREFIX_LENGTH=128 keys on the full address', async () => {
    const t = await serve({ trustProxy: true, maxConnectionsPerIp: 1, ipv6PrefixLength: 128 });
    const from = (ip: string) => ({ roomId: 'v6-full', headers: { 'x-forwarded-for': ip } });
    const a = await connect(t.url, from('2001:db8::1'));
    const b = await connect(t.url, from('2001:db8::2'));
    assert.equal(await admission(t, a), 'admitted');
    assert.equal(await admission(t, b), 'admitted');
    await a.close();
    await b.close();
  });
});

/**
 * Memory bounded per connection at every stage (issue 10 §2): frames held during admission are
 * capped by bytes (RSS measured after a full GC), refused and overloaded sockets are
 * let go promptly and give their connection slots back at once, and per-IP limits count an
 * IPv6 client by its /64.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import { after, describe, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { CLOSE_GRACE_MS } from '../src/server/close-grace.js';
import { admission } from './helpers/admission.js';
import { GatedJoinBackend } from './helpers/backends.js';
import { ROOT } from './helpers/process.js';
import { FrameReader, rawUpgrade } from './helpers/raw-ws.js';
import { connect, join, startServer, until, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });
async function serve(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const t = await startServer(...args);
  servers.push(t);
  return t;
}

v8.setFlagsFromString('--expose-gc');
const fullGc = vm.runInNewContext('gc') as () => void;
/** A full GC, twice, with a turn between: buffer memory is swept concurrently, after the GC. */
async function gc(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    fullGc();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A client process: opens URL, sends 100 frames of 1 MiB (over MESSAGE_MAX_BYTES, under the
 * frame cap) and 256 of 60 KiB (under it: 15 MiB), then pings; the pong comes after the server
 * has read every frame. Exits 0 on the pong, 1 if the connection closes first.
 */
const FLOOD_CLIENT = `
import { WebSocket } from 'ws';
const ws = new WebSocket(process.env.URL);
ws.on('open', () => {
  const big = Buffer.alloc(1024 * 1024 - 64, 0x61);
  for (let i = 0; i < 100; i++) ws.send(big);
  const small = Buffer.alloc(60 * 1024, 0x62);
  for (let i = 0; i < 256; i++) ws.send(small);
  ws.ping();
});
ws.on('pong', () => process.exit(0));
ws.on('close', () => process.exit(1));
ws.on('error', () => process.exit(1));
`;

/** This process's resident set now and its peak, MiB (Linux). */
function status(): { now: number; peak: number } {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)![1]);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Reset the peak (VmHWM) to the current RSS (Linux: write 5 to clear_refs). */
function resetPeak(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}

describe('frames held while admission is pending', () => {
  test('are capped by bytes: 115 MiB sent to a pending socket raise the RSS peak by far less', async () => {
    // The join waits until released: admission stays pending however slow the machine is.
    const backend = new GatedJoinBackend();
    backend.hold = true;
    const t = await serve({ messageMaxBytes: 65536, maxFrameBytes: 1024 * 1024 }, { backend });
    await gc();
    const before = status();
    resetPeak();
    // The client is another process, so this process's memory is the server's alone.
    const client = spawn(process.execPath, ['--input-type=module', '-e', FLOOD_CLIENT], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', URL: `${t.url}/?roomId=mem` },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [code] = (await once(client, 'exit')) as [number | null];
    assert.equal(code, 0, 'the client sent everything and got the pong');
    assert.equal(backend.joinsWaiting, 1, 'admission still pending');
    const peak = status().peak - before.now;
    console.log(`pending socket, 115 MiB sent: RSS peak +${peak.toFixed(0)} MiB`);
    assert.ok(peak < 75, `RSS peak grew by ${peak.toFixed(0)} MiB`);
    backend.release();
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
    // Three refused sockets that never answer the close: on their own they fill the IP's slots.
    const silent = [];
    for (let i = 0; i < 3; i++) {
      const s = await refusedAndSilent(t, '/?roomId=bad%20room');
      assert.deepEqual(await s.reader.closed, Close.invalidRoomId);
      silent.push(s);
    }
    const a = await connect(t.url, { roomId: 'lockout' });
    // Checked before the grace could have ended them: they are still there, and a got in.
    assert.ok(
      silent.every((s) => !s.raw.socket.destroyed),
      'refused sockets still open',
    );
    assert.equal(await admission(t, a), 'admitted');
    for (const s of silent) s.raw.socket.destroy();
    await a.close();
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

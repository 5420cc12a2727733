/**
 * SPEC.md §6: per-client token bucket, per-IP and per-room message limits, and backpressure.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { kernelBufferBound } from './helpers/socket-buffers.js';
import { join, startServer, until, type TestClient, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

async function drops(t: TestServer, limit: string): Promise<number> {
  const m = await t.server.metrics.rateLimitDrops.get();
  return m.values.find((v) => v.labels.limit === limit)?.value ?? 0;
}

/** Send n numbered messages, then wait until `to` has `expected` of them (and an end marker). */
async function burst(from: TestClient, to: TestClient, n: number): Promise<number[]> {
  for (let i = 0; i < n; i++) from.send({ type: 'control', action: 'n', payload: i });
  const got: number[] = [];
  // The end marker itself may be dropped by the limit; probe from `to` instead.
  to.send({ type: 'control', action: 'probe' });
  await from.next(); // the probe reached `from`: the server has handled every frame before it
  while (to.buffered.length > 0) got.push((await to.next()) as never);
  return got.map((m) => (m as unknown as { payload: number }).payload);
}

describe('message rate limits', () => {
  test('per client: token bucket of RATE_LIMIT_MESSAGES_PER_10S, excess dropped silently and counted', async () => {
    const t = await startServer({ rateLimitMessagesPer10s: 10 });
    servers.push(t);
    const a = await join(t, 'bucket');
    const b = await join(t, 'bucket');
    const got = await burst(a, b, 25);
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(await drops(t, 'client'), 15);
    assert.equal(a.ws.readyState, a.ws.OPEN);
    await a.close();
    await b.close();
  });

  test('per client: the bucket refills continuously', async () => {
    let now = 1_000_000;
    const t = await startServer({ rateLimitMessagesPer10s: 10 }, { now: () => now });
    servers.push(t);
    const a = await join(t, 'refill');
    const b = await join(t, 'refill');
    assert.equal((await burst(a, b, 12)).length, 10);
    now += 1000; // 10 per 10 s → one token per second
    assert.deepEqual(await burst(a, b, 3), [0]);
    now += 5000;
    assert.equal((await burst(a, b, 8)).length, 5);
    await a.close();
    await b.close();
  });

  test('per IP: RATE_LIMIT_IP_MSGS_PER_10S across all connections of one IP', async () => {
    const t = await startServer({ rateLimitIpMsgsPer10s: 12, rateLimitMessagesPer10s: 100 });
    servers.push(t);
    const a1 = await join(t, 'ip1');
    const a2 = await join(t, 'ip2');
    // Receivers connect from another loopback address, so their probes are another IP's.
    const b1 = await join(t, 'ip1', { localAddress: '127.0.0.2' });
    const b2 = await join(t, 'ip2', { localAddress: '127.0.0.2' });
    const first = await burst(a1, b1, 8);
    const second = await burst(a2, b2, 8);
    assert.deepEqual(first, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(second, [0, 1, 2, 3]);
    assert.equal(await drops(t, 'ip'), 4);
    await Promise.all([a1, a2, b1, b2].map((c) => c.close()));
  });

  test('per room: RATE_LIMIT_ROOM_MSGS_PER_10S across all senders of one room', async () => {
    const t = await startServer({ rateLimitRoomMsgsPer10s: 10 });
    servers.push(t);
    const [a, b, c] = [await join(t, 'room'), await join(t, 'room'), await join(t, 'room')];
    for (let i = 0; i < 6; i++) a.send({ type: 'control', action: 'a', payload: i });
    for (let i = 0; i < 6; i++) b.send({ type: 'control', action: 'b', payload: i });
    for (let i = 0; i < 10; i++) await c.next();
    await until(async () => (await drops(t, 'room')) === 2, 2000, 'two room drops');
    // Another room is unaffected.
    const x = await join(t, 'other-room');
    const y = await join(t, 'other-room');
    x.send({ type: 'offer', sdp: 'fine' });
    assert.deepEqual(await y.next(), { type: 'offer', sdp: 'fine' });
    assert.equal(c.buffered.length, 0);
    assert.equal(await drops(t, 'room'), 2);
    await Promise.all([a, b, c, x, y].map((cl) => cl.close()));
  });
});

describe('backpressure', () => {
  // Deterministic by construction, on any kernel:
  // - The sender waits until `fast` has each message before sending the next, so `fast` never
  //   has more than one message in flight. (A burst let the server forward many frames in one
  //   tick while `fast`, in this same process, could not read: it was closed too, and the test
  //   waited forever for messages that never came.)
  // - `slow` stops reading; the kernel absorbs up to kernelBufferBound() bytes (its maxima, read
  //   from /proc), then the server's own buffer grows. The test sends until the server closes
  //   `slow`, and fails if that takes more than the kernel bound plus the threshold.
  test('a receiver that stops reading is closed with 1013 "Server overloaded" once the kernel buffers and the threshold are full; the others get every message', async () => {
    const threshold = 4 * 1024 * 1024;
    const sdp = 'x'.repeat(1024 * 1024);
    const t = await startServer({
      backpressureCloseThresholdBytes: threshold,
      messageMaxBytes: 2 * 1024 * 1024,
      maxFrameBytes: 2 * 1024 * 1024,
    });
    servers.push(t);
    const sender = await join(t, 'bp');
    const fast = await join(t, 'bp');
    const slow = await join(t, 'bp');
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause(); // stops reading: the kernel buffers fill, then the server's

    const maxMessages = Math.ceil((kernelBufferBound() + threshold) / sdp.length) + 2;
    const room = () => t.server.hub.get('bp')?.peers.size;
    let sent = 0;
    while (room() === 3) {
      assert.ok(
        sent < maxMessages,
        `slow receiver still open after ${sent} MiB (bound ${maxMessages} MiB)`,
      );
      sender.send({ type: 'offer', sdp, n: sent });
      const m = (await fast.next(10_000)) as { type: string; sdp: string };
      assert.equal(m.type, 'offer');
      assert.equal(m.sdp.length, sdp.length);
      sent++;
    }
    assert.equal(room(), 2);
    assert.equal((await t.server.metrics.backpressureCloses.get()).values[0]?.value, 1);
    assert.deepEqual(await fast.next(), { type: 'peer-disconnected' });
    // The others are unaffected: the next message still reaches `fast`.
    sender.send({ type: 'answer', sdp: 'after' });
    assert.deepEqual(await fast.next(10_000), { type: 'answer', sdp: 'after' });
    assert.equal(fast.ws.readyState, fast.ws.OPEN);
    assert.equal(sender.ws.readyState, sender.ws.OPEN);
    socket.resume();
    assert.deepEqual(await slow.closed, Close.serverOverloaded);
    await sender.close();
    await fast.close();
  });
});

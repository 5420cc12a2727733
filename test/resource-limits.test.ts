/**
 * Per-process resource limits: MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP, MAX_ROOMS. Each refusal
 * closes 1013 with its reason and is counted in signaling_admission_refusals_total{reason}.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { admission } from './helpers/admission.js';
import { GatedJoinBackend } from './helpers/backends.js';
import { RedisServer } from './helpers/redis.js';
import { connect, startServer, until, type TestServer } from './helpers/server.js';

async function tryJoin(t: TestServer, roomId: string, opts = {}) {
  const c = await connect(t.url, { roomId, ...opts });
  return { c, result: await admission(t, c) };
}

const refusals = async (t: TestServer, reason: string) => {
  const m = new RegExp(`signaling_admission_refusals_total\\{reason="${reason}"\\} (\\d+)`).exec(
    await t.server.metrics.registry.metrics(),
  );
  return m ? Number(m[1]) : 0;
};

test('MAX_CONNECTIONS: one more closes 1013 "Too many connections"; a freed slot is reusable', async () => {
  const t = await startServer({ maxConnections: 3 });
  try {
    const held = [];
    for (let i = 0; i < 3; i++) {
      const j = await tryJoin(t, 'mc', { localAddress: `127.0.0.${i + 1}` });
      assert.equal(j.result, 'admitted');
      held.push(j.c);
    }
    const extra = await tryJoin(t, 'mc', { localAddress: '127.0.0.9' });
    assert.deepEqual(extra.result, { ...Close.tooManyConnections });
    assert.equal(await refusals(t, 'max-connections'), 1);
    await held.pop()!.close();
    await until(() => t.server.connectionCount === 2, 2000, 'slot freed');
    assert.equal((await tryJoin(t, 'mc')).result, 'admitted');
    for (const c of held) await c.close();
  } finally {
    await t.close();
  }
});

test('MAX_CONNECTIONS_PER_IP: concurrent connections per client IP', async () => {
  const t = await startServer({ maxConnectionsPerIp: 2 });
  try {
    const a = await tryJoin(t, 'ip');
    const b = await tryJoin(t, 'ip');
    assert.equal(a.result, 'admitted');
    assert.equal(b.result, 'admitted');
    const c = await tryJoin(t, 'ip');
    assert.deepEqual(c.result, { ...Close.tooManyConnections });
    assert.equal(await refusals(t, 'max-connections-per-ip'), 1);
    // Another IP is not affected; closing one frees a slot for this IP.
    const other = await tryJoin(t, 'ip', { localAddress: '127.0.0.2' });
    assert.equal(other.result, 'admitted');
    await a.c.close();
    await until(() => t.server.connectionCount === 2, 2000, 'slot freed');
    const d = await tryJoin(t, 'ip');
    assert.equal(d.result, 'admitted');
    for (const x of [b.c, other.c, d.c]) await x.close();
  } finally {
    await t.close();
  }
});

test('MAX_ROOMS: a new room past the cap closes 1013 "Too many rooms"; an existing room still admits', async () => {
  const t = await startServer({ maxRooms: 2 });
  try {
    const r1 = await tryJoin(t, 'room-1');
    const r2 = await tryJoin(t, 'room-2');
    assert.equal(r1.result, 'admitted');
    assert.equal(r2.result, 'admitted');
    assert.deepEqual((await tryJoin(t, 'room-3')).result, { ...Close.tooManyRooms });
    // Joining an existing room is still fine.
    const again = await tryJoin(t, 'room-1');
    assert.equal(again.result, 'admitted');
    await r2.c.close();
    await until(() => t.server.hub.rooms.size === 1, 2000, 'room-2 gone');

    assert.equal(await refusals(t, 'max-rooms'), 1);
    for (const c of [r1.c, again.c]) await c.close();
  } finally {
    await t.close();
  }
});

/**
 * The memory backend joins within a microtask, so admissions never interleave between the
 * MAX_ROOMS check and the join. A networked backend (redis) awaits a round trip there. Here
 * joins are held at the backend until the test releases them (GatedJoinBackend: the real
 * memory backend, whose join waits), so every racer has passed the MAX_ROOMS check before any
 * join completes: the most interleaved order there is, every run. The real-Redis test below
 * runs the same race with real round trips.
 */
test('MAX_ROOMS holds when admissions interleave (joins held at the backend)', async () => {
  const backend = new GatedJoinBackend();
  const t = await startServer({ maxRooms: 1 }, { backend });
  try {
    backend.hold = true;
    // 20 clients race for 20 new rooms with one slot.
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => connect(t.url, { roomId: `race-${i}` })),
    );
    // Every racer is decided or waiting in the backend: one reached the join, 19 were refused
    // before it (the slot was reserved at the check, not at the join).
    await until(
      async () => backend.joinsWaiting + (await refusals(t, 'max-rooms')) === 20,
      5000,
      'every racer checked',
    );
    assert.equal(backend.joinsWaiting, 1);
    backend.release();
    const results = await Promise.all(racers.map((c) => admission(t, c)));
    assert.equal(results.filter((r) => r === 'admitted').length, 1);
    assert.equal(
      results.filter((r) => typeof r === 'object' && r.reason === Close.tooManyRooms.reason).length,
      19,
    );
    assert.equal(t.server.hub.rooms.size, 1);
    assert.equal(await refusals(t, 'max-rooms'), 19);
    for (const c of racers) if (c.ws.readyState === c.ws.OPEN) await c.close();
    await until(() => t.server.hub.rooms.size === 0, 2000, 'rooms emptied');
  } finally {
    await t.close();
  }
});

test('MAX_ROOMS holds when admissions interleave (real Redis round trips)', async () => {
  const redis = await RedisServer.start();
  const t = await startServer({ maxRooms: 1, redisUrl: redis.url });
  try {
    assert.equal(t.server.backend.kind, 'redis');
    const racers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => connect(t.url, { roomId: `race-${i}` })),
    );
    const results = await Promise.all(racers.map((c) => admission(t, c)));
    assert.equal(results.filter((r) => r === 'admitted').length, 1);
    assert.equal(
      results.filter((r) => typeof r === 'object' && r.reason === Close.tooManyRooms.reason).length,
      19,
    );
    assert.equal(t.server.hub.rooms.size, 1);
    assert.equal(await refusals(t, 'max-rooms'), 19);
    for (const c of racers) if (c.ws.readyState === c.ws.OPEN) await c.close();
    await until(() => t.server.hub.rooms.size === 0, 2000, 'rooms emptied');
  } finally {
    await t.close();
    await redis.stop();
  }
});

test('joins in flight to an existing room do not use up a MAX_ROOMS slot', async () => {
  const backend = new GatedJoinBackend();
  const t = await startServer({ maxRooms: 2 }, { backend });
  try {
    const first = await tryJoin(t, 'existing');
    assert.equal(first.result, 'admitted');
    // Five more joins to the existing room are held in flight while a second room is created.
    backend.hold = true;
    const same = await Promise.all(
      Array.from({ length: 5 }, () => connect(t.url, { roomId: 'existing' })),
    );
    const fresh = await connect(t.url, { roomId: 'second' });
    await until(() => backend.joinsWaiting === 6, 5000, 'all six joins in flight');
    backend.release();
    const results = await Promise.all([...same, fresh].map((c) => admission(t, c)));
    assert.deepEqual(results, Array(6).fill('admitted'));
    for (const c of [first.c, ...same, fresh]) await c.close();
  } finally {
    await t.close();
  }
});

/**
 * SPEC.md §3 with the heartbeat wheel (src/server/heartbeat-wheel.ts): every connection is
 * pinged once per HEARTBEAT_INTERVAL_MS, but not all in the same tick, so one sweep never
 * writes to every socket at once.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { PeerRegistry, heartbeatSlots } from '../src/server/heartbeat-wheel.js';
import type { Peer } from '../src/server/peer.js';
import { join, startServer, until, type TestServer } from './helpers/server.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

test('slots: one per 100 ms of the interval, 1 to 30', () => {
  assert.equal(heartbeatSlots(30_000), 30);
  assert.equal(heartbeatSlots(600), 6);
  assert.equal(heartbeatSlots(150), 1);
  assert.equal(heartbeatSlots(50), 1);
});

test('the registry serves each connection in exactly one tick of every round, removed ones never', () => {
  const reg = new PeerRegistry(4);
  const peers = Array.from({ length: 10 }, (_, i) => ({ id: `p${i}` }) as unknown as Peer);
  for (const p of peers) reg.add(p);
  reg.add(peers[0]!); // adding twice changes nothing
  reg.delete(peers[3]!);
  assert.equal(reg.size, 9);
  for (let round = 0; round < 2; round++) {
    const seen: string[] = [];
    const perTick: number[] = [];
    for (let tick = 0; tick < 4; tick++) {
      const due = reg.nextTick();
      perTick.push(due.length);
      seen.push(...due.map((p) => (p as unknown as { id: string }).id));
    }
    assert.deepEqual(seen.sort(), ['p0', 'p1', 'p2', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    // Round robin over 4 slots: {p0,p4,p8} {p1,p5,p9} {p2,p6} {p3,p7} with p3 removed.
    assert.deepEqual(perTick, [3, 3, 2, 1]);
  }
  reg.clear();
  assert.equal(reg.size, 0);
  assert.deepEqual(reg.nextTick(), []);
});

test('a real server pings each connection once per interval, the connections in different ticks', async () => {
  const intervalMs = 600; // 6 slots, a tick every 100 ms
  const t = await startServer({ heartbeatIntervalMs: intervalMs });
  servers.push(t);
  const clients = [];
  for (let i = 0; i < 12; i++) clients.push(await join(t, 'wheel'));
  const pings = clients.map(() => [] as number[]);
  clients.forEach((c, i) => c.ws.on('ping', () => pings[i]!.push(performance.now())));
  await until(() => pings.every((p) => p.length >= 3), 15_000, 'three pings each');
  for (const p of pings)
    for (let i = 1; i < p.length; i++)
      // A slot comes round after 6 ticks of at least 100 ms each (timers fire late, not early).
      assert.ok(p[i]! - p[i - 1]! >= intervalMs - 20, `pings ${p[i]! - p[i - 1]!} ms apart`);
  // The first pings of the 12 connections fall in at least 4 distinct ticks of the round.
  const firsts = pings.map((p) => p[0]!).sort((a, b) => a - b);
  let ticks = 1;
  for (let i = 1; i < firsts.length; i++) if (firsts[i]! - firsts[i - 1]! >= 50) ticks++;
  assert.ok(ticks >= 4, `first pings in ${ticks} ticks: ${firsts.map((f) => f - firsts[0]!)}`);
  await Promise.all(clients.map((c) => c.close()));
});

/**
 * Idle cost is O(1) per node (issue 11): with Redis, a node's background traffic is one node
 * lease call per NODE_LEASE_MS / 3 whatever its number of rooms and members, and the limit sync
 * sends nothing without traffic. Counted on a real redis-server (INFO commandstats) over the
 * same fixed interval with 10 and with 1,000 idle rooms, each with a live member.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { after, test } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisServer } from './helpers/redis.js';
import { startServer, until, type TestServer } from './helpers/server.js';

const LEASE_MS = 900; // a tick every 300 ms
const WINDOW_MS = 3000;
const children: ChildProcess[] = [];
let redis: RedisServer | undefined;
let admin: Redis | undefined;
let t: TestServer | undefined;

after(
  async () => {
    for (const c of children) c.kill();
    await t?.close();
    admin?.disconnect();
    await redis?.stop();
  },
  { timeout: 60_000 },
);

/** Open `count` idle connections, each in its own room idle-0 … idle-(count-1). */
async function idleClients(port: number, count: number): Promise<void> {
  const child = fork(
    path.join(import.meta.dirname, 'helpers', 'idle-clients.ts'),
    [String(port), String(count), '200'],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { open?: number; failed?: number }) => {
      if (m.open === undefined) return;
      if (m.failed) reject(new Error(`${m.failed} idle clients refused`));
      else resolve();
    });
    child.once('exit', () => reject(new Error('idle clients exited')));
  });
}

async function commandStats(): Promise<Map<string, number>> {
  const info = await admin!.info('commandstats');
  const stats = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(m[1]!, Number(m[2]));
  return stats;
}

/** Redis commands over WINDOW_MS, admin's own (info, config) left out, after admission settled. */
async function idleCommands(
  rooms: number,
  newRooms: number,
): Promise<{ total: number; calls: number; by: string }> {
  // Every new room's subscription reconciles once (one HGETALL): wait until all have.
  await until(
    async () => ((await commandStats()).get('hgetall') ?? 0) >= newRooms,
    30_000,
    'reconciled',
  );
  await until(async () => (await admin!.scard(`room:idle-${rooms - 1}`)) === 1, 30_000, 'joined');
  // The connections' own limit sync (one call, right after they opened) is traffic, not idle
  // cost: wait until a sync interval passes with no counter call.
  let incr = -1;
  await until(
    async () => {
      const before = incr;
      await new Promise((r) => setTimeout(r, 600));
      incr = (await commandStats()).get('incrby') ?? 0;
      return incr === before;
    },
    30_000,
    'limit sync settled',
  );
  await admin!.config('RESETSTAT');
  const start = Date.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS)); // the fixed interval being measured
  const stats = await commandStats();
  const elapsed = Date.now() - start;
  stats.delete('info');
  stats.delete('config|resetstat');
  // Every command Redis ran, those run inside scripts included (its actual work).
  const total = [...stats.values()].reduce((a, b) => a + b, 0);
  const calls = (stats.get('evalsha') ?? 0) + (stats.get('eval') ?? 0);
  const by = [...stats].map(([c, n]) => `${c}=${n}`).join(' ');
  const scale = WINDOW_MS / elapsed;
  return { total: Math.round(total * scale), calls: Math.round(calls * scale), by };
}

test('idle Redis traffic does not grow with rooms: 10 and 1,000 idle rooms cost the same commands', async (t_) => {
  redis = await RedisServer.start();
  admin = redis.client();
  t = await startServer({
    redisUrl: redis.url,
    nodeLeaseMs: LEASE_MS,
    heartbeatIntervalMs: 600_000,
    maxPendingUpgrades: 5000,
  });
  await idleClients(t.port, 10);
  const few = await idleCommands(10, 10);
  await idleClients(t.port, 1000); // rooms idle-0 … idle-999 (10 of them now have 2 members)
  const many = await idleCommands(1000, 990);
  t_.diagnostic(`10 rooms: ${few.total} commands in ${WINDOW_MS} ms (${few.by})`);
  t_.diagnostic(`1000 rooms: ${many.total} commands in ${WINDOW_MS} ms (${many.by})`);
  // One node lease call per tick (WINDOW_MS / (LEASE_MS / 3) = 10), give or take a tick at the
  // window's edges, and nothing else; per-room work would be ≥ 1,000 calls per tick.
  const ticks = WINDOW_MS / (LEASE_MS / 3);
  for (const { calls, total } of [few, many]) {
    assert.ok(calls >= 1 && calls <= ticks + 2, `${calls} script calls`);
    assert.ok(total <= calls * 5, `${total} commands for ${calls} calls`); // node.lua runs 4–5
  }
  assert.ok(Math.abs(many.total - few.total) <= 10, `${few.total} vs ${many.total}`);
});

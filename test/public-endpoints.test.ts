/**
 * Public endpoints and timers (issue 10 §5): /readyz shares one Redis PING per second however
 * often it is polled, /metrics on the public port can be turned off (HEALTH_PORT keeps it), and
 * a lease tick slower than its period delays the next one by its overrun only, never a period.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG, startServer, until, type TestServer } from './helpers/server.js';

let redis: RedisServer;
const servers: TestServer[] = [];
before(
  async () => {
    redis = await RedisServer.start();
  },
  { timeout: 30000 },
);
after(
  async () => {
    await Promise.all(servers.map((s) => s.close()));
    await redis.stop();
  },
  { timeout: 30000 },
);

async function pings(): Promise<number> {
  const admin = redis.client();
  try {
    const info = await admin.info('commandstats');
    return Number(/cmdstat_ping:calls=(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    admin.disconnect();
  }
}

test('/readyz polled 200 times costs at most a few Redis PINGs', async () => {
  const t = await startServer({ redisUrl: redis.url });
  servers.push(t);
  const base = `http://127.0.0.1:${t.port}`;
  const before = await pings();
  const started = Date.now();
  for (let i = 0; i < 20; i++) {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => fetch(`${base}/readyz`).then((r) => r.status)),
    );
    assert.deepEqual(answers, new Array(10).fill(200));
  }
  const seconds = (Date.now() - started) / 1000;
  const used = (await pings()) - before;
  // One PING per second of polling (plus one), not one per request.
  assert.ok(used <= Math.ceil(seconds) + 1, `${used} PINGs in ${seconds.toFixed(1)} s`);
});

test('METRICS_ON_MAIN_PORT=false: /metrics only on HEALTH_PORT', async () => {
  const t = await startServer({ metricsOnMainPort: false, healthPort: 0 });
  servers.push(t);
  const main = await fetch(`http://127.0.0.1:${t.port}/metrics`);
  assert.equal(main.status, 426);
  assert.ok(!(await main.text()).includes('signaling_'));
  const health = await fetch(`http://127.0.0.1:${t.server.healthPort}/metrics`);
  assert.equal(health.status, 200);
  assert.match(await health.text(), /^# TYPE signaling_active_connections /m);
  assert.equal((await fetch(`http://127.0.0.1:${t.port}/healthz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${t.port}/readyz`)).status, 200);
});

test('a lease tick slower than its period: the next starts when it ends, not a period later', async () => {
  const LEASE_MS = 1500; // a tick every 500 ms
  const SLOW_MS = 550; // each tick's script call takes longer than the period
  const backend = new RedisBackend(
    { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: 'slow-tick:', nodeLeaseMs: LEASE_MS },
    pino({ level: 'silent' }),
    createMetrics(new Registry(), false),
  );
  // The real node lease script, delayed: a test double for a Redis that is slow to answer.
  const scripts = (backend as unknown as { conn: { scripts: Record<string, unknown> } }).conn
    .scripts;
  const real = scripts.sbNode as (...args: unknown[]) => Promise<unknown>;
  const starts: number[] = [];
  scripts.sbNode = async (...args: unknown[]) => {
    starts.push(Date.now());
    await new Promise((r) => setTimeout(r, SLOW_MS));
    return real(...args);
  };
  await backend.start({
    onEnvelope: () => undefined,
  });
  try {
    await until(() => starts.length >= 8, 20_000, 'eight lease ticks');
    const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
    // Skipping the overlapping tick made every gap two periods (1000 ms); now a gap is one slow
    // tick (550 ms) plus scheduling delay (up to 300 ms allowed for a loaded machine).
    assert.ok(Math.max(...gaps.slice(1)) < 850, `gaps between ticks: ${gaps.join(', ')} ms`);
  } finally {
    await backend.close();
  }
});

/**
 * The room listing with 100,000 rooms (SPEC.md §14 "bounded work per request even with 100k
 * rooms"): on Redis each page makes at most 20 SCAN calls (counted by Redis itself, INFO
 * commandstats) and a prefix that matches nothing still answers at once with a cursor to go on;
 * paging through lists every room. The memory backend stops a page at its budget the same way.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Backend } from '../src/backend/backend.js';
import { MemoryBackend } from '../src/backend/memory.js';
import { RedisBackend } from '../src/backend/redis.js';
import { createMetrics } from '../src/metrics.js';
import { RedisServer } from './helpers/redis.js';
import { TEST_CONFIG } from './helpers/server.js';

const ROOMS = 100_000;
const noop = { onEnvelope: () => undefined };

/** Page through every room with `prefix`; returns the ids seen and the number of pages. */
async function listAll(backend: Backend, prefix: string, limit: number) {
  const seen = new Set<string>();
  let cursor: string | undefined;
  let pages = 0;
  for (; pages < 10_000;) {
    const page = await backend.listRooms({ prefix, limit, cursor });
    pages++;
    assert.ok(page.rooms.length <= limit);
    for (const r of page.rooms) seen.add(r.roomId);
    if (page.cursor === null) break;
    cursor = page.cursor;
  }
  return { seen, pages };
}

describe('room listing with 100,000 rooms', { timeout: 120_000 }, () => {
  let redis: RedisServer;
  let admin: Redis;
  before(
    async () => {
      redis = await RedisServer.start();
      admin = redis.client();
    },
    { timeout: 60_000 },
  );
  after(
    async () => {
      admin.disconnect();
      await redis.stop();
    },
    { timeout: 60_000 },
  );

  test('redis: at most 20 SCAN calls per page; a prefix matching nothing answers with a cursor', async () => {
    const prefix = `s${randomUUID().slice(0, 6)}:`;
    // 100k one-member rooms written straight into Redis (a join each would take minutes here).
    await admin.eval(
      `for i = 1, tonumber(ARGV[2]) do redis.call('SADD', ARGV[1] .. 'room:big-' .. i, 'client:x') end`,
      0,
      prefix,
      ROOMS,
    );
    const backend = new RedisBackend(
      { ...TEST_CONFIG, redisUrl: redis.url, redisKeyPrefix: prefix },
      pino({ level: 'silent' }),
      createMetrics(new Registry(), false),
    );
    await backend.start(noop);
    try {
      const scans = async () => {
        const m = /cmdstat_scan:calls=(\d+)/.exec(await admin.info('commandstats'));
        return m ? Number(m[1]) : 0;
      };
      const before = await scans();
      const none = await backend.listRooms({ prefix: 'nothing-', limit: 100, cursor: undefined });
      assert.deepEqual(none.rooms, []);
      assert.notEqual(none.cursor, null, 'more to scan: the page stopped at its budget');
      assert.ok((await scans()) - before <= 20, 'at most 20 SCAN calls');

      const start = await scans();
      const { seen, pages } = await listAll(backend, 'big-', 1000);
      assert.equal(seen.size, ROOMS, 'every room listed');
      assert.ok((await scans()) - start <= pages * 20, 'at most 20 SCAN calls per page');
    } finally {
      await backend.close();
    }
  });

  test('memory: a page looks at a bounded number of rooms; paging lists them all', async () => {
    const backend = new MemoryBackend();
    await backend.start(noop);
    for (let i = 0; i < ROOMS; i++) await backend.join(`big-${i}`, 'client:x', 10);
    const none = await backend.listRooms({ prefix: 'nothing-', limit: 100, cursor: undefined });
    assert.deepEqual(none.rooms, []);
    assert.notEqual(none.cursor, null, 'the page stopped at its budget, not at the end');
    const { seen, pages } = await listAll(backend, 'big-', 1000);
    assert.equal(seen.size, ROOMS);
    assert.equal(pages, ROOMS / 1000, 'full pages, the last one ending the listing');
  });
});

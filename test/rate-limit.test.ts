/** Pure logic of the limiters (no I/O): token bucket refill, sliding window, cluster sync. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket, WindowCounter } from '../src/server/rate-limit.js';

test('TokenBucket: capacity, then continuous refill, never above capacity', () => {
  const b = new TokenBucket(10, 10_000, 0);
  for (let i = 0; i < 10; i++) assert.equal(b.take(0), true);
  assert.equal(b.take(0), false);
  assert.equal(b.take(999), false);
  assert.equal(b.take(1000), true);
  assert.equal(b.take(1000), false);
  let n = 0;
  while (b.take(1_000_000)) n++;
  assert.equal(n, 10);
});

test('WindowCounter: limit per key within a window; keys independent', () => {
  const w = new WindowCounter(3, 10_000);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => w.hit('a', 100)),
    [true, true, true, false],
  );
  assert.equal(w.hit('b', 100), true);
});

test('WindowCounter: the previous window is weighted by its overlap (no double burst at a boundary)', () => {
  const w = new WindowCounter(10, 10_000);
  for (let i = 0; i < 10; i++) assert.equal(w.hit('k', 9_999), true);
  // Just after the boundary almost the whole previous window (9.999 hits) still overlaps.
  assert.equal(w.hit('k', 10_001), true);
  assert.equal(w.hit('k', 10_001), false);
  // Halfway through the next window, half of the previous one counts: 5 in this window in all.
  let allowed = 1;
  while (w.hit('k', 15_000)) allowed++;
  assert.equal(allowed, 5);
  // Two windows later the old counts are gone.
  assert.equal(w.hit('k', 30_000), true);
});

test('WindowCounter: cluster totals add other nodes’ hits; failed syncs are re-sent', () => {
  const w = new WindowCounter(10, 10_000);
  for (let i = 0; i < 3; i++) w.hit('ip', 1000);
  const { windowStart, deltas } = w.drain(1000);
  assert.deepEqual([...deltas], [['ip', 3]]);
  w.hit('ip', 1100); // after the drain, before the totals return
  w.applyTotals(windowStart, new Map([['ip', 8]])); // 3 of ours + 5 from other nodes
  assert.equal(w.hit('ip', 1200), true); // 8 + 1 pending + 1 = 10
  assert.equal(w.hit('ip', 1200), false);
  const second = w.drain(1300);
  assert.deepEqual([...second.deltas], [['ip', 2]]);
  w.restore(second.windowStart, second.deltas);
  assert.deepEqual([...w.drain(1400).deltas], [['ip', 2]]);
  // Totals for a window that has passed are ignored.
  w.applyTotals(windowStart, new Map([['ip', 0]]));
  assert.equal(w.hit('ip', 25_000), true);
});

test('WindowCounter: only keys with hits since the last sync are synced; a key used again learns the cluster total at its next sync', () => {
  const w = new WindowCounter(10, 10_000);
  w.hit('room', 1000);
  const first = w.drain(1000);
  w.applyTotals(first.windowStart, new Map([['room', 1]]));
  // Idle since the last sync: nothing is sent (the sync follows activity, issue 11).
  assert.equal(w.drain(1250).deltas.size, 0);
  // Other nodes admitted 8 more meanwhile; this node still knows 1 and admits by it until its
  // next sync (the documented overshoot: at most limit − last known total between syncs).
  assert.equal(w.hit('room', 1300), true);
  const again = w.drain(1500);
  assert.deepEqual([...again.deltas], [['room', 1]]);
  w.applyTotals(again.windowStart, new Map([['room', 10]])); // 1 + 8 elsewhere + this 1
  assert.equal(w.hit('room', 1600), false);
});

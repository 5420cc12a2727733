import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CircuitBreaker, type CircuitState } from '../src/backend/circuit-breaker.js';

function breaker() {
  let now = 1_000;
  const changes: CircuitState[] = [];
  const cb = new CircuitBreaker({
    threshold: 3,
    openMs: 30_000,
    now: () => now,
    onChange: (s) => changes.push(s),
  });
  return { cb, changes, advance: (ms: number) => (now += ms) };
}

test('opens after threshold consecutive failures; a success in between resets the count', () => {
  const { cb, changes } = breaker();
  cb.failure();
  cb.failure();
  cb.success();
  cb.failure();
  cb.failure();
  assert.equal(cb.state, 'closed');
  assert.equal(cb.tryAcquire(), true);
  cb.failure();
  assert.equal(cb.state, 'open');
  assert.equal(cb.isOpen, true);
  assert.equal(cb.tryAcquire(), false);
  assert.deepEqual(changes, ['open']);
  cb.dispose();
});

test('half-open after the open period: one trial; success closes', () => {
  const { cb, changes, advance } = breaker();
  for (let i = 0; i < 3; i++) cb.failure();
  advance(29_999);
  assert.equal(cb.state, 'open');
  advance(1);
  assert.equal(cb.state, 'half-open');
  assert.equal(cb.isOpen, false);
  assert.equal(cb.tryAcquire(), true, 'the trial');
  assert.equal(cb.tryAcquire(), false, 'others wait for the verdict');
  cb.success();
  assert.equal(cb.state, 'closed');
  assert.equal(cb.tryAcquire(), true);
  assert.deepEqual(changes, ['open', 'closed']);
  cb.dispose();
});

test('a failed trial reopens for a full period', () => {
  const { cb, advance } = breaker();
  for (let i = 0; i < 3; i++) cb.failure();
  advance(30_000);
  assert.equal(cb.tryAcquire(), true);
  cb.failure();
  assert.equal(cb.state, 'open');
  advance(29_999);
  assert.equal(cb.state, 'open');
  advance(1);
  assert.equal(cb.state, 'half-open');
  cb.dispose();
});

test('late failures of operations started before opening do not extend the open period', () => {
  const { cb, advance } = breaker();
  for (let i = 0; i < 3; i++) cb.failure();
  advance(20_000);
  cb.failure();
  cb.failure();
  advance(10_000);
  assert.equal(cb.state, 'half-open');
  cb.dispose();
});

test('onceClosed: at once when closed; else once, at the next close, not on a failed trial', () => {
  const { cb, advance } = breaker();
  const calls: string[] = [];
  cb.onceClosed(() => calls.push('closed now'));
  assert.deepEqual(calls, ['closed now']);
  for (let i = 0; i < 3; i++) cb.failure();
  cb.onceClosed(() => calls.push('first'));
  cb.onceClosed(() => calls.push('second'));
  advance(30_000);
  assert.equal(cb.tryAcquire(), true);
  cb.failure(); // the trial failed: still waiting
  assert.deepEqual(calls, ['closed now']);
  advance(30_000);
  assert.equal(cb.tryAcquire(), true);
  cb.success();
  assert.deepEqual(calls, ['closed now', 'first', 'second']);
  for (let i = 0; i < 3; i++) cb.failure();
  cb.success(); // closes again: the listeners were called once, not kept
  assert.deepEqual(calls, ['closed now', 'first', 'second']);
  cb.dispose();
});

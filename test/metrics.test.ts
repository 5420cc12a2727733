/**
 * The hot-path metric types must expose exactly what prom-client's own Histogram and Counter
 * would for the same observations: the names and format of SPEC.md §8 are a public interface.
 */
import assert from 'node:assert/strict';
import test from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '../src/metrics.js';

const BUCKETS = [0.00001, 0.00005, 0.0001, 0.001, 0.05];
// Below the first bound, exactly on bounds, between them, and above the last (+Inf only).
const VALUES = [0, 0.000003, 0.00001, 0.00002, 0.00005, 0.0007, 0.001, 0.049, 0.05, 0.5, 3];

test('HotHistogram prints what prom-client Histogram prints for the same observations', async () => {
  const hot = new Registry();
  const reference = new Registry();
  const h = new HotHistogram('x_seconds', 'help text', BUCKETS, [hot]);
  const r = new Histogram({
    name: 'x_seconds',
    help: 'help text',
    buckets: BUCKETS,
    registers: [reference],
  });
  assert.equal(await hot.metrics(), await reference.metrics()); // nothing observed yet
  for (const v of VALUES) {
    h.observe(v);
    r.observe(v);
  }
  assert.equal(await hot.metrics(), await reference.metrics());
  assert.deepEqual(await hot.getMetricsAsJSON(), await reference.getMetricsAsJSON());
  hot.resetMetrics();
  assert.match(await hot.metrics(), /^x_seconds_count 0$/m);
});

test('HotCounter folds its additions into the counter on every read', async () => {
  const hot = new Registry();
  const reference = new Registry();
  const c = new HotCounter('y_total', 'help text', [hot]);
  const r = new Counter({ name: 'y_total', help: 'help text', registers: [reference] });
  for (let i = 0; i < 5; i++) {
    c.add();
    r.inc();
  }
  assert.equal(await hot.metrics(), await reference.metrics());
  c.add();
  assert.equal((await c.get()).values[0]?.value, 6);
  assert.match(await hot.metrics(), /^y_total 6$/m); // read twice: counted once
});

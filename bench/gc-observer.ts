/**
 * Preloaded into a Switchboard node by bench/gc-ab.ts (`--import`, compiled to
 * bench/results/build/gc-observer.mjs): records every GC pause (wall-clock start, duration,
 * kind) with a PerformanceObserver and writes them to $GC_STATS_DIR/<pid>.json when the
 * process exits. Bounded: at most MAX entries are kept.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  PerformanceObserver,
  constants,
  performance,
  type PerformanceEntry,
} from 'node:perf_hooks';

const MAX = 200_000;
const dir = process.env.GC_STATS_DIR;
/** [start (ms since the epoch), duration (ms), 'minor' | 'major' | 'other'] */
const entries: [number, number, string][] = [];
let dropped = 0;

if (dir) {
  const kindOf = (k: number) =>
    k === constants.NODE_PERFORMANCE_GC_MINOR
      ? 'minor'
      : k === constants.NODE_PERFORMANCE_GC_MAJOR
        ? 'major'
        : 'other';
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (entries.length >= MAX) {
        dropped++;
        continue;
      }
      const kind = (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1;
      entries.push([performance.timeOrigin + e.startTime, e.duration, kindOf(kind)]);
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('exit', () => {
    writeFileSync(path.join(dir, `${process.pid}.json`), JSON.stringify({ entries, dropped }));
  });
}

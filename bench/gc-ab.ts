/**
 * A/B of V8 GC settings on the cross-node run: 500 rooms × 2 peers at 2,000 msg/s across two
 * Switchboard nodes and one redis-server (all pinned to core 0, the generator to core 1, as in
 * bench/run.ts). Every run starts fresh processes with one variant's node flags and env, warms
 * them with one unmeasured relay, then measures one; the variants alternate round by round
 * (order rotated each round). Prints, per run, p50/p99/max latency, server CPU µs per delivered
 * message (both nodes + Redis), and each node's GC pauses in the measured window (from a
 * PerformanceObserver preloaded with --import) and the CPU of its main thread vs its other
 * threads; then per variant the medians and ranges.
 * Usage: npm run build && npx tsx bench/gc-ab.ts [--runs=4] [--ms=5000] [--rate=2000] [--rooms=500]
 *          [--variants='default;--single-threaded-gc;--no-parallel-scavenge;GC_MODE=single']
 * A variant is space-separated tokens: `--…` are node flags, `NAME=value` env settings, and
 * `default` nothing.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RelayCmd, RelayResult } from './generator.js';
import {
  BUILD_DIR,
  Generator,
  ROOT,
  compileBench,
  startRedis,
  startSwitchboard,
  type Proc,
} from './servers.js';

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(arg('runs') ?? 4);
const ms = Number(arg('ms') ?? 5000);
const rate = Number(arg('rate') ?? 2000);
const rooms = Number(arg('rooms') ?? 500);
const variants = (
  arg('variants') ??
  'default;--single-threaded-gc;--no-parallel-scavenge;--max-semi-space-size=32;--max-semi-space-size=64'
)
  .split(';')
  .map((v) => v.trim())
  .filter((v) => v.length > 0);

function parseVariant(v: string): { nodeArgs: string[]; env: Record<string, string> } {
  const nodeArgs: string[] = [];
  const env: Record<string, string> = {};
  for (const t of v.split(/\s+/)) {
    if (t === 'default') continue;
    if (t.startsWith('--')) nodeArgs.push(t);
    else if (t.includes('=')) env[t.slice(0, t.indexOf('='))] = t.slice(t.indexOf('=') + 1);
    else throw new Error(`variant token ${t}: expected --flag, NAME=value or default`);
  }
  return { nodeArgs, env };
}

/** utime+stime in ms of a process's main thread and of its other (live) threads. */
function threadCpu(pid: number): { main: number; others: number } {
  let main = 0;
  let others = 0;
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: NaN, others: NaN };
  }
  for (const t of tasks) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
    } catch {
      continue; // the thread exited
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms10 = (Number(rest[11]) + Number(rest[12])) * 10; // CLK_TCK 100
    if (t === String(pid)) main += ms10;
    else others += ms10;
  }
  return { main, others };
}

interface GcWindow {
  minor: number;
  minorMeanMs: number;
  minorMaxMs: number;
  major: number;
  majorMaxMs: number;
}

function gcIn(file: string, from: number, to: number): GcWindow {
  const { entries } = JSON.parse(readFileSync(file, 'utf8')) as {
    entries: [number, number, string][];
  };
  const inWin = entries.filter(([t]) => t >= from && t <= to);
  const minor = inWin.filter((e) => e[2] === 'minor').map((e) => e[1]);
  const major = inWin.filter((e) => e[2] === 'major').map((e) => e[1]);
  return {
    minor: minor.length,
    minorMeanMs: minor.reduce((a, b) => a + b, 0) / Math.max(1, minor.length),
    minorMaxMs: Math.max(0, ...minor),
    major: major.length,
    majorMaxMs: Math.max(0, ...major),
  };
}

interface Row {
  r: RelayResult;
  gc: GcWindow[];
  threads: { main: number; others: number }[];
}

await compileBench(['generator', 'gc-observer']);
const statsRoot = path.join(ROOT, '.tmp');
mkdirSync(statsRoot, { recursive: true });
const gen = new Generator();

const relay = (urls: string[], pids: number[], tag: string): RelayCmd => ({
  kind: 'relay',
  urls,
  tag,
  rooms,
  k: 2,
  rate,
  burst: 1,
  warmupMs: 1000,
  durationMs: ms,
  drainMs: 3000,
  pids,
});

async function runOne(variant: string, tag: string): Promise<Row> {
  const { nodeArgs, env } = parseVariant(variant);
  const dir = mkdtempSync(path.join(statsRoot, 'gc-ab-'));
  const procs: Proc[] = [];
  try {
    const redis = await startRedis();
    procs.push(redis);
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    const args = ['--import', path.join(BUILD_DIR, 'gc-observer.mjs'), ...nodeArgs];
    const nodeEnv = { ...env, GC_STATS_DIR: dir };
    const a = await startSwitchboard({ redisUrl, name: 'node-a', nodeArgs: args, env: nodeEnv });
    procs.push(a);
    const b = await startSwitchboard({ redisUrl, name: 'node-b', nodeArgs: args, env: nodeEnv });
    procs.push(b);
    const pids = [a.pid, b.pid, redis.pid];
    await gen.run<RelayResult>(relay([a.url, b.url], pids, `${tag}-warm`));
    const t0 = [threadCpu(a.pid), threadCpu(b.pid)];
    const from = Date.now();
    const r = await gen.run<RelayResult>(relay([a.url, b.url], pids, tag));
    const to = Date.now();
    const t1 = [threadCpu(a.pid), threadCpu(b.pid)];
    const threads = t1.map((t, i) => ({
      main: t.main - t0[i]!.main,
      others: t.others - t0[i]!.others,
    }));
    for (const p of procs.splice(0).reverse()) await p.stop();
    const gc = [a.pid, b.pid].map((pid) => gcIn(path.join(dir, `${pid}.json`), from, to));
    return { r, gc, threads };
  } finally {
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f = (x: number, d = 1) => x.toFixed(d);
const fmt = (w: Row) =>
  `p50 ${f(w.r.p50Ms, 2)} p99 ${f(w.r.p99Ms, 2)} max ${f(w.r.maxMs)} ms, loss ${f(w.r.loss * 100, 2)}%, ` +
  `cpu ${f(w.r.cpuUsPerMsg)} µs/msg; scavenges ${w.gc.map((g) => `${g.minor}×${f(g.minorMeanMs, 2)} (max ${f(g.minorMaxMs)})`).join(' / ')} ms, ` +
  `mark-compacts ${w.gc.map((g) => `${g.major} (max ${f(g.majorMaxMs)})`).join(' / ')}; ` +
  `threads main/others ms ${w.threads.map((t) => `${t.main}/${t.others}`).join(' ')}`;

const rows = new Map<string, Row[]>(variants.map((v) => [v, []]));
try {
  for (let i = 0; i < runs; i++) {
    // Rotate the order each round so no variant always follows the same one.
    const order = variants.map((_, j) => variants[(i + j) % variants.length]!);
    for (const v of order) {
      const row = await runOne(v, `gc${i}-${variants.indexOf(v)}`);
      rows.get(v)!.push(row);
      console.log(
        `run ${i} [${v}] ${fmt(row)}  load ${f(os.loadavg()[0]!)}  ${new Date().toISOString()}`,
      );
    }
  }
  console.log(`\n${runs} runs per variant, ${rooms} rooms × 2, ${rate} msg/s, ${ms} ms measured`);
  for (const [v, xs] of rows) {
    const stat = (name: string, get: (w: Row) => number, d = 2) => {
      const ys = xs.map(get);
      return `${name} ${f(median(ys), d)} [${f(Math.min(...ys), d)}–${f(Math.max(...ys), d)}]`;
    };
    const sc = (w: Row) => w.gc.reduce((a, g) => a + g.minor, 0) / w.gc.length;
    const scMean = (w: Row) =>
      w.gc.reduce((a, g) => a + g.minorMeanMs * g.minor, 0) /
      Math.max(
        1,
        w.gc.reduce((a, g) => a + g.minor, 0),
      );
    const scMax = (w: Row) => Math.max(...w.gc.map((g) => g.minorMaxMs));
    const others = (w: Row) => w.threads.reduce((a, t) => a + t.others, 0);
    console.log(
      `${v.padEnd(32)} ${stat('p99 ms', (w) => w.r.p99Ms)}, ${stat('p50 ms', (w) => w.r.p50Ms)}, ` +
        `${stat('cpu µs/msg', (w) => w.r.cpuUsPerMsg, 1)}, ${stat('scavenges/node', sc, 1)}, ` +
        `${stat('scavenge mean ms', scMean)}, ${stat('scavenge max ms', scMax, 1)}, ` +
        `${stat('other threads ms', others, 0)}, loss max ${f(Math.max(...xs.map((w) => w.r.loss * 100)), 2)}%`,
    );
  }
} finally {
  gen.stop();
}

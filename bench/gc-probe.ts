/**
 * What a node promotes per scavenge under the cross-node load (500 rooms × 2, 2,000 msg/s):
 * redis-server and two nodes run with `--trace-gc-nvp`, their stdout kept; prints per node the
 * scavenges in the measured window, the bytes each promoted and its pause (median / mean).
 * Usage (after `npm run bench` built bench/results/build and `npm run build`):
 *   npx tsx bench/gc-probe.ts [--ms=10000] [--root=DIR] [--env=K=V,K=V]
 * TRACE_GC=1: `--trace-gc` instead, and each node's scavenges and mark-compacts of the measured
 * relay printed with their time before its end (which of them fell into the measured window).
 * PRELOAD=FILE: passed to the nodes as `--import FILE` (a sampling heap profiler, say).
 * The logs stay in /tmp/gc-probe-a.log and /tmp/gc-probe-b.log.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import type { RelayResult } from './generator.js';
import { freePort, Generator, HIGH_LIMITS, startRedis } from './servers.js';

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ms = Number(arg('ms') ?? 10_000);
const root = arg('root') ?? process.cwd();
const extraEnv = Object.fromEntries(
  (arg('env') ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => kv.split('=') as [string, string]),
);

async function startNode(redisUrl: string, name: string) {
  const port = await freePort();
  const spawned = Date.now();
  const file = `/tmp/gc-probe-${name}.log`;
  const out = createWriteStream(file);
  await once(out, 'open');
  const child = spawn(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      ...(process.env.TRACE_GC ? ['--trace-gc'] : ['--trace-gc-nvp']),
      ...(process.env.PRELOAD ? ['--import', process.env.PRELOAD] : []),
      path.join(root, 'dist/src/cli.js'),
    ],
    {
      env: {
        ...process.env,
        WS_PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL: redisUrl,
        ...HIGH_LIMITS,
        ...extraEnv,
      },
      stdio: ['ignore', out, 'inherit'],
    },
  );
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, url: `ws://127.0.0.1:${port}`, pid: child.pid!, file, spawned };
}

/** Lines of --trace-gc-nvp: `pause=… promoted=… … gc=s` for a scavenge. */
function scavenges(file: string, fromByte: number) {
  const text = readFileSync(file, 'utf8').slice(fromByte);
  const rows: { pause: number; promoted: number }[] = [];
  for (const line of text.split('\n')) {
    if (!/\bgc=s\b/.test(line)) continue;
    const pause = Number(/\bpause=([\d.]+)/.exec(line)?.[1]);
    const promoted = Number(/\bpromoted=(\d+)/.exec(line)?.[1]);
    rows.push({ pause, promoted });
  }
  return rows;
}

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
const redis = await startRedis();
const redisUrl = `redis://127.0.0.1:${redis.port}`;
const a = await startNode(redisUrl, 'a');
const b = await startNode(redisUrl, 'b');
const gen = new Generator();
try {
  const relay = (tag: string, durationMs: number) =>
    gen.run<RelayResult>({
      kind: 'relay',
      urls: [a.url, b.url],
      tag,
      rooms: 500,
      k: 2,
      rate: 2000,
      warmupMs: 1000,
      durationMs,
      drainMs: 2000,
      pids: [a.pid, b.pid, redis.pid],
    });
  await relay('warm', 3000);
  const marks = [a, b].map((n) => readFileSync(n.file).length);
  const started = Date.now();
  const r = await relay('probe', ms);
  const ended = Date.now();
  if (process.env.TRACE_GC)
    [a, b].forEach((n, i) => {
      // --trace-gc: "[pid:0x…]    12345 ms: Scavenge … pause 16.7 / 0.0 ms"; times since spawn.
      const rows = readFileSync(n.file, 'utf8')
        .split('\n')
        .map((l) => /\s(\d+) ms: (Scavenge|Mark-Compact)[^,]*, ([\d.]+) \/ [\d.]+ ms/.exec(l))
        .filter((m) => m !== null)
        .map((m) => ({
          t: n.spawned + Number(m![1]) - ended,
          kind: m![2]![0],
          pause: Number(m![3]),
        }))
        .filter((x) => x.t >= started - ended);
      console.log(
        `node ${'ab'[i]} (probe relay ${started - ended} ms before its end; measured ≈ last ${ms} ms): ` +
          rows.map((x) => `${x.kind}${x.t}:${x.pause}`).join(' '),
      );
    });
  console.log(
    `relay: ${r.cpuUsPerMsg} µs/msg, ${r.serverCpuMs.map(Math.round).join(' + ')} ms CPU, p99 ${r.p99Ms} ms, loss ${r.loss}`,
  );
  [a, b].forEach((n, i) => {
    const s = scavenges(n.file, marks[i]!);
    const kb = s.map((x) => x.promoted / 1024);
    const p = s.map((x) => x.pause);
    console.log(
      `node ${'ab'[i]} promoted KB, pause ms in order: ${s.map((x) => `${(x.promoted / 1024).toFixed(0)}/${x.pause}`).join(' ')}`,
    );
    console.log(
      `node ${'ab'[i]}: ${s.length} scavenges, promoted KB median ${med(kb).toFixed(0)} mean ${(kb.reduce((x, y) => x + y, 0) / kb.length).toFixed(0)}, pause ms median ${med(p).toFixed(2)} mean ${(p.reduce((x, y) => x + y, 0) / p.length).toFixed(2)}`,
    );
  });
} finally {
  gen.stop();
  for (const n of [a, b]) {
    n.child.kill('SIGTERM');
    await once(n.child, 'exit');
  }
  await redis.stop();
}

/**
 * A/B of join churn across two nodes: the bench's churn scenario (20 loops, 50 rooms, `?v=2`,
 * connect, welcome, close; connections alternate between two nodes on one Redis) against the
 * dist/ of two checkouts, alternated run by run, with the bare relay once per round as the
 * machine's yardstick. Prints CPU µs per join or leave (both nodes + Redis), ops/s and Redis
 * commands per join+leave for every run, then medians.
 * Usage (after one `npm run bench` built bench/results/build, and `npm run build` in both):
 *   npx tsx bench/churn-ab.ts --a=/path/to/checkout-a --b=/path/to/checkout-b [--runs=4] [--ms=6000] [--memory] [--warm=MS]
 */
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { ChurnResult } from './generator.js';
import { commandStats, diffStats } from './idle.js';
import { churnCmd, Generator, startBare, startRedis, startSwitchboard } from './servers.js';

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const roots = { A: arg('a'), B: arg('b') };
if (!roots.A || !roots.B) throw new Error('usage: churn-ab --a=DIR --b=DIR [--runs=N] [--ms=N]');
const runs = Number(arg('runs') ?? 4);
const ms = Number(arg('ms') ?? 6000);
/** --memory: one node with the memory backend instead (what the node costs without Redis). */
const memory = process.argv.includes('--memory');
/** --warm=MS: unmeasured churn on every server first (default 1500). */
const warmMs = Number(arg('warm') ?? 1500);

interface Row {
  cpuUsPerOp: number;
  nodeUsPerOp: number;
  redisUsPerOp: number;
  opsPerSec: number;
  cmdsPerCycle: number;
  /** Read and write syscalls, voluntary context switches (wake-ups) of the nodes per cycle. */
  sys?: { r: number; w: number; cs: number };
}

/** syscr, syscw (/proc/PID/io) and voluntary context switches of a process. */
function procCounts(pid: number): [number, number, number] {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const st = readFileSync(`/proc/${pid}/status`, 'utf8');
  const n = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return [
    n(io, /syscr: (\d+)/),
    n(io, /syscw: (\d+)/),
    n(st, /^voluntary_ctxt_switches:\s+(\d+)/m),
  ];
}

function sysPerCycle(pids: number[], before: [number, number, number][], cycles: number) {
  const d = [0, 0, 0];
  pids.forEach((pid, i) => procCounts(pid).forEach((v, j) => (d[j]! += v - before[i]![j]!)));
  return { r: d[0]! / cycles, w: d[1]! / cycles, cs: d[2]! / cycles };
}

const gen = new Generator();
const churn = (urls: string[], pids: number[], tag: string, durationMs = ms) =>
  gen.run<ChurnResult>(churnCmd(urls, pids, tag, durationMs));

async function runOne(root: string, tag: string): Promise<Row> {
  if (memory) {
    const n = await startSwitchboard({ name: 'node', root });
    try {
      await churn([n.url], [n.pid], `${tag}-warm`, warmMs);
      const p0 = [procCounts(n.pid)];
      const r = await churn([n.url], [n.pid], tag);
      const sys = sysPerCycle([n.pid], p0, r.cycles);
      return { ...r, nodeUsPerOp: r.cpuUsPerOp, redisUsPerOp: 0, cmdsPerCycle: 0, sys };
    } finally {
      await n.stop();
    }
  }
  const redis = await startRedis();
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const a = await startSwitchboard({ redisUrl, name: 'node-a', root });
  const b = await startSwitchboard({ redisUrl, name: 'node-b', root });
  const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  try {
    const pids = [a.pid, b.pid, redis.pid];
    await churn([a.url, b.url], pids, `${tag}-warm`, warmMs);
    const s0 = await commandStats(admin);
    const p0 = [procCounts(a.pid), procCounts(b.pid)];
    const r = await churn([a.url, b.url], pids, tag);
    const sys = sysPerCycle([a.pid, b.pid], p0, r.cycles);
    const d = diffStats(s0, await commandStats(admin));
    const ops = 2 * r.cycles;
    return {
      cpuUsPerOp: r.cpuUsPerOp,
      nodeUsPerOp: ((r.serverCpuMs[0]! + r.serverCpuMs[1]!) * 1000) / ops,
      redisUsPerOp: (r.serverCpuMs[2]! * 1000) / ops,
      opsPerSec: r.opsPerSec,
      cmdsPerCycle: [...d.values()].reduce((x, y) => x + y, 0) / Math.max(1, r.cycles),
      sys,
    };
  } finally {
    admin.disconnect();
    for (const p of [a, b, redis]) await p.stop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const rows: Record<'A' | 'B' | 'bare', Row[]> = { A: [], B: [], bare: [] };
const fmt = (r: Row) =>
  `${r.cpuUsPerOp.toFixed(1).padStart(7)} µs/op (nodes ${r.nodeUsPerOp.toFixed(1)}, redis ${r.redisUsPerOp.toFixed(1)}) ${r.opsPerSec.toFixed(0).padStart(5)}/s ${r.cmdsPerCycle.toFixed(2)} cmds/cycle` +
  (r.sys
    ? `, per cycle: ${r.sys.r.toFixed(2)} reads ${r.sys.w.toFixed(2)} writes ${r.sys.cs.toFixed(2)} wake-ups`
    : '');
try {
  for (let i = 0; i < runs; i++) {
    const order: ('A' | 'B')[] = i % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
    for (const which of order) {
      const row = await runOne(roots[which]!, `ab${i}${which}`);
      rows[which].push(row);
      console.log(`run ${i} ${which}: ${fmt(row)}  load ${os.loadavg()[0]!.toFixed(1)}`);
    }
    const bare = await startBare();
    try {
      await churn([bare.url], [bare.pid], `bare${i}-warm`, warmMs);
      const p0 = [procCounts(bare.pid)];
      const r = await churn([bare.url], [bare.pid], `bare${i}`);
      const row = {
        sys: sysPerCycle([bare.pid], p0, r.cycles),
        cpuUsPerOp: r.cpuUsPerOp,
        nodeUsPerOp: r.cpuUsPerOp,
        redisUsPerOp: 0,
        opsPerSec: r.opsPerSec,
        cmdsPerCycle: 0,
      };
      rows.bare.push(row);
      console.log(`run ${i} bare: ${fmt(row)}`);
    } finally {
      await bare.stop();
    }
  }
  for (const k of ['A', 'B', 'bare'] as const) {
    const xs = rows[k];
    const cpu = xs.map((r) => r.cpuUsPerOp);
    const ratio = xs.map((r, i) => r.cpuUsPerOp / rows.bare[i]!.cpuUsPerOp);
    console.log(
      `${k.padEnd(4)} median ${median(cpu).toFixed(1)} µs/op [${Math.min(...cpu).toFixed(0)}–${Math.max(...cpu).toFixed(0)}], ` +
        `nodes ${median(xs.map((r) => r.nodeUsPerOp)).toFixed(1)}, redis ${median(xs.map((r) => r.redisUsPerOp)).toFixed(1)}, ` +
        `${median(xs.map((r) => r.opsPerSec)).toFixed(0)}/s, ${median(xs.map((r) => r.cmdsPerCycle)).toFixed(2)} cmds/cycle, ` +
        `×bare (same round) median ${median(ratio).toFixed(2)} [${Math.min(...ratio).toFixed(2)}–${Math.max(...ratio).toFixed(2)}]`,
    );
  }
} finally {
  gen.stop();
}

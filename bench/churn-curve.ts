/**
 * How a server's CPU per join+leave falls as it warms: the bench's churn (20 loops, 50 rooms)
 * in consecutive short windows against the same processes, two nodes + Redis and the bare
 * relay alternated window by window (so both see the machine's load of the same moment).
 * Usage (after one `npm run bench` built bench/results/build and `npm run build`):
 *   npx tsx bench/churn-curve.ts [--windows=12] [--ms=2000] [--root=DIR]
 */
import type { ChurnResult } from './generator.js';
import { churnCmd, Generator, startBare, startRedis, startSwitchboard } from './servers.js';

const arg = (name: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const windows = Number(arg('windows') ?? 12);
const ms = Number(arg('ms') ?? 2000);
const root = arg('root');

const gen = new Generator();
const churn = (urls: string[], pids: number[], tag: string) =>
  gen.run<ChurnResult>(churnCmd(urls, pids, tag, ms));

const redis = await startRedis();
const redisUrl = `redis://127.0.0.1:${redis.port}`;
const a = await startSwitchboard({ redisUrl, name: 'node-a', root });
const b = await startSwitchboard({ redisUrl, name: 'node-b', root });
const bare = await startBare();
try {
  let ops = { sb: 0, bare: 0 };
  console.log('window  sb ops so far  sb µs/op  bare ops so far  bare µs/op  ×bare');
  for (let i = 0; i < windows; i++) {
    const s = await churn([a.url, b.url], [a.pid, b.pid, redis.pid], `sb${i}`);
    const r = await churn([bare.url], [bare.pid], `bare${i}`);
    ops = { sb: ops.sb + 2 * s.cycles, bare: ops.bare + 2 * r.cycles };
    console.log(
      `${String(i).padStart(6)}  ${String(ops.sb).padStart(13)}  ${s.cpuUsPerOp.toFixed(1).padStart(8)}  ${String(ops.bare).padStart(15)}  ${r.cpuUsPerOp.toFixed(1).padStart(10)}  ${(s.cpuUsPerOp / r.cpuUsPerOp).toFixed(2).padStart(5)}`,
    );
  }
} finally {
  for (const p of [a, b, bare, redis]) await p.stop();
  gen.stop();
}

/**
 * `--only=idle100k`: 100,000 idle connections on one node (issue 11), the bare relay and
 * single-node Switchboard (memory backend), one after the other, each in a fresh process; the
 * generator's side is bench/idle-conns.ts. Server and generator each need an open file per
 * connection: when the inherited limit is too low the processes are started under
 * `prlimit --nofile`; when that is not permitted, the run says so in one line and measures the
 * most connections the limit allows instead.
 */
import type { IdleConnsCmd, IdleConnsResult } from './idle-conns.js';
import {
  Generator,
  openFilesLimit,
  openFilesPrefix,
  startBare,
  startSwitchboard,
  type Proc,
} from './servers.js';
import type { Server } from './report.js';

export const IDLE_CONNS_TARGET_N = 100_000;
/** Open files beyond the connections: the listening socket, IPC, stdio, libuv, V8 threads. */
const HEADROOM = 1000;

export interface IdleConnsRun {
  /** Connections asked for, and measured (lower when the open-files limit forced it). */
  wanted: number;
  n: number;
  /** Why n < wanted, one line. */
  limitNote?: string;
  /** Per server: the repetition with the median KiB/conn. */
  result: Partial<Record<Server, IdleConnsResult>>;
  reps: Partial<Record<Server, IdleConnsResult[]>>;
}

export async function idle100kScenario(opts: {
  gen: Generator;
  wanted: number;
  /** Repetitions per server, alternated; default 1 at 50,000 connections or more, else 3. */
  reps?: number | undefined;
  settleMs: number;
  log: (s: string) => void;
}): Promise<IdleConnsRun> {
  const { log } = opts;
  let n = opts.wanted;
  let limitNote: string | undefined;
  let limit = openFilesPrefix(n + HEADROOM);
  if ('error' in limit) {
    const fit = Math.floor((openFilesLimit().hard - HEADROOM) / 1000) * 1000;
    limitNote = `${limit.error}: measured ${fit} connections, not ${n}`;
    log(`idle100k: ${limitNote}`);
    n = fit;
    limit = { prefix: [] };
  }
  const { prefix } = limit;
  const run: IdleConnsRun = { wanted: opts.wanted, n, limitNote, result: {}, reps: {} };
  if (n <= 0) return run;
  // The shared generator inherited this process's limit; a raised one needs its own process.
  const gen = prefix.length > 0 ? new Generator(prefix) : opts.gen;
  const starts: [Server, () => Promise<Proc>][] = [
    ['bare', () => startBare([], prefix)],
    ['switchboard', () => startSwitchboard({ prefix })],
  ];
  const reps = opts.reps ?? (n >= 50_000 ? 1 : 3);
  try {
    for (let rep = 0; rep < reps; rep++)
      for (const [server, start] of starts) {
        const p = await start();
        try {
          const cmd: IdleConnsCmd = {
            kind: 'idleconns',
            url: p.url,
            tag: `idle${rep}`,
            n,
            concurrency: 200,
            settleMs: opts.settleMs,
            // 100,000 at the storm's ~2,600 conn/s is under 40 s; the bound allows 333 conn/s (a machine busy with other work).
            openTimeoutMs: Math.max(120_000, n * 3),
            pid: p.pid,
          };
          const r = await gen.run<IdleConnsResult>(cmd);
          log(
            `idle100k ${server} (${n} conns): ${r.connPerSec.toFixed(0)} conn/s, ${r.kbPerConn.toFixed(2)} KiB/conn (RSS ${(r.baseRssKb / 1024).toFixed(0)} → ${(r.rssKb / 1024).toFixed(0)} MiB), server ${r.serverCpuUsPerConn.toFixed(0)} µs/conn, gen ${r.genCpuPct.toFixed(0)}% ${r.genRssMb.toFixed(0)} MiB`,
          );
          (run.reps[server] ??= []).push(r);
        } finally {
          await p.stop();
        }
      }
  } finally {
    if (gen !== opts.gen) gen.stop();
  }
  for (const [server] of starts) {
    const reps = [...(run.reps[server] ?? [])].sort((a, b) => a.kbPerConn - b.kbPerConn);
    if (reps.length) run.result[server] = reps[Math.floor((reps.length - 1) / 2)];
  }
  return run;
}

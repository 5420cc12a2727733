/**
 * Idle connections on one node (issue 11: 100,000 at ≤ 1.3× the bare relay's RSS per
 * connection), the generator's side. Like the connect storm, but every client binds its own
 * source address in 127.0.0.0/8 (Linux routes the whole /8 to lo): from one address to one
 * port the ephemeral range (32768–60999 here) runs out near 28,000 connections, and a real
 * deployment's clients come from many addresses, so per-IP state is part of what is measured.
 * Rooms of 2 (a one-to-one call holding its signaling connection open), `?v=2`, each counted
 * at its welcome (admission complete).
 *
 * RSS per connection = (RSS with all N open and settled − RSS after a 500-connection warm-up,
 * from addresses of its own, was opened and closed) / N. Bounded: every admission times out
 * at 15 s, the whole open phase at `openTimeoutMs`, the close at 60 s (then terminate).
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { StormResult } from './generator.js';
import { cpuMs, rssKb } from './proc.js';
import { Samples } from './stats.js';

export interface IdleConnsCmd {
  kind: 'idleconns';
  url: string;
  tag: string;
  n: number;
  concurrency: number;
  settleMs: number;
  /** The whole open phase gives up (and fails the run) after this long. */
  openTimeoutMs: number;
  pid: number;
}

/** A storm's figures (the same fields, measured the same way), plus what idle rooms add. */
export interface IdleConnsResult extends StormResult {
  /** Distinct source addresses the clients bound (one per client). */
  sourceAddresses: number;
  /** Server CPU spent per admitted connection while they opened (ms of CPU / N, in µs). */
  serverCpuUsPerConn: number;
  /** The generator's own RSS with every connection open. */
  genRssMb: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The i-th source address: 127.A.B.C with A from 1, B and C in 1–254 (no .0 or .255 in any
 * octet, so nothing looks like a network or broadcast address): 16 M addresses.
 */
export function sourceAddress(i: number): string {
  const c = (i % 254) + 1;
  const b = (Math.floor(i / 254) % 254) + 1;
  const a = Math.floor(i / (254 * 254)) + 1;
  if (a > 254) throw new Error(`source address ${i} is outside 127.0.0.0/8`);
  return `127.${a}.${b}.${c}`;
}

/** Open a v2 connection and resolve once the server's welcome arrives (admission complete). */
export function admit(url: string, timeoutMs = 15_000, localAddress?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('admission timed out'));
    }, timeoutMs);
    ws.once('message', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    ws.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`closed ${code} before welcome`));
    });
  });
}

async function closeAll(sockets: WebSocket[], ms: number): Promise<void> {
  let open = 0;
  for (const ws of sockets)
    if (ws.readyState !== WebSocket.CLOSED) {
      open++;
      ws.once('close', () => open--);
      ws.close();
    }
  const end = performance.now() + ms;
  while (open > 0 && performance.now() < end) await sleep(20);
  for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
}

/** Open `n` clients, `concurrency` in flight, from addresses first…first+n−1; stop at `deadline`. */
async function openMany(
  cmd: IdleConnsCmd,
  n: number,
  first: number,
  room: (i: number) => string,
  deadline: number,
  sockets: WebSocket[],
  times?: Samples,
): Promise<void> {
  let next = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (next < n && !failure) {
      const i = next++;
      if (performance.now() > deadline) {
        failure = new Error(`open phase passed its bound with ${sockets.length} of ${n} open`);
        return;
      }
      const s = performance.now();
      try {
        sockets.push(
          await admit(`${cmd.url}/?v=2&roomId=${room(i)}`, 15_000, sourceAddress(first + i)),
        );
      } catch (err) {
        failure = new Error(`connection ${i}: ${(err as Error).message}`);
        return;
      }
      times?.add(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, n) }, worker));
  if (failure) throw failure;
}

export async function idleConns(cmd: IdleConnsCmd): Promise<IdleConnsResult> {
  const WARM = Math.min(500, cmd.n);
  const start = performance.now();
  const warm: WebSocket[] = [];
  try {
    await openMany(
      cmd,
      WARM,
      cmd.n,
      (i) => `${cmd.tag}-warm-${i >> 1}`,
      start + cmd.openTimeoutMs,
      warm,
    );
  } finally {
    await closeAll(warm, 20_000);
  }
  await sleep(cmd.settleMs);
  const baseRssKb = rssKb(cmd.pid);
  const sockets: WebSocket[] = [];
  const times = new Samples(cmd.n);
  const cpu0 = cpuMs(cmd.pid);
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  let elapsed: number;
  let gen: NodeJS.CpuUsage;
  let cpu: number;
  try {
    await openMany(
      cmd,
      cmd.n,
      0,
      (i) => `${cmd.tag}-${i >> 1}`,
      t0 + cmd.openTimeoutMs,
      sockets,
      times,
    );
    elapsed = performance.now() - t0;
    gen = process.cpuUsage(gen0);
    cpu = cpuMs(cmd.pid) - cpu0;
    await sleep(cmd.settleMs);
  } catch (err) {
    await closeAll(sockets, 60_000);
    throw err;
  }
  const rss = rssKb(cmd.pid);
  const genRssMb = process.memoryUsage.rss() / 2 ** 20;
  await closeAll(sockets, 60_000);
  const p = times.percentiles();
  return {
    n: cmd.n,
    sourceAddresses: cmd.n,
    connPerSec: (cmd.n * 1000) / elapsed,
    p50Ms: p.p50,
    p99Ms: p.p99,
    baseRssKb,
    rssKb: rss,
    kbPerConn: (rss - baseRssKb) / cmd.n,
    serverCpuUsPerConn: (cpu * 1000) / cmd.n,
    genCpuPct: ((gen.user + gen.system) / 1000 / elapsed) * 100,
    genRssMb,
  };
}

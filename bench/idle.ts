/**
 * The idle scenario of issue 11: N idle members, each alone in its own room, spread over two
 * nodes on one Redis (or a Redis Cluster: `RedisProbe`); then Redis commands per second (INFO
 * commandstats, the calls scripts make included; summed over the masters of a Cluster) and node
 * CPU over a fixed window with nobody sending. Run for a few room counts to show whether idle
 * cost grows with rooms. The connections are opened from the harness process (pinned off the
 * servers' core), v1, and counted once Redis lists every member.
 */
import { Cluster, Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { cpuMs } from './proc.js';

export interface IdleResult {
  rooms: number;
  windowMs: number;
  redisCmdsPerSec: number;
  /** Of those: calls made by clients (EVALSHA/EVAL and plain commands, not inside scripts). */
  byCommand: Record<string, number>;
  nodeCpuPct: number[];
  /** All redis-server processes together (the masters of a Cluster). */
  redisCpuPct: number;
}

/** Calls per command from INFO commandstats. */
export async function commandStats(redis: Redis): Promise<Map<string, number>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, number>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

async function readsProcessed(redis: Redis): Promise<number> {
  return Number(/^total_reads_processed:(\d+)/m.exec(await redis.info('stats'))?.[1] ?? NaN);
}

/**
 * What the idle run and the cross-node runs read from Redis: one redis-server, or every master of
 * a Redis Cluster (commands summed over them; room keys read through a Cluster client).
 */
export interface RedisProbe {
  /** Calls per command (INFO commandstats), summed over the servers. */
  stats(): Promise<Map<string, number>>;
  /** Reads of client sockets (INFO stats `total_reads_processed`), summed over the servers. */
  reads(): Promise<number>;
  /** A client for reading room keys (routed by slot on a Cluster). */
  readonly keys: Redis | Cluster;
  /** The redis-server processes, for their CPU. */
  readonly pids: number[];
  close(): void;
}

export function singleProbe(port: number, pid: number): RedisProbe {
  const redis = new Redis({ port, host: '127.0.0.1' });
  return {
    stats: () => commandStats(redis),
    reads: () => readsProcessed(redis),
    keys: redis,
    pids: [pid],
    close: () => redis.disconnect(),
  };
}

export function clusterProbe(ports: number[], pids: number[]): RedisProbe {
  const masters = ports.map((port) => new Redis({ port, host: '127.0.0.1' }));
  const keys = new Cluster(ports.map((port) => ({ port, host: '127.0.0.1' })));
  return {
    async stats() {
      const sum = new Map<string, number>();
      for (const m of await Promise.all(masters.map(commandStats)))
        for (const [k, v] of m) sum.set(k, (sum.get(k) ?? 0) + v);
      return sum;
    },
    async reads() {
      return (await Promise.all(masters.map(readsProcessed))).reduce((a, b) => a + b, 0);
    },
    keys,
    pids,
    close() {
      for (const m of masters) m.disconnect();
      keys.disconnect();
    },
  };
}

export function diffStats(a: Map<string, number>, b: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of b) {
    if (k === 'info' || k.startsWith('config')) continue;
    const d = v - (a.get(k) ?? 0);
    if (d > 0) out.set(k, d);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function idleRun(
  urls: string[],
  redis: RedisProbe,
  nodePids: number[],
  rooms: number,
  windowMs: number,
): Promise<IdleResult> {
  const sumCpu = (pids: number[]) => pids.reduce((a, p) => a + cpuMs(p), 0);
  const sockets: WebSocket[] = [];
  try {
    let next = 0;
    const worker = async () => {
      while (next < rooms) {
        const i = next++;
        const url = `${urls[i % urls.length]}/?roomId=idle${rooms}-${i}`;
        await new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url, { perMessageDeflate: false });
          sockets.push(ws);
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
      }
    };
    await Promise.all(Array.from({ length: 100 }, worker));
    // Admission done everywhere: the last room of each node is in Redis; then let the joins'
    // own traffic (subscriptions, reconciliation, the limit sync of the connections) pass.
    const deadline = Date.now() + 60_000;
    for (let i = rooms - urls.length; i < rooms; i++)
      while ((await redis.keys.scard(`room:idle${rooms}-${i}`)) === 0 && Date.now() < deadline)
        await sleep(50);
    await sleep(2000);
    const s0 = await redis.stats();
    const c0 = nodePids.map(cpuMs);
    const r0 = sumCpu(redis.pids);
    const t0 = performance.now();
    await sleep(windowMs);
    const elapsed = performance.now() - t0;
    const s1 = await redis.stats();
    const c1 = nodePids.map(cpuMs);
    const r1 = sumCpu(redis.pids);
    const d = diffStats(s0, s1);
    const total = [...d.values()].reduce((a, b) => a + b, 0);
    return {
      rooms,
      windowMs: Math.round(elapsed),
      redisCmdsPerSec: (total * 1000) / elapsed,
      byCommand: Object.fromEntries(d),
      nodeCpuPct: c1.map((c, i) => ((c - c0[i]!) * 100) / elapsed),
      redisCpuPct: ((r1 - r0) * 100) / elapsed,
    };
  } finally {
    let open = sockets.length;
    for (const ws of sockets) {
      ws.once('close', () => open--);
      ws.terminate();
    }
    const end = Date.now() + 20_000;
    while (open > 0 && Date.now() < end) await sleep(20);
    // The nodes have processed the leaves once the rooms are gone from Redis (bounded).
    const gone = Date.now() + 60_000;
    for (let i = rooms - urls.length; i < rooms && Date.now() < gone; i++)
      while ((await redis.keys.exists(`room:idle${rooms}-${i}`)) === 1 && Date.now() < gone)
        await sleep(50);
  }
}

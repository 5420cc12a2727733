/**
 * --only=cluster (and the full run): the cross-node scenario on a real 3-master Redis Cluster
 * (the tests' helper; sharded pub/sub), with the figures of the single-Redis cross-node path:
 * the K=2 relay's CPU per delivered message (both nodes + every master), p50/p99, loss, Redis
 * commands per delivered message (INFO commandstats summed over the masters), and the idle
 * scenario (Redis commands/s and node CPU at each --idle room count). The masters are pinned
 * to the servers' core, as redis-server is.
 */
import type { RelayCmd, RelayResult } from './generator.js';
import { clusterProbe, diffStats, idleRun, type IdleResult } from './idle.js';
import type { RunResults } from './report.js';
import { pinToServerCore, startSwitchboard, type Generator } from './servers.js';

export const CLUSTER_SERVER = 'switchboard×2+cluster×3';

export interface ClusterBenchDeps {
  gen: Generator;
  /** The cross-node relay command (rooms, K, rate, burst as in the single-Redis run). */
  relayCmd: (urls: string[], tag: string, pids: number[]) => RelayCmd;
  /** What the relay scenario is called in `redisCommands` (its rooms, K and burst). */
  label: string;
  reps: number;
  idleRooms: number[];
  idleWindowMs: number;
  log: (s: string) => void;
  logRelay: (name: string, server: string, r: RelayResult) => void;
  medianOf: (reps: RelayResult[]) => RelayResult;
  results: RunResults;
}

export async function clusterScenario(d: ClusterBenchDeps): Promise<void> {
  const { RedisClusterNodes } = await import('../test/helpers/redis.js');
  let cluster: Awaited<ReturnType<typeof RedisClusterNodes.start>>;
  try {
    cluster = await RedisClusterNodes.start();
  } catch (err) {
    d.results.skipped.push(`cluster: ${(err as Error).message}`);
    return;
  }
  const masterPids = cluster.servers.map(
    (s) => (s as unknown as { proc: { pid: number } }).proc.pid,
  );
  const probe = clusterProbe(
    cluster.servers.map((s) => s.port),
    masterPids,
  );
  try {
    for (const pid of masterPids) pinToServerCore(pid);
    const clusterNodes = cluster.seeds.join(',');
    const a = await startSwitchboard({ clusterNodes, name: 'cluster-a' });
    const b = await startSwitchboard({ clusterNodes, name: 'cluster-b' });
    try {
      const pids = [a.pid, b.pid, ...masterPids];
      const cmd = (tag: string) => d.relayCmd([a.url, b.url], tag, pids);
      await d.gen.run<RelayResult>(cmd('cl-warm'));
      const reps: RelayResult[] = [];
      const s0 = await probe.stats();
      const reads0 = await probe.reads();
      for (let i = 0; i < d.reps; i++) {
        const r = await d.gen.run<RelayResult>(cmd(`cl${i}`));
        d.logRelay('K=2 cross-node', CLUSTER_SERVER, r);
        reps.push(r);
      }
      const diff = diffStats(s0, await probe.stats());
      const reads = (await probe.reads()) - reads0;
      const delivered = reps.reduce((n, r) => n + r.delivered, 0);
      (d.results.redisCommands ??= []).push({
        scenario: `cluster ${d.label}`,
        perUnit: [...diff.values()].reduce((x, y) => x + y, 0) / Math.max(1, delivered),
        unit: 'per delivered msg, 3 masters (probes included)',
        readsPerUnit: reads / Math.max(1, delivered),
        by: Object.fromEntries(diff),
      });
      d.results.relay.push({
        name: 'K=2 cross-node',
        server: CLUSTER_SERVER,
        result: d.medianOf(reps),
        reps,
      });
      for (const rooms of d.idleRooms) {
        const r: IdleResult = await idleRun(
          [a.url, b.url],
          probe,
          [a.pid, b.pid],
          rooms,
          d.idleWindowMs,
        );
        d.log(
          `idle ${rooms} rooms, cluster: ${r.redisCmdsPerSec.toFixed(1)} redis cmds/s, node cpu ${r.nodeCpuPct.map((c) => c.toFixed(2)).join(' + ')} %`,
        );
        (d.results.clusterIdle ??= []).push(r);
      }
    } finally {
      await a.stop();
      await b.stop();
    }
  } finally {
    probe.close();
    await cluster.stop();
  }
}

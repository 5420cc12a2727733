/**
 * `npx tsx bench/cluster-cork.ts`: the client-side cost of corking per master on a Redis Cluster
 * (src/backend/cluster-turn.ts), in one process, against a real 3-master cluster: N flushes, each
 * in its own event-loop turn, each of `perTurn` SPUBLISHes spread over `spread` masters, with
 * the masters' sockets corked around the flush or not; alternated, process CPU (user + sys) per
 * publish and the masters' reads (INFO stats) per publish. Prints one line per round.
 */
import { Cluster } from 'ioredis';
import { clusterTurn } from '../src/backend/cluster-turn.js';
import { RedisClusterNodes } from '../test/helpers/redis.js';

const N = Number(process.argv.find((a) => a.startsWith('--n='))?.slice(4) ?? 20_000);
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 5);

const nodes = await RedisClusterNodes.start();
const masters = nodes.servers.map((s) => s.client());
const cluster = new Cluster(
  nodes.servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
  { lazyConnect: true, enableOfflineQueue: false, redisOptions: { enableAutoPipelining: false } },
);
try {
  await cluster.connect();
  // One channel per master.
  const channels: string[] = [];
  for (let i = 0; channels.length < 3 && i < 10_000; i++) {
    const slot = (await masters[0]!.cluster('KEYSLOT', `ch${i}`)) as number;
    const ranges = await masters[0]!.cluster('SLOTS');
    const port = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2]![1];
    const m = nodes.servers.findIndex((s) => s.port === port);
    channels[m] ??= `ch${i}`;
  }
  await Promise.all(channels.map((c) => cluster.spublish(c!, 'warm')));
  const turn = clusterTurn(cluster);
  const reads = async () => {
    let n = 0;
    for (const m of masters)
      n += Number(/total_reads_processed:(\d+)/.exec(await m.info('stats'))![1]);
    return n;
  };
  const payload = JSON.stringify({
    senderId: 'x',
    data: { type: 'candidate', candidate: 'c'.repeat(150) },
  });
  const run = async (cork: boolean, perTurn: number, spread: number) => {
    const r0 = await reads();
    const c0 = process.cpuUsage();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const flush = () => {
        for (let k = 0; k < perTurn; k++)
          pending.push(cluster.spublish(channels[k % spread]!, payload));
      };
      if (cork) turn.corked(flush);
      else flush();
      await new Promise((r) => setImmediate(r));
      if (pending.length > 2000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const c = process.cpuUsage(c0);
    const r = (await reads()) - r0 - masters.length;
    const total = N * perTurn;
    return { us: (c.user + c.system) / total, user: c.user / total, reads: r / total };
  };
  for (const [perTurn, spread] of [
    [1, 1],
    [3, 3],
    [5, 1],
  ] as const) {
    for (let round = 0; round < ROUNDS; round++)
      for (const cork of [false, true]) {
        const r = await run(cork, perTurn, spread);
        console.log(
          `perTurn=${perTurn} spread=${spread} cork=${cork ? 'on ' : 'off'} round ${round}: ${r.us.toFixed(2)} µs/publish (user ${r.user.toFixed(2)}), reads/publish ${r.reads.toFixed(3)}`,
        );
      }
  }
} finally {
  cluster.disconnect();
  for (const m of masters) m.disconnect();
  await nodes.stop();
}

/**
 * The two-node scenarios of `npm run bench` on one redis-server: cross-node relay, its
 * variants, churn, cross-node saturation (Switchboard and Socket.IO + adapter alternated),
 * idle rooms with and without pings, the server API under load, and Socket.IO's cross-node
 * relay (issue 11).
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { apiLoad, type ApiLoadResult } from './api-load.js';
import type { ChurnResult, RelayCmd, RelayResult } from './generator.js';
import { Redis } from 'ioredis';
import { crossVariants } from './cross-variants.js';
import { commandStats, diffStats, idleRun, singleProbe } from './idle.js';
import {
  churnCmd,
  Generator,
  startBare,
  startRedis,
  startSocketIo,
  startSwitchboard,
  type Proc,
} from './servers.js';
import { saturateAlternated } from './saturation.js';
import {
  CROSS_BURST,
  CROSS_K,
  CROSS_SAT_START,
  FIXED_RATE,
  IDLE_ROOMS,
  IDLE_WINDOW_MS,
  K2_ROOMS,
  MODE,
  SAT_BURST,
  enabled,
  log,
  logRelay,
  medianOf,
  relayCmd,
  results,
  satOptions,
  scenario,
  withServer,
} from './run-context.js';

/** Whether this build has a working redis backend (it is developed on another branch). */
async function redisWorks(redis: Proc): Promise<boolean> {
  try {
    const p = await startSwitchboard({ redisUrl: `redis://127.0.0.1:${redis.port}` });
    await p.stop();
    return true;
  } catch (err) {
    log(`redis backend unavailable: ${(err as Error).message}`);
    return false;
  }
}

let singleNodeMeasured = false;

/**
 * The cross-node targets (single Redis and Cluster) compare with single-node Switchboard under the
 * same load: measure it in this run when the relay scenario does not (or used another K or
 * burst), warm like every measured server; once per run.
 */
export async function singleNodeForCross(gen: Generator): Promise<void> {
  if (singleNodeMeasured || (enabled('relay') && CROSS_BURST === 1 && CROSS_K === 2)) return;
  singleNodeMeasured = true;
  await withServer(
    () => startSwitchboard(),
    async (p) => {
      const cmd = (tag: string) =>
        relayCmd([p.url], tag, CROSS_K, K2_ROOMS, FIXED_RATE, MODE.fixedMs, [p.pid], CROSS_BURST);
      await gen.run<RelayResult>(cmd('warm'));
      const r = await gen.run<RelayResult>(cmd('fixed2'));
      results.relay.push({ name: 'K=2 fixed', server: 'switchboard', result: r });
    },
  );
}

export async function redisScenarios(gen: Generator): Promise<void> {
  const churnRun = (urls: string[], pids: number[], tag: string, durationMs: number) =>
    gen.run<ChurnResult>(churnCmd(urls, pids, tag, durationMs));
  // Both servers warmed first, unmeasured (MODE.churnWarmMs): measured cold, a node's TurboFan
  // threads took 20–25 % of its CPU during the churn (perf record -e cpu-clock) and its CPU per
  // join+leave was 2–3× its warm figure for the first ~8 s (bench/churn-curve.ts), a start-up
  // cost that the bare relay's much smaller code hardly pays (docs/performance.md, issue 11).
  const warmChurn = (urls: string[], pids: number[]) =>
    churnRun(urls, pids, 'churn-warm', MODE.churnWarmMs);
  const churnOf = (urls: string[], pids: number[]) => churnRun(urls, pids, 'churn', MODE.churnMs);
  if (enabled('churn'))
    await withServer(
      () => startBare(),
      async (p) => {
        await warmChurn([p.url], [p.pid]);
        const r = await churnOf([p.url], [p.pid]);
        log(`churn bare: ${r.opsPerSec.toFixed(0)} join+leave/s`);
        results.churn.push({ name: 'churn', server: 'bare', result: r });
      },
    );
  if (enabled('cross')) await singleNodeForCross(gen);
  let redis: Proc;
  try {
    redis = await startRedis();
  } catch (err) {
    results.skipped.push(`cross-node and churn on Switchboard: ${(err as Error).message}`);
    return;
  }
  try {
    if (!(await redisWorks(redis))) {
      results.skipped.push(
        'cross-node and churn on Switchboard: the redis backend is not in this build',
      );
      return;
    }
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    const env = { API_KEYS: BENCH_API_KEY };
    const a = await startSwitchboard({ redisUrl, name: 'node-a', env });
    const b = await startSwitchboard({ redisUrl, name: 'node-b', env });
    const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
    try {
      const pids = [a.pid, b.pid, redis.pid];
      if (enabled('api')) await apiScenario(gen, a, b, pids);
      if (enabled('cross')) {
        const cmd = (tag: string) =>
          relayCmd(
            [a.url, b.url],
            tag,
            CROSS_K,
            K2_ROOMS,
            FIXED_RATE,
            MODE.fixedMs,
            pids,
            CROSS_BURST,
          );
        // Warm both nodes first, as the single-node servers are: a fresh node spends its first
        // seconds compiling (V8's background threads took a quarter of its CPU), and the
        // single-node figure this is compared with is measured warm.
        await gen.run<RelayResult>(cmd('cross-warm'));
        const reps: RelayResult[] = [];
        const s0 = await commandStats(admin);
        for (let i = 0; i < MODE.headlineReps; i++) {
          const r = await gen.run<RelayResult>(cmd(`cross${i}`));
          logRelay('K=2 cross-node', 'switchboard×2+redis', r);
          reps.push(r);
        }
        const d = diffStats(s0, await commandStats(admin));
        const delivered = reps.reduce((n, r) => n + r.delivered, 0);
        (results.redisCommands ??= []).push({
          scenario: `cross-node K=${CROSS_K} ${K2_ROOMS} rooms burst ${CROSS_BURST}`,
          perUnit: [...d.values()].reduce((a, b) => a + b, 0) / Math.max(1, delivered),
          unit: 'per delivered msg (warm-up and probes included)',
          by: Object.fromEntries(d),
        });
        results.relay.push({
          name: 'K=2 cross-node',
          server: 'switchboard×2+redis',
          result: medianOf(reps),
          reps,
        });
      }
      if (enabled('variants'))
        await withServer(
          () => startSwitchboard(),
          async (one) => {
            results.crossVariants = await crossVariants({
              run: (cmd) => gen.run<RelayResult>(cmd),
              single: { url: one.url, pids: [one.pid] },
              cross: { urls: [a.url, b.url], pids },
              cmd: (urls, tag, k, rooms, p, burst) =>
                relayCmd(urls, tag, k, rooms, FIXED_RATE, MODE.fixedMs, p, burst),
              reps: MODE.reps,
              log,
              median: medianOf,
            });
          },
        );
      if (enabled('churn')) {
        await warmChurn([a.url, b.url], pids);
        const s0 = await commandStats(admin);
        const r = await churnOf([a.url, b.url], pids);
        const d = diffStats(s0, await commandStats(admin));
        log(`churn switchboard×2+redis: ${r.opsPerSec.toFixed(0)} join+leave/s`);
        results.churn.push({ name: 'churn', server: 'switchboard×2+redis', result: r });
        // A cycle is one join and one leave: commands per cycle.
        (results.redisCommands ??= []).push({
          scenario: 'churn, 2 nodes',
          perUnit: [...d.values()].reduce((a, b) => a + b, 0) / Math.max(1, r.cycles),
          unit: 'per join+leave',
          by: Object.fromEntries(d),
        });
      }
      if (enabled('crosssat'))
        await scenario('cross-node saturation', () => crossSaturation(gen, redis, a, b, pids));
      if (enabled('idle'))
        for (const rooms of IDLE_ROOMS) {
          const probe = singleProbe(redis.port, redis.pid);
          const r = await idleRun(
            [a.url, b.url],
            probe,
            [a.pid, b.pid],
            rooms,
            IDLE_WINDOW_MS,
          ).finally(() => probe.close());
          log(
            `idle ${rooms} rooms: ${r.redisCmdsPerSec.toFixed(1)} redis cmds/s, node cpu ${r.nodeCpuPct.map((c) => c.toFixed(2)).join(' + ')} %`,
          );
          (results.idle ??= []).push(r);
        }
    } finally {
      admin.disconnect();
      await a.stop();
      await b.stop();
    }
    if (enabled('idle')) await idleWithoutPings(redis);
    if (enabled('sio') && enabled('cross') && (await socketIoAvailable()))
      await socketIoScenarios(gen, redis);
  } finally {
    await redis.stop();
  }
}

/**
 * The idle scenario again on two fresh nodes whose SPEC §3 pings fall outside the window
 * (HEARTBEAT_INTERVAL_MS 600000): the node CPU that grows with the rooms apart from the ping
 * each connection is owed (the 10,000-room run holds 10,000 connections).
 */
async function idleWithoutPings(redis: Proc): Promise<void> {
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const env = { HEARTBEAT_INTERVAL_MS: '600000' };
  const a = await startSwitchboard({ redisUrl, name: 'node-a-nopings', env });
  const b = await startSwitchboard({ redisUrl, name: 'node-b-nopings', env });
  try {
    for (const rooms of IDLE_ROOMS) {
      const probe = singleProbe(redis.port, redis.pid);
      const r = await idleRun([a.url, b.url], probe, [a.pid, b.pid], rooms, IDLE_WINDOW_MS).finally(
        () => probe.close(),
      );
      log(
        `idle ${rooms} rooms, pings off: node cpu ${r.nodeCpuPct.map((c) => c.toFixed(2)).join(' + ')} %`,
      );
      (results.idleNoPings ??= []).push(r);
    }
  } finally {
    await a.stop();
    await b.stop();
  }
}

const BENCH_API_KEY = 'bench-api-key-0123456789';
const API_CONCURRENCY = 16;

/**
 * Server API rate while signaling flows: GET /api/v1/rooms/ROOM on both nodes (keep-alive, 16
 * in flight, from the harness process) during a K=2 cross-node relay at the fixed rate. The
 * relay's own figures are reported beside it, to compare with the relay without API load.
 */
async function apiScenario(gen: Generator, a: Proc, b: Proc, pids: number[]): Promise<void> {
  // Alone first: one member in a room on node A, the API asked on both nodes; CPU per request.
  const member = new WebSocket(`${a.url}/?roomId=api-solo`);
  await once(member, 'open');
  await untilApi(a.port, '/api/v1/rooms/api-solo');
  const load = {
    ports: [a.port, b.port],
    key: BENCH_API_KEY,
    path: '/api/v1/rooms/api-solo',
    concurrency: API_CONCURRENCY,
    pids,
  };
  await apiLoad({ ...load, durationMs: MODE.warmupMs * 2 }); // JIT warm-up, not measured
  const alone = await apiLoad({ ...load, durationMs: MODE.fixedMs });
  member.close();
  logApi('alone', alone);

  const relay = gen.run<RelayResult>(
    relayCmd([a.url, b.url], 'api', 2, K2_ROOMS, FIXED_RATE, MODE.fixedMs, pids),
  );
  const path = '/api/v1/rooms/api-0';
  await untilApi(a.port, path);
  await new Promise((r) => setTimeout(r, MODE.warmupMs));
  const during = await apiLoad({
    ports: [a.port, b.port],
    key: BENCH_API_KEY,
    path,
    concurrency: API_CONCURRENCY,
    durationMs: MODE.fixedMs - MODE.warmupMs,
    pids,
  });
  const r = await relay;
  logApi('during a K=2 cross-node relay', during);
  logRelay('K=2 cross-node with API load', 'switchboard×2+redis', r);
  results.api = { concurrency: API_CONCURRENCY, alone, during, relay: r };
}

function logApi(when: string, r: ApiLoadResult): void {
  log(
    `api GET /api/v1/rooms/ROOM on 2 nodes, ${when}: ${r.perSec.toFixed(0)} req/s, ` +
      `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ` +
      `cpu ${r.cpuUsPerRequest.toFixed(0)} µs/req (nodes+redis), ${r.errors} errors`,
  );
}

/** Wait until the API answers 200 for path (the room exists), bounded. */
async function untilApi(port: number, path: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      headers: { authorization: `Bearer ${BENCH_API_KEY}` },
    }).catch(() => undefined);
    if (res?.status === 200) return;
    if (Date.now() > deadline) throw new Error(`api scenario: ${path} never answered 200`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
/**
 * Cross-node saturation, 50 rooms × 10 peers spread over two nodes, bursts: Switchboard's nodes
 * (already up) and, when installed, a Socket.IO + adapter pair on the same redis-server,
 * searched alternately (an idle pair costs next to nothing meanwhile).
 */
async function crossSaturation(
  gen: Generator,
  redis: Proc,
  a: Proc,
  b: Proc,
  pids: number[],
): Promise<void> {
  const SB = 'switchboard×2+redis';
  const SIO = 'socket.io×2+redis';
  const sio =
    enabled('sio') && (await socketIoAvailable())
      ? await Promise.all([
          startSocketIo(`redis://127.0.0.1:${redis.port}`, 'sio-sat-a'),
          startSocketIo(`redis://127.0.0.1:${redis.port}`, 'sio-sat-b'),
        ])
      : undefined;
  try {
    const sat = await saturateAlternated(sio ? [SB, SIO] : [SB], MODE.satRounds, (server) =>
      satOptions(gen, CROSS_SAT_START, (tag, rate) => {
        if (server === SB)
          return relayCmd([a.url, b.url], tag, 10, 50, rate, MODE.satStepMs, pids, SAT_BURST);
        const [sa, sb] = sio!;
        const cmd = relayCmd([sa.url, sb.url], tag, 10, 50, rate, MODE.satStepMs, pids, SAT_BURST);
        return { ...cmd, pids: [sa.pid, sb.pid, redis.pid], sio: true };
      }),
    );
    for (const [server, s] of Object.entries(sat)) {
      (results.crossSaturation ??= {})[server] = s.deliveredPerSec;
      (results.crossSaturationSearches ??= {})[server] = s.searches;
    }
  } finally {
    if (sio) for (const p of sio) await p.stop();
  }
}

async function socketIoAvailable(): Promise<boolean> {
  try {
    await import('socket.io');
    await import('@socket.io/redis-adapter');
    return true;
  } catch {
    results.skipped.push('socket.io: socket.io or @socket.io/redis-adapter is not installed');
    return false;
  }
}

/**
 * Socket.IO + @socket.io/redis-adapter, two processes on the same redis-server, loaded like
 * Switchboard's cross-node run (same rooms, peers, rate, bursts): the second reference.
 */
async function socketIoScenarios(gen: Generator, redis: Proc): Promise<void> {
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const a = await startSocketIo(redisUrl, 'sio-a');
  const b = await startSocketIo(redisUrl, 'sio-b');
  try {
    const pids = [a.pid, b.pid, redis.pid];
    if (enabled('cross')) {
      const cmd = (tag: string): RelayCmd => ({
        ...relayCmd(
          [a.url, b.url],
          tag,
          CROSS_K,
          K2_ROOMS,
          FIXED_RATE,
          MODE.fixedMs,
          pids,
          CROSS_BURST,
        ),
        sio: true,
      });
      await gen.run<RelayResult>(cmd('sio-warm'));
      const reps: RelayResult[] = [];
      for (let i = 0; i < MODE.headlineReps; i++) {
        const r = await gen.run<RelayResult>(cmd(`sio${i}`));
        logRelay('K=2 cross-node', 'socket.io×2+redis', r);
        reps.push(r);
      }
      results.relay.push({
        name: 'K=2 cross-node',
        server: 'socket.io×2+redis',
        result: medianOf(reps),
        reps,
      });
    }
  } finally {
    await a.stop();
    await b.stop();
  }
}

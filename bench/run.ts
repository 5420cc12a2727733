/**
 * `npm run bench [-- --quick] [-- --only=relay,saturation,storm,idle100k,cross,variants,churn,idle,crosssat,sio,cluster,api,webhooks] [-- --profile[=cross|=churn]]`
 * (`cluster` is in the full run; `webhooks` runs only when named)
 *
 * Starts every server itself on 127.0.0.1 (Switchboard from dist/, the bare `ws` relay, and a
 * redis-server for the cross-node and churn scenarios), drives them from the load generator in
 * its own process, prints a table of ratios to the bare relay measured in the same run, and
 * writes the full results to bench/results/<timestamp>.json. See docs/performance.md. The
 * shared command line, mode and helpers are in run-context.ts, the two-node scenarios in
 * run-redis.ts, the saturation search in saturation.ts.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChurnResult, RelayResult, StormResult } from './generator.js';
import { idle100kScenario } from './idle100k.js';
import { CANDIDATE_BYTES, OFFER_BYTES } from './payloads.js';
import { printReport, type Server } from './report.js';
import { evaluateTargets } from './targets.js';
import {
  churnCmd,
  Generator,
  HAS_TASKSET,
  ROOT,
  startBare,
  startRedis,
  startSwitchboard,
  type Proc,
} from './servers.js';
import { saturateAlternated } from './saturation.js';
import { webhookScenario } from './webhooks.js';
import { clusterScenario } from './cluster.js';
import {
  CROSS_BURST,
  CROSS_K,
  FIXED_RATE,
  IDLE_ROOMS,
  IDLE_WINDOW_MS,
  K10_ROOMS,
  K2_ROOMS,
  MODE,
  SAT_BURST,
  SERVERS,
  args,
  compile,
  enabled,
  log,
  logRelay,
  medianOf,
  only,
  profile,
  quick,
  relayCmd,
  results,
  satOptions,
  scenario,
  sideBySide,
  started,
  withServer,
} from './run-context.js';
import { redisScenarios, singleNodeForCross } from './run-redis.js';

async function relayScenarios(gen: Generator): Promise<void> {
  const procs: Record<Server, Proc> = {
    bare: await startBare(),
    switchboard: await startSwitchboard(),
  };
  try {
    // A fresh process runs cold (JIT, lazily built structures): load each once before measuring.
    for (const p of Object.values(procs))
      await gen.run<RelayResult>(
        relayCmd([p.url], 'warm', 2, K2_ROOMS, FIXED_RATE * 2, MODE.fixedMs, [p.pid]),
      );
    for (const [k, rooms] of [
      [2, K2_ROOMS],
      [10, K10_ROOMS],
    ] as const)
      if (k === 2 || !only?.includes('k2'))
        await sideBySide(gen, procs, `K=${k} fixed`, k === 2 ? MODE.headlineReps : MODE.reps, (p) =>
          relayCmd([p.url], `fixed${k}`, k, rooms, FIXED_RATE, MODE.fixedMs, [p.pid]),
        );
    if (!enabled('saturation')) return;
    results.saturation = await saturateAlternated(
      ['bare', 'switchboard'] as const,
      MODE.satRounds,
      (server) =>
        satOptions(gen, 5000, (tag, rate) =>
          relayCmd(
            [procs[server].url],
            tag,
            2,
            K2_ROOMS,
            rate,
            MODE.satStepMs,
            [procs[server].pid],
            SAT_BURST,
          ),
        ),
    );
    const bareSat = results.saturation.bare;
    if (!bareSat || bareSat.rate === 0) return;
    // p99 at half load: both servers at half the bare relay's saturation rate (equal load).
    const half = Math.round(bareSat.rate / 2);
    await sideBySide(gen, procs, 'K=2 half-sat', MODE.reps, (p) =>
      relayCmd([p.url], 'half', 2, K2_ROOMS, half, MODE.fixedMs, [p.pid], SAT_BURST),
    );
  } finally {
    for (const p of Object.values(procs)) await p.stop();
  }
}

async function stormScenario(gen: Generator): Promise<void> {
  for (const [server, start] of SERVERS) {
    await withServer(start, async (p) => {
      const r = await gen.run<StormResult>({
        kind: 'storm',
        url: p.url,
        tag: 'storm',
        n: MODE.stormN,
        concurrency: 100,
        settleMs: MODE.settleMs,
        pid: p.pid,
      });
      log(`storm ${server}: ${r.connPerSec.toFixed(0)} conn/s, ${r.kbPerConn.toFixed(2)} KiB/conn`);
      results.storm[server] = r;
    });
  }
}

/** --profile: both servers under K=2 load at 4× the fixed rate, with --cpu-prof, one after the other. */
async function profileRun(gen: Generator): Promise<void> {
  const dir = path.join(ROOT, 'bench/results/profiles');
  mkdirSync(dir, { recursive: true });
  const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  const starts: [Server, () => Promise<Proc>][] = [
    ['bare', () => startBare(nodeArgs)],
    ['switchboard', () => startSwitchboard({ nodeArgs })],
  ];
  if (args.includes('--profile=churn')) {
    // Join churn across two nodes (the churn scenario, twice as long), every process profiled.
    const redis = await startRedis();
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    const a = await startSwitchboard({ redisUrl, nodeArgs, name: 'node-a' });
    const b = await startSwitchboard({ redisUrl, nodeArgs, name: 'node-b' });
    const churn = (tag: string, durationMs: number) =>
      gen.run<ChurnResult>(churnCmd([a.url, b.url], [a.pid, b.pid, redis.pid], tag, durationMs));
    // Warmed as the churn scenario warms them; the profile covers both parts.
    const started = Date.now();
    await churn('prof-warm', MODE.churnWarmMs);
    const warmS = Math.ceil((Date.now() - started) / 1000) + 1;
    const r = await churn('prof', MODE.churnMs * 2);
    log(`profile churn: ${r.opsPerSec.toFixed(0)} join+leave/s, ${r.cpuUsPerOp.toFixed(1)} µs/op`);
    for (const p of [a, b, redis]) await p.stop();
    log(
      `churn profiles in ${dir}; the warm part excluded: npx tsx bench/profile-summary.ts FILE 40 --after=${warmS}`,
    );
    return;
  }
  if (args.includes('--profile=cross')) {
    const redis = await startRedis();
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    const a = await startSwitchboard({ redisUrl, nodeArgs, name: 'node-a' });
    const b = await startSwitchboard({ redisUrl, nodeArgs, name: 'node-b' });
    const cmd = relayCmd(
      [a.url, b.url],
      'prof',
      CROSS_K,
      K2_ROOMS,
      FIXED_RATE,
      MODE.fixedMs * 2,
      [a.pid, b.pid, redis.pid],
      CROSS_BURST,
    );
    logRelay('profile cross-node K=2', 'switchboard×2+redis', await gen.run<RelayResult>(cmd));
    for (const p of [a, b, redis]) await p.stop();
    log(`cross-node profiles in ${dir}`);
    return;
  }
  for (const [server, start] of starts)
    await withServer(start, async (p) => {
      const cmd = relayCmd([p.url], 'prof', 2, K2_ROOMS, FIXED_RATE * 4, MODE.fixedMs * 2, [p.pid]);
      logRelay('profile K=2', server, await gen.run<RelayResult>(cmd));
    });
  log(`profiles (bare first) in ${dir}; summarize: npx tsx bench/profile-summary.ts <file>`);
}

async function main(): Promise<void> {
  try {
    readFileSync(path.join(ROOT, 'dist/src/cli.js'));
  } catch {
    throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  }
  await compile();
  const gen = new Generator();
  try {
    if (profile) return await profileRun(gen);
    if (enabled('relay')) await relayScenarios(gen);
    if (enabled('storm')) await stormScenario(gen);
    if (enabled('idle100k'))
      await scenario('idle100k', async () => {
        results.idleConns = await idle100kScenario({
          gen,
          wanted: MODE.idleConnsN,
          reps: MODE.idleConnsReps,
          settleMs: Math.max(MODE.settleMs, 3000),
          log,
        });
      });
    if (['cross', 'churn', 'idle', 'crosssat', 'sio', 'api', 'variants'].some(enabled))
      await redisScenarios(gen);
    if (enabled('cluster'))
      await scenario('cluster', async () => {
        await singleNodeForCross(gen);
        await clusterScenario({
          gen,
          relayCmd: (urls, tag, pids) =>
            relayCmd(urls, tag, CROSS_K, K2_ROOMS, FIXED_RATE, MODE.fixedMs, pids, CROSS_BURST),
          label: `cross-node K=${CROSS_K} ${K2_ROOMS} rooms burst ${CROSS_BURST}`,
          reps: MODE.headlineReps,
          idleRooms: IDLE_ROOMS,
          idleWindowMs: IDLE_WINDOW_MS,
          log,
          logRelay,
          medianOf,
          results,
        });
      });
    if (only?.includes('webhooks'))
      await webhookScenario({
        gen,
        churnMs: MODE.churnMs,
        relayCmd: (urls, tag, pids) =>
          relayCmd(urls, tag, 2, K2_ROOMS, FIXED_RATE, MODE.fixedMs, pids),
        log,
        churn: results.churn,
        relay: results.relay,
        latency: results.webhookLatency,
      });
  } finally {
    gen.stop();
  }
  const targets = evaluateTargets(results);
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0]?.model,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    kernel: os.release(),
    loadavgAtEnd: os.loadavg(),
    taskset: HAS_TASKSET,
  };
  const payload = {
    offerBytes: OFFER_BYTES,
    candidateBytes: CANDIDATE_BYTES,
    mix: '1 offer : 4 candidates',
  };
  process.stdout.write('\n' + printReport(results, targets) + '\n');
  process.stdout.write(
    `\nmachine: ${machine.cpus}× ${machine.model}, node ${machine.node}, load ${machine.loadavgAtEnd.map((l) => l.toFixed(1)).join(' ')}; taskset ${HAS_TASKSET ? 'on (servers core 0, generator core 1)' : 'unavailable'}\n`,
  );
  const elapsed = (Date.now() - started) / 1000;
  process.stdout.write(`mode ${quick ? 'quick' : 'full'}, ${elapsed.toFixed(0)} s\n`);
  const dir = path.join(ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `${new Date().toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`,
  );
  writeFileSync(
    file,
    JSON.stringify(
      {
        mode: quick ? 'quick' : 'full',
        elapsedSec: elapsed,
        machine,
        payload,
        mode_params: MODE,
        results,
        targets,
      },
      null,
      2,
    ),
  );
  process.stdout.write(`results: ${path.relative(ROOT, file)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);

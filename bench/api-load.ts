/**
 * Server API load for the benchmark: `concurrency` keep-alive loops of one GET each, spread
 * over the given nodes, for a fixed time; the rate of answered requests and their latency.
 * Runs in the harness process (not the generator), while the generator drives signaling
 * traffic through the same nodes.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { cpuMs } from './proc.js';
import { Samples } from './stats.js';

export interface ApiLoadResult {
  requests: number;
  perSec: number;
  /** Answers other than 200 (each one a failure of the run). */
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU time of `pids` (the nodes and Redis) per answered request, µs. */
  cpuUsPerRequest: number;
}

export async function apiLoad(opts: {
  ports: number[];
  key: string;
  path: string;
  concurrency: number;
  durationMs: number;
  pids: number[];
}): Promise<ApiLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const latencies = new Samples(2_000_000);
  let errors = 0;
  const end = performance.now() + opts.durationMs;
  const one = (port: number) =>
    new Promise<void>((resolve) => {
      const t0 = performance.now();
      const req = http.get(
        {
          host: '127.0.0.1',
          port,
          path: opts.path,
          agent,
          headers: { authorization: `Bearer ${opts.key}` },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.add(performance.now() - t0);
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  const cpu0 = opts.pids.reduce((t, pid) => t + cpuMs(pid), 0);
  const start = performance.now();
  await Promise.all(
    Array.from({ length: opts.concurrency }, async (_, i) => {
      const port = opts.ports[i % opts.ports.length]!;
      while (performance.now() < end) await one(port);
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const cpu = opts.pids.reduce((t, pid) => t + cpuMs(pid), 0) - cpu0;
  agent.destroy();
  const { p50, p99 } = latencies.percentiles();
  const requests = latencies.count + latencies.dropped;
  return {
    requests,
    perSec: requests / seconds,
    errors,
    p50Ms: p50,
    p99Ms: p99,
    cpuUsPerRequest: (cpu * 1000) / requests,
  };
}

/**
 * The webhooks scenario (SPEC.md §15, issue 14): what webhooks cost signaling, and how long an
 * event takes to reach the receiver.
 * - churn (join+leave cycles, each emitting peer.joined and peer.left, and room.started /
 *   room.finished when a room empties) against one Switchboard with webhooks off, then on:
 *   server CPU per join or leave;
 * - the K=2 relay at the fixed rate, off then on: CPU per message (webhooks add nothing per
 *   message; this checks it);
 * - latency from the event's `timestamp` to its arrival at the receiver, with the memory
 *   queue (one node) and the Redis queue (two nodes on one redis-server, the delivering node
 *   reading the stream), measured at a steady moderate rate (two churn loops, each waiting
 *   for its join and leave), not under the flat-out churn, where it measures the backlog.
 * The receiver runs in the harness process (generator core) and answers 204 at once; it does
 * not verify signatures (the tests do, with the `standardwebhooks` package).
 */
import http from 'node:http';
import type { ChurnResult, RelayCmd, RelayResult } from './generator.js';
import { churnCmd, startRedis, startSwitchboard, type Generator, type Proc } from './servers.js';
import { Samples } from './stats.js';

export interface WebhookLatency {
  queue: 'memory' | 'redis';
  eventsPerSec: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface WebhookBenchDeps {
  gen: Generator;
  churnMs: number;
  relayCmd: (urls: string[], tag: string, pids: number[]) => RelayCmd;
  log: (s: string) => void;
  churn: { name: string; server: string; result: ChurnResult }[];
  relay: { name: string; server: string; result: RelayResult }[];
  latency: WebhookLatency[];
}

const SECRET = 'whsec_' + Buffer.from('switchboard-bench-webhook-secret').toString('base64');

class Receiver {
  samples = new Samples(1_000_000);
  count = 0;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrived = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { timestamp: string };
      this.samples.add(arrived - Date.parse(body.timestamp));
      this.count++;
      res.writeHead(204).end();
    });
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
  }

  reset(): void {
    this.samples = new Samples(1_000_000);
    this.count = 0;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export async function webhookScenario(d: WebhookBenchDeps): Promise<void> {
  const receiver = new Receiver();
  const url = await receiver.listen();
  const on = { WEBHOOK_URLS: url, WEBHOOK_SECRET: SECRET };
  const churn = (urls: string[], tag: string, pids: number[], concurrency = 20) =>
    d.gen.run<ChurnResult>(churnCmd(urls, pids, tag, d.churnMs, concurrency));
  /** Wait (bounded) until the receiver has had nothing new for a second: the backlog is gone. */
  const settle = async () => {
    const end = Date.now() + 60_000;
    let last = -1;
    while (receiver.count !== last && Date.now() < end) {
      last = receiver.count;
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const latency = async (queue: 'memory' | 'redis', urls: string[], pids: number[]) => {
    await settle();
    receiver.reset();
    const t0 = Date.now();
    await churn(urls, `whl-${queue}`, pids, 2);
    const seconds = (Date.now() - t0) / 1000;
    await settle();
    const p = receiver.samples.percentiles();
    const l = {
      queue,
      eventsPerSec: receiver.count / seconds,
      events: receiver.count,
      p50Ms: p.p50,
      p99Ms: p.p99,
      maxMs: p.max,
    };
    d.latency.push(l);
    d.log(
      `webhook latency (${queue} queue, ${l.eventsPerSec.toFixed(0)} events/s): p50 ${l.p50Ms.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(1)} ms, max ${l.maxMs.toFixed(1)} ms`,
    );
  };
  try {
    for (const mode of ['off', 'on'] as const) {
      const p = await startSwitchboard({ name: `webhooks-${mode}`, env: mode === 'on' ? on : {} });
      try {
        receiver.reset();
        await d.gen.run<RelayResult>(d.relayCmd([p.url], `wh-warm-${mode}`, [p.pid]));
        const relay = await d.gen.run<RelayResult>(d.relayCmd([p.url], `wh-${mode}`, [p.pid]));
        d.relay.push({ name: `K=2 webhooks ${mode}`, server: 'switchboard', result: relay });
        d.log(`K=2 webhooks ${mode}: ${relay.cpuUsPerMsg.toFixed(2)} µs/msg`);
        receiver.reset();
        const r = await churn([p.url], `whc-${mode}`, [p.pid]);
        d.churn.push({ name: `churn webhooks ${mode}`, server: 'switchboard', result: r });
        d.log(`churn webhooks ${mode}: ${r.cpuUsPerOp.toFixed(1)} µs/op`);
        if (mode === 'on') await latency('memory', [p.url], [p.pid]);
      } finally {
        await p.stop();
      }
    }
    let redis: Proc;
    try {
      redis = await startRedis();
    } catch (err) {
      d.log(`webhooks with redis skipped: ${(err as Error).message}`);
      return;
    }
    const redisUrl = `redis://127.0.0.1:${redis.port}`;
    try {
      for (const mode of ['off', 'on'] as const) {
        const env = mode === 'on' ? on : {};
        const a = await startSwitchboard({ redisUrl, name: 'wh-node-a', env });
        const b = await startSwitchboard({ redisUrl, name: 'wh-node-b', env });
        try {
          receiver.reset();
          const r = await churn([a.url, b.url], `whr-${mode}`, [a.pid, b.pid, redis.pid]);
          d.churn.push({
            name: `churn webhooks ${mode}`,
            server: 'switchboard×2+redis',
            result: r,
          });
          d.log(`churn webhooks ${mode} (2 nodes + redis): ${r.cpuUsPerOp.toFixed(1)} µs/op`);
          if (mode === 'on') await latency('redis', [a.url, b.url], [a.pid, b.pid, redis.pid]);
        } finally {
          await Promise.all([a.stop(), b.stop()]);
        }
      }
    } finally {
      await redis.stop();
    }
  } finally {
    await receiver.close();
  }
}

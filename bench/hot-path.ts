/**
 * Microbenchmark of Switchboard's own per-message work, without sockets: a real
 * SwitchboardServer (memory backend, metrics on, limits high) whose peers' sockets are stubs
 * that accept every send. It isolates the JavaScript of handleFrame → deliver → Peer.send from
 * the kernel's TCP cost, so a hot-path change can be A/B-measured on a noisy machine.
 * Usage: npx tsx bench/hot-path.ts [iterations] [room sizes, default 2,10]
 * (valgrind --tool=callgrind at two iteration counts gives instructions per message, for A/B
 * runs on a busy machine: the difference of the totals over 10 × the difference of the counts.)
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { DEFAULTS, createMetrics, MemoryBackend, SwitchboardServer } from '../src/index.js';
import { createLogger } from '../src/logger.js';
import { Peer } from '../src/server/peer.js';
import type { Departures } from '../src/server/departures.js';
import type { MessagePath } from '../src/server/message-path.js';
import { TokenBucket } from '../src/server/rate-limit.js';
import { PHASE_MEASURED, mixed } from './payloads.js';

const N = Number(process.argv[2] ?? 100_000);
const config = {
  ...DEFAULTS,
  rateLimitMessagesPer10s: 1e12,
  rateLimitIpMsgsPer10s: 1e12,
  rateLimitRoomMsgsPer10s: 1e12,
};
const server = new SwitchboardServer({
  config,
  logger: createLogger({ level: 'silent', pretty: false }),
  metrics: createMetrics(),
  backend: new MemoryBackend(),
});
// The parts the bench drives directly (private to the server).
const { messages, departures } = server as unknown as {
  messages: MessagePath;
  departures: Departures;
};
const stubSocket = {
  readyState: WebSocket.OPEN,
  bufferedAmount: 0,
  send() {},
} as unknown as WebSocket;

function room(id: string, k: number): Peer[] {
  const peers: Peer[] = [];
  for (let i = 0; i < k; i++) {
    const p = new Peer(`client:${id}-${i}`, id, stubSocket, '127.0.0.1', 1, departures);
    p.bucket = new TokenBucket(1e12, 10_000, Date.now());
    p.state = 'open';
    server.hub.add(p);
    peers.push(p);
  }
  return peers;
}

const frames = Array.from({ length: 5 }, (_, i) => Buffer.from(mixed(i, PHASE_MEASURED, 1e9)));

for (const k of (process.argv[3] ?? '2,10').split(',').map(Number)) {
  const peers = room(`hot-${k}`, k);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) messages.handleFrame(peers[i % k]!, frames[i % 5]!, false);
  };
  run(N); // warm up the JIT
  // Rounds: on a shared machine the minimum is the steadiest estimate of the code's own cost.
  const rounds: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t0 = performance.now();
    run(N);
    rounds.push(((performance.now() - t0) * 1e6) / N);
  }
  rounds.sort((x, y) => x - y);
  console.log(
    `K=${k}: ${rounds[0]!.toFixed(0)} ns/msg (min of 9 rounds; median ${rounds[4]!.toFixed(0)})`,
  );
}

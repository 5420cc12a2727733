/**
 * The load generator: a separate process (pinned to its own core by bench/run.ts) that takes one
 * command at a time over IPC, drives real `ws` clients against 127.0.0.1, and answers with the
 * measurements. It reads the servers' CPU and RSS from /proc itself, so the measured window is
 * exactly the window it loads them in. Every phase is bounded in time and count.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { PHASE_MEASURED, PHASE_WARMUP, mixed, readStamp } from './payloads.js';
import { admit, idleConns, type IdleConnsCmd } from './idle-conns.js';
import { cpuMs, cpuTimes, rssKb } from './proc.js';
import { Samples } from './stats.js';

export interface RelayCmd {
  kind: 'relay';
  /** Node URLs; peer j of every room connects to urls[j % urls.length]. */
  urls: string[];
  tag: string;
  rooms: number;
  k: number;
  /** Messages sent per second, all senders together (deliveries are k-1 times that). */
  rate: number;
  /**
   * Consecutive messages one sender sends in one write (default 1: every message its own
   * write, round robin over the senders). 5 is one offer and its four candidates, as a
   * trickle-ICE client sends them.
   */
  burst?: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  /** Server-side processes whose CPU time is charged to the run. */
  pids: number[];
  /** Speak Socket.IO (Engine.IO v4 over a websocket, event `signal`) instead of plain frames. */
  sio?: boolean;
}

export interface StormCmd {
  kind: 'storm';
  url: string;
  tag: string;
  n: number;
  concurrency: number;
  settleMs: number;
  pid: number;
}

export interface ChurnCmd {
  kind: 'churn';
  urls: string[];
  tag: string;
  rooms: number;
  concurrency: number;
  durationMs: number;
  pids: number[];
}

export type Command = RelayCmd | StormCmd | ChurnCmd | IdleConnsCmd;

export interface RelayResult {
  rate: number;
  sentPerSec: number;
  sent: number;
  expected: number;
  delivered: number;
  deliveredPerSec: number;
  loss: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  serverCpuMs: number[];
  /** Of serverCpuMs: the part spent in user space (the rest is the kernel: TCP, epoll). */
  serverUserMs: number[];
  cpuUsPerMsg: number;
  genCpuPct: number;
}

export interface StormResult {
  n: number;
  connPerSec: number;
  p50Ms: number;
  p99Ms: number;
  baseRssKb: number;
  rssKb: number;
  kbPerConn: number;
  genCpuPct: number;
}

export interface ChurnResult {
  cycles: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  serverCpuMs: number[];
  cpuUsPerOp: number;
  genCpuPct: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => performance.now() * 1000;

/** Poll `cond` every 10 ms until true or `ms` passed; returns whether it became true. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(10);
  }
  return true;
}

/** `42["signal",` — a Socket.IO event packet of the default namespace; the message follows. */
const SIO_EVENT = '42["signal",';

/**
 * A Socket.IO client over a plain websocket (Engine.IO v4): answer the open packet with a
 * namespace connect, resolve on its ack, answer pings, and hand each `signal` event's payload
 * to onMessage as the bytes of the message itself (no copy).
 */
function openSio(url: string, onMessage: (data: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('message', (data: Buffer) => {
      const c0 = data[0];
      if (c0 === 0x34 && data[1] === 0x32) return onMessage(data.subarray(SIO_EVENT.length, -1));
      if (c0 === 0x32) return ws.send('3'); // ping → pong
      if (c0 === 0x30) return ws.send('40'); // open → connect to '/'
      if (c0 === 0x34 && data[1] === 0x30) resolve(ws); // connected
    });
    ws.once('error', reject);
  });
}

function open(url: string, onMessage?: (data: Buffer) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    if (onMessage) ws.on('message', onMessage);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function closeAll(sockets: WebSocket[], ms = 20_000): Promise<void> {
  let open = 0;
  for (const ws of sockets)
    if (ws.readyState !== WebSocket.CLOSED) {
      open++;
      ws.once('close', () => open--);
      ws.close();
    }
  await until(() => open === 0, ms);
  for (const ws of sockets) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
}

/** Run `task(i)` for i in [0, n) with at most `concurrency` in flight. */
async function pool(n: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

const cpuSum = (pids: number[]) => pids.map(cpuMs);

async function relay(cmd: RelayCmd): Promise<RelayResult> {
  const { rooms, k } = cmd;
  const latencies = new Samples(
    Math.min(2_000_000, Math.ceil((cmd.rate * cmd.durationMs) / 1000) * (k - 1) + 10),
  );
  let delivered = 0;
  // Readiness: every peer must have heard a probe from every other peer of its room, so no
  // measured message can reach a server before all receivers are admitted.
  const heard: Set<number>[] = [];
  const sockets: WebSocket[] = new Array(rooms * k);
  const onMessage = (idx: number) => (data: Buffer) => {
    const st = readStamp(data);
    if (st) {
      if (st.phase === PHASE_MEASURED) {
        delivered++;
        latencies.add(nowUs() - st.micros);
      }
      return;
    }
    const m = /"bench-probe","payload":(\d+)/.exec(data.toString('latin1', 0, 80));
    if (m) heard[idx]!.add(Number(m[1]));
  };
  await pool(rooms * k, 200, async (i) => {
    const r = Math.floor(i / k);
    const j = i % k;
    heard[i] = new Set();
    const base = cmd.urls[j % cmd.urls.length];
    sockets[i] = cmd.sio
      ? await openSio(
          `${base}/socket.io/?EIO=4&transport=websocket&roomId=${cmd.tag}-${r}`,
          onMessage(i),
        )
      : await open(`${base}/?roomId=${cmd.tag}-${r}`, onMessage(i));
  });
  const ready = () => heard.every((s) => s.size === k - 1);
  const frame = cmd.sio ? (m: string) => SIO_EVENT + m + ']' : (m: string) => m;
  for (let round = 0; round < 50 && !ready(); round++) {
    for (let i = 0; i < sockets.length; i++)
      if (
        round === 0 ||
        heard.some((s, x) => Math.floor(x / k) === Math.floor(i / k) && s.size < k - 1)
      )
        sockets[i]!.send(frame(`{"type":"control","action":"bench-probe","payload":${i % k}}`));
    await until(ready, 200);
  }
  if (!ready()) throw new Error('rooms did not become ready (peers not admitted)');

  const senders = sockets;
  const n = senders.length;
  const burst = Math.max(1, cmd.burst ?? 1);
  const maxBurst = Math.max(1, Math.ceil(cmd.rate / 200));
  let sent = 0;
  let measuredSent = 0;
  let cpu0: number[] = [];
  let user0: number[] = [];
  let gen0 = process.cpuUsage();
  let tm0 = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const el = now - t0;
      if (el >= cmd.warmupMs + cmd.durationMs) return resolve();
      const phase = el < cmd.warmupMs ? PHASE_WARMUP : PHASE_MEASURED;
      if (phase === PHASE_MEASURED && tm0 === 0) {
        tm0 = now;
        cpu0 = cpuSum(cmd.pids);
        user0 = cmd.pids.map((p) => cpuTimes(p).user);
        gen0 = process.cpuUsage();
      }
      const due = Math.min(maxBurst, Math.floor((cmd.rate * el) / 1000) - sent);
      for (let i = 0; i < due;) {
        const ws = senders[Math.floor(sent / burst) % n]!;
        const b = Math.min(burst - (sent % burst), due - i);
        // ws writes each frame at once; corking its socket (ws has no public cork) makes the
        // burst one writev. ws corks around each frame itself, and nested corks add up.
        const socket = b > 1 ? (ws as unknown as { _socket: Socket })._socket : undefined;
        socket?.cork();
        for (let j = 0; j < b; j++, i++) {
          ws.send(frame(mixed(sent, phase, nowUs())));
          sent++;
          if (phase === PHASE_MEASURED) measuredSent++;
        }
        socket?.uncork();
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  const sendWindowMs = performance.now() - tm0;
  const expected = measuredSent * (k - 1);
  await until(() => delivered >= expected, cmd.drainMs);
  const cpu1 = cpuSum(cmd.pids);
  const serverUserMs = cmd.pids.map((p, i) => cpuTimes(p).user - user0[i]!);
  const gen = process.cpuUsage(gen0);
  const windowMs = performance.now() - tm0;
  const p = latencies.percentiles();
  await closeAll(sockets);
  const serverCpuMs = cpu1.map((c, i) => c - cpu0[i]!);
  const total = serverCpuMs.reduce((a, b) => a + b, 0);
  return {
    rate: cmd.rate,
    sent: measuredSent,
    sentPerSec: (measuredSent * 1000) / sendWindowMs,
    expected,
    delivered,
    deliveredPerSec: (delivered * 1000) / sendWindowMs,
    loss: Math.max(0, expected - delivered) / Math.max(1, expected),
    p50Ms: p.p50 / 1000,
    p99Ms: p.p99 / 1000,
    p999Ms: p.p999 / 1000,
    maxMs: p.max / 1000,
    serverCpuMs,
    serverUserMs,
    cpuUsPerMsg: (total * 1000) / Math.max(1, delivered),
    genCpuPct: ((gen.user + gen.system) / 1000 / windowMs) * 100,
  };
}

async function storm(cmd: StormCmd): Promise<StormResult> {
  // Warm up (JIT, lazily built structures), then measure RSS from a settled baseline.
  const warm: WebSocket[] = [];
  await pool(Math.min(500, cmd.n), cmd.concurrency, async (i) => {
    warm.push(await admit(`${cmd.url}/?v=2&roomId=${cmd.tag}-warm-${i >> 1}`));
  });
  await closeAll(warm);
  await sleep(cmd.settleMs);
  const baseRssKb = rssKb(cmd.pid);
  const sockets: WebSocket[] = [];
  const times = new Samples(cmd.n);
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  await pool(cmd.n, cmd.concurrency, async (i) => {
    const s = performance.now();
    sockets.push(await admit(`${cmd.url}/?v=2&roomId=${cmd.tag}-${i >> 1}`));
    times.add(performance.now() - s);
  });
  const elapsed = performance.now() - t0;
  const gen = process.cpuUsage(gen0);
  await sleep(cmd.settleMs);
  const rss = rssKb(cmd.pid);
  await closeAll(sockets, 30_000);
  const p = times.percentiles();
  return {
    n: cmd.n,
    connPerSec: (cmd.n * 1000) / elapsed,
    p50Ms: p.p50,
    p99Ms: p.p99,
    baseRssKb,
    rssKb: rss,
    kbPerConn: (rss - baseRssKb) / cmd.n,
    genCpuPct: ((gen.user + gen.system) / 1000 / elapsed) * 100,
  };
}

async function churn(cmd: ChurnCmd): Promise<ChurnResult> {
  const times = new Samples(1_000_000);
  let cycles = 0;
  let failures = 0;
  let next = 0;
  const cpu0 = cpuSum(cmd.pids);
  const gen0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + cmd.durationMs;
  const loop = async (w: number) => {
    while (performance.now() < end && failures < 100) {
      const i = next++;
      const url = `${cmd.urls[i % cmd.urls.length]}/?v=2&roomId=${cmd.tag}-${w % cmd.rooms}`;
      const s = performance.now();
      try {
        const ws = await admit(url, 5000);
        await closeAll([ws], 5000);
        times.add(performance.now() - s);
        cycles++;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: cmd.concurrency }, (_, w) => loop(w)));
  const elapsed = performance.now() - t0;
  const gen = process.cpuUsage(gen0);
  const cpu = cpuSum(cmd.pids).map((c, i) => c - cpu0[i]!);
  const p = times.percentiles();
  return {
    cycles,
    opsPerSec: (2 * cycles * 1000) / elapsed,
    p50Ms: p.p50,
    p99Ms: p.p99,
    failures,
    serverCpuMs: cpu,
    cpuUsPerOp: (cpu.reduce((a, b) => a + b, 0) * 1000) / Math.max(1, 2 * cycles),
    genCpuPct: ((gen.user + gen.system) / 1000 / elapsed) * 100,
  };
}

process.on('message', (cmd: Command) => {
  const run: Promise<unknown> =
    cmd.kind === 'relay'
      ? relay(cmd)
      : cmd.kind === 'storm'
        ? storm(cmd)
        : cmd.kind === 'idleconns'
          ? idleConns(cmd)
          : churn(cmd);
  run.then(
    (result) => process.send!({ ok: true, result }),
    (err: unknown) =>
      process.send!({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));

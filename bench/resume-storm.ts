/**
 * Resume storm (SPEC.md §13): N v2 peers on node A, rooms of ROOM_SIZE movers plus one partner
 * on node B; node A is drained (SIGTERM: its clients closed 1001 and detached, a rolling
 * restart's first half); each partner sends KEPT messages into its room during the gap; then
 * all N reconnect to node B at once with their resume tokens. Reports resumes/s, the time to the
 * last resumed welcome and to the last kept message, per-resume latency percentiles, and any
 * resume that failed or message lost or duplicated. Real processes (dist/), one real Redis.
 *
 * Usage: npm run bench:resume [-- N]    (default N = 1000)
 */
import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { startRedis, startSwitchboard } from './servers.js';

const N = Number(process.argv[2] ?? 1000);
const ROOM_SIZE = 5;
const KEPT = 5;

interface Welcome {
  action: string;
  payload: { peerId: string; resumeToken?: string; resumed?: boolean };
}

function open(url: string, onMessage: (m: Welcome & { type: string }) => void): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('message', (d) => onMessage(JSON.parse(d.toString()) as Welcome & { type: string }));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const [a, b] = await Promise.all([
    startSwitchboard({ redisUrl, name: 'node-a' }),
    startSwitchboard({ redisUrl, name: 'node-b' }),
  ]);
  const rooms = Math.ceil(N / ROOM_SIZE);
  const movers: { room: string; token: string; id: string; closed: Promise<number> }[] = [];
  const partners: WebSocket[] = [];
  try {
    for (let r = 0; r < rooms; r++) {
      const room = `storm-${r}`;
      for (let i = 0; i < ROOM_SIZE && movers.length < N; i++) {
        let resolveWelcome!: (w: Welcome['payload']) => void;
        const welcome = new Promise<Welcome['payload']>((res) => (resolveWelcome = res));
        const ws = await open(`${a.url}/?roomId=${room}&v=2`, (m) => {
          if (m.action === 'welcome') resolveWelcome(m.payload);
        });
        const w = await welcome;
        const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
        movers.push({ room, token: w.resumeToken!, id: w.peerId, closed });
      }
      let partnerReady!: () => void;
      const ready = new Promise<void>((res) => (partnerReady = res));
      partners.push(
        await open(`${b.url}/?roomId=${room}&v=2`, (m) => m.action === 'welcome' && partnerReady()),
      );
      await ready;
    }
    process.stderr.write(`[resume] ${N} peers on node A in ${rooms} rooms; draining A\n`);
    const drained = a.stop();
    const codes = await Promise.all(movers.map((m) => m.closed));
    if (codes.some((c) => c !== 1001)) throw new Error('a mover was not closed 1001');
    await drained;
    for (const [r, p] of partners.entries())
      for (let k = 0; k < KEPT; k++)
        p.send(JSON.stringify({ type: 'control', action: 'kept', payload: `${r}:${k}` }));
    // Let B publish and keep them (a bench settle, not a correctness wait: loss is counted).
    await new Promise((res) => setTimeout(res, 500));

    const t0 = performance.now();
    const welcomeAt: number[] = [];
    const lastKeptAt: number[] = [];
    let failed = 0;
    let lost = 0;
    let dup = 0;
    const resumed = movers.map(
      (m) =>
        new Promise<WebSocket>((resolve, reject) => {
          const got: string[] = [];
          let done = false;
          const ws = new WebSocket(`${b.url}/?roomId=${m.room}&v=2&resume=${m.token}`);
          ws.on('message', (d) => {
            const msg = JSON.parse(d.toString()) as Welcome & { type: string; payload: unknown };
            if (msg.action === 'welcome') {
              welcomeAt.push(performance.now() - t0);
              if (!msg.payload.resumed || msg.payload.peerId !== m.id) failed++;
            } else if (msg.action === 'kept') {
              got.push(String(msg.payload));
              if (got.length === KEPT && !done) {
                done = true;
                lastKeptAt.push(performance.now() - t0);
                resolve(ws);
              }
            }
          });
          ws.once('error', reject);
          setTimeout(() => {
            if (done) return;
            lost += KEPT - got.length;
            done = true;
            resolve(ws);
          }, 30_000).unref();
          ws.once('close', () => {
            dup += Math.max(0, got.length - KEPT);
          });
        }),
    );
    const sockets = await Promise.all(resumed);

    // Baseline: the same number of fresh joins at once, same node, same room layout.
    const t1 = performance.now();
    const joinAt: number[] = [];
    const fresh = await Promise.all(
      movers.map(
        (m) =>
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(`${b.url}/?roomId=fresh-${m.room}&v=2`);
            ws.on('message', (d) => {
              if ((JSON.parse(d.toString()) as Welcome).action !== 'welcome') return;
              joinAt.push(performance.now() - t1);
              resolve(ws);
            });
            ws.once('error', reject);
          }),
      ),
    );
    joinAt.sort((x, y) => x - y);
    sockets.push(...fresh);
    welcomeAt.sort((x, y) => x - y);
    lastKeptAt.sort((x, y) => x - y);
    const last = welcomeAt[welcomeAt.length - 1]!;
    const lastKept = lastKeptAt[lastKeptAt.length - 1] ?? NaN;
    console.log(
      JSON.stringify({
        peers: N,
        rooms,
        keptPerPeer: KEPT,
        resumesPerSec: Math.round((N / last) * 1000),
        timeToLastResumeMs: Math.round(last),
        timeToLastKeptMs: Math.round(lastKept),
        welcomeP50Ms: Math.round(pct(welcomeAt, 50)),
        welcomeP99Ms: Math.round(pct(welcomeAt, 99)),
        notResumed: failed,
        lostMessages: lost,
        duplicateMessages: dup,
        baselineFreshJoins: {
          joinsPerSec: Math.round((N / joinAt[joinAt.length - 1]!) * 1000),
          timeToLastWelcomeMs: Math.round(joinAt[joinAt.length - 1]!),
          welcomeP50Ms: Math.round(pct(joinAt, 50)),
        },
      }),
    );
    for (const s of [...sockets, ...partners]) s.terminate();
  } finally {
    await Promise.allSettled([a.stop(), b.stop()]);
    await redis.stop();
  }
}

await main();

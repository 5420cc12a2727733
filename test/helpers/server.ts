/**
 * Test helpers: a real server on port 0, real `ws` clients, and awaitable events (no sleeps).
 */
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { WebSocket, type ClientOptions } from 'ws';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { DEFAULTS, type Config } from '../../src/config.js';
import { startSwitchboard, type CreateOptions } from '../../src/index.js';
import type { SwitchboardServer } from '../../src/server/server.js';

/** Defaults for tests: loopback, port 0, limits high enough not to interfere unless a test sets them. */
export const TEST_CONFIG: Config = {
  ...DEFAULTS,
  host: '127.0.0.1',
  wsPort: 0,
  rateLimitConnPer10s: 100_000,
  rateLimitMessagesPer10s: 100_000,
  rateLimitIpMsgsPer10s: 1_000_000,
  rateLimitRoomMsgsPer10s: 1_000_000,
  maxConnectionsPerIp: 100_000,
  logLevel: 'silent',
};

/** Captures log lines in memory (for tests that assert on logs). */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line) this.lines.push(line);
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestServer {
  server: SwitchboardServer;
  url: string;
  port: number;
  logs: LogCapture;
  close(): Promise<void>;
}

export async function startServer(
  overrides: Partial<Config> = {},
  opts: CreateOptions = {},
): Promise<TestServer> {
  const config: Config = { ...TEST_CONFIG, ...overrides };
  const logs = new LogCapture();
  const logger = opts.logger ?? pino({ level: overrides.logLevel ?? 'info' }, logs);
  const server = await startSwitchboard(config, { registry: new Registry(), ...opts, logger });
  const proto = config.tlsCertFile ? 'wss' : 'ws';
  return {
    server,
    port: server.port,
    url: `${proto}://127.0.0.1:${server.port}`,
    logs,
    close: () => server.close(),
  };
}

export interface Closed {
  code: number;
  reason: string;
}

/** A real ws client with an awaitable message queue. */
export class TestClient {
  private readonly queue: unknown[] = [];
  private waiters: ((m: unknown) => void)[] = [];
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        msg = text;
      }
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.queue.push(msg);
    });
    this.closed = new Promise((resolve) =>
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
  }

  /** The next message, or reject after `ms`. */
  next(ms = 2000): Promise<unknown> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no message within ${ms} ms`));
      }, ms);
      const waiter = (m: unknown) => {
        clearTimeout(t);
        resolve(m);
      };
      this.waiters.push(waiter);
    });
  }

  /** Take every message received so far and not yet taken. */
  takeAll(): unknown[] {
    return this.queue.splice(0);
  }

  /** Messages received so far and not yet taken. */
  get buffered(): readonly unknown[] {
    return this.queue;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  close(): Promise<Closed> {
    this.ws.close();
    return this.closed;
  }
}

export interface ConnectOptions extends ClientOptions {
  roomId?: string | undefined;
  v?: 2;
  query?: string;
  protocols?: string | string[];
}

/** Open a client; resolves when the WebSocket is open (admission may still be running). */
export async function connect(baseUrl: string, opts: ConnectOptions = {}): Promise<TestClient> {
  const { roomId, v, query, protocols, ...wsOpts } = opts;
  const params = new URLSearchParams();
  if (roomId !== undefined) params.set('roomId', roomId);
  if (v !== undefined) params.set('v', String(v));
  const qs = [params.toString(), query].filter(Boolean).join('&');
  const client = new TestClient(new WebSocket(`${baseUrl}/?${qs}`, protocols, wsOpts));
  await client.opened;
  return client;
}

/**
 * Connect and wait until the server has admitted the client (it is in the room's local index),
 * so a test can send without racing admission.
 */
export async function join(
  t: TestServer,
  roomId: string,
  opts: ConnectOptions = {},
): Promise<TestClient> {
  const before = t.server.hub.get(roomId)?.peers.size ?? 0;
  const client = await connect(t.url, { ...opts, roomId });
  await until(
    () =>
      (t.server.hub.get(roomId)?.peers.size ?? 0) > before ||
      client.ws.readyState !== WebSocket.OPEN,
  );
  return client;
}

/**
 * Poll a condition every 5 ms, bounded in time. The deadline is on the monotonic clock, so it
 * holds in tests that mock Date.
 */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolve when the client receives no further message within `ms` (assert silence). */
export async function expectSilence(client: TestClient, ms = 200): Promise<void> {
  try {
    const m = await client.next(ms);
    throw new Error(`expected no message, got ${JSON.stringify(m)}`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('no message')) return;
    throw err;
  }
}

export { once };

/** A v2 client admitted to roomId (its welcome received), with its peer id; tracked in `track` for cleanup. */
export async function memberV2(
  baseUrl: string,
  roomId: string,
  track: TestClient[],
): Promise<TestClient & { id: string }> {
  const c = await connect(baseUrl, { roomId, v: 2 });
  track.push(c);
  const welcome = (await c.next(5000)) as { action: string; payload: { peerId: string } };
  if (welcome.action !== 'welcome')
    throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  return Object.assign(c, { id: welcome.payload.peerId });
}

/**
 * Await every promise, then throw the first failure. For a `before` that starts fixtures in
 * parallel, each assigning itself when it is up: unlike Promise.all, nothing is still starting
 * when `after` runs, so `after` stops everything that did start and the file can end.
 */
export async function settle(promises: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(promises)).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

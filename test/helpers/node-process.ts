/**
 * A Switchboard node as a real process (`node --import tsx src/cli.ts`), for tests that kill
 * nodes or need several of them: port 0, the port read from the "listening" log line, JSON logs
 * kept for assertions. Every process started here is killed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { until, type TestClient } from './server.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Limits high enough not to interfere unless a test sets them. */
export const NODE_TEST_ENV: Record<string, string> = {
  HOST: '127.0.0.1',
  WS_PORT: '0',
  LOG_LEVEL: 'info',
  RATE_LIMIT_CONN_PER_10S: '100000',
  RATE_LIMIT_MESSAGES_PER_10S: '100000',
  RATE_LIMIT_IP_MSGS_PER_10S: '1000000',
  RATE_LIMIT_ROOM_MSGS_PER_10S: '1000000',
  MAX_CONNECTIONS_PER_IP: '100000',
};

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export class NodeProcess {
  readonly logs: LogLine[] = [];
  port = 0;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private stderr = '';

  private constructor(readonly proc: ChildProcess) {
    live.add(proc);
    this.exit = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        live.delete(proc);
        resolve({ code, signal });
      }),
    );
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      if (this.stderr.length < 10_000) this.stderr += chunk;
    });
  }

  static async start(env: Record<string, string>): Promise<NodeProcess> {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...NODE_TEST_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new NodeProcess(proc);
    let exited = false;
    void node.exit.then(() => (exited = true));
    try {
      await until(
        () =>
          exited || node.logs.some((l) => typeof l.port === 'number' && /listening/.test(l.msg)),
        20_000,
        'node listening',
      );
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
    if (exited)
      throw new Error(`node exited at start: ${node.stderr} ${JSON.stringify(node.logs)}`);
    node.port = node.logs.find((l) => /listening/.test(l.msg))!.port as number;
    return node;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get serverId(): string | undefined {
    return this.logs.find((l) => typeof l.serverId === 'string')?.serverId as string | undefined;
  }

  hasLog(pred: (l: LogLine) => boolean): boolean {
    return this.logs.some(pred);
  }

  async waitForLog(pred: (l: LogLine) => boolean, ms = 10_000, what = 'log line'): Promise<void> {
    await until(() => this.logs.some(pred), ms, what);
  }

  async get(pathname: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${pathname}`);
    return { status: res.status, body: await res.text() };
  }

  /** A metric's value from /metrics (first sample whose line starts with `name`). */
  async metric(name: string): Promise<number | undefined> {
    const { body } = await this.get('/metrics');
    const line = body.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    return this.exit;
  }
}

/**
 * Wait until messages from `from` reach every client of `to` (the receiving nodes'
 * subscriptions are active): `from` sends probes until each has heard one, bounded. Messages
 * the receivers got meanwhile are consumed, so call it while setting up, before the messages a
 * test asserts on. Returns the messages skipped that were not probes.
 */
export async function awaitLinked(from: TestClient, ...to: TestClient[]): Promise<unknown[]> {
  const tag = `probe-${Math.random().toString(36).slice(2)}`;
  const skipped: unknown[] = [];
  const heard = new Map<TestClient, number>(); // last probe heard
  let sent = 0;
  for (; sent < 200 && heard.size < to.length; sent++) {
    from.send({ type: 'control', action: tag, payload: sent });
    const deadline = Date.now() + 50;
    for (const c of to) {
      while (!heard.has(c) && Date.now() < deadline) {
        let m: { action?: string; payload?: unknown };
        try {
          m = (await c.next(Math.max(1, deadline - Date.now()))) as typeof m;
        } catch {
          break;
        }
        if (m.action === tag) heard.set(c, m.payload as number);
        else skipped.push(m);
      }
    }
  }
  if (heard.size < to.length) throw new Error('messages never crossed between the nodes');
  // Probes follow in order: drain each receiver up to the last one sent. Anything else heard
  // meanwhile is returned with the rest (a peer-joined the receiving node learned through its
  // reconciliation can come after the joiner's first messages; callers that care compare).
  for (const c of to) {
    let last = heard.get(c)!;
    while (last < sent - 1) {
      const m = (await c.next(2000)) as { action?: string; payload?: unknown };
      if (m.action !== tag) skipped.push(m);
      else last = m.payload as number;
    }
  }
  return skipped;
}

/** Poll an asynchronous condition (a Redis query, an HTTP probe), bounded in time. */
export async function eventually(
  cond: () => Promise<boolean>,
  what = 'condition',
  ms = 5000,
): Promise<void> {
  const deadline = performance.now() + ms; // monotonic: holds when a test mocks Date
  while (!(await cond())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The processes a benchmark run starts itself on 127.0.0.1: Switchboard from the compiled
 * dist/, the bare relay, redis-server, and the load generator. Each is pinned to a core with
 * taskset when it exists, and every one is stopped at exit, whatever happens.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { build } from 'esbuild';
import type { ChurnCmd, Command } from './generator.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD_DIR = path.join(ROOT, 'bench/results/build');

/** Bundle bench/<name>.ts files to BUILD_DIR/<name>.mjs (the processes a run starts). */
export async function compileBench(names: string[]): Promise<void> {
  await build({
    entryPoints: names.map((n) => path.join(ROOT, `bench/${n}.ts`)),
    outdir: BUILD_DIR,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
  });
}

export const HAS_TASKSET = spawnSync('taskset', ['-V']).status === 0;
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Server processes go on core 0, the generator on core 1 (if the machine has two). */
export const SERVER_CORE = '0';
export const GENERATOR_CORE = '1';

// This process (the harness: IPC, JSON, the report) also stays off the servers' core: while a
// run is measured its threads are nearly idle, but a 2–4 ms GC or compile slice of theirs on
// core 0 showed up in `perf sched timehist` as a stall of a server's main thread.
if (HAS_TASKSET) spawnSync('taskset', ['-a', '-p', '-c', GENERATOR_CORE, String(process.pid)]);

/** `prefix` (e.g. a prlimit wrapper) runs inside taskset; both exec, so the pid is the process's. */
function pinned(
  core: string,
  cmd: string,
  args: string[],
  prefix: string[] = [],
): [string, string[]] {
  const full = [...prefix, cmd, ...args];
  return HAS_TASKSET ? ['taskset', ['-c', core, ...full]] : [full[0]!, full.slice(1)];
}

/** This process's open-files limit (children inherit it; Node raises its soft limit to the hard). */
export function openFilesLimit(): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (s: string | undefined) =>
    s === undefined || s === 'unlimited' ? Infinity : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * How to start a process allowed `n` open files: no prefix when the inherited hard limit
 * already allows it, `prlimit --nofile=n:n --` when this process may raise it (root with
 * CAP_SYS_RESOURCE, up to fs.nr_open), or why it cannot.
 */
export function openFilesPrefix(n: number): { prefix: string[] } | { error: string } {
  const { hard } = openFilesLimit();
  if (hard >= n) return { prefix: [] };
  const prefix = ['prlimit', `--nofile=${n}:${n}`, '--'];
  const probe = spawnSync(prefix[0]!, [...prefix.slice(1), 'true'], { encoding: 'utf8' });
  if (probe.status === 0) return { prefix };
  const why = (probe.error?.message ?? probe.stderr).trim().split('\n').pop();
  return { error: `open-files hard limit ${hard} < ${n}, and prlimit cannot raise it (${why})` };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function waitForPort(
  port: number,
  child: ChildProcess,
  spawnError: () => Error | undefined,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const err = spawnError();
    if (err) throw err;
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open within ${ms} ms`);
}

export interface Proc {
  name: string;
  pid: number;
  port: number;
  url: string;
  stop(): Promise<void>;
}

async function startProc(
  name: string,
  cmd: string,
  args: string[],
  port: number,
  env: NodeJS.ProcessEnv,
  core = SERVER_CORE,
  prefix: string[] = [],
): Promise<Proc> {
  const [c, a] = pinned(core, cmd, args, prefix);
  const child = spawn(c, a, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.add(child);
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err)); // e.g. ENOENT: redis-server not installed
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(port, child, () => spawnError);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${name}: ${(err as Error).message}`, { cause: err });
  }
  return {
    name,
    pid: child.pid!,
    port,
    url: `ws://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      children.delete(child);
    },
  };
}

/** Limits high enough that the benchmark never trips them: every drop would count as loss. */
export const HIGH_LIMITS: Record<string, string> = {
  RATE_LIMIT_CONN_PER_10S: '1000000000',
  RATE_LIMIT_MESSAGES_PER_10S: '1000000000',
  RATE_LIMIT_IP_MSGS_PER_10S: '1000000000',
  RATE_LIMIT_ROOM_MSGS_PER_10S: '1000000000',
  MAX_CONNECTIONS: '1000000',
  MAX_CONNECTIONS_PER_IP: '1000000',
  MAX_ROOMS: '1000000',
  MAX_PENDING_UPGRADES: '100000',
  BACKPRESSURE_CLOSE_THRESHOLD_BYTES: '268435456',
  LOG_LEVEL: 'warn',
};

export async function startSwitchboard(
  opts: {
    redisUrl?: string;
    clusterNodes?: string;
    nodeArgs?: string[];
    name?: string;
    env?: Record<string, string>;
    /** A checkout whose dist/ to run (bench/churn-ab.ts compares two); this one by default. */
    root?: string;
    /** Command prefix, e.g. openFilesPrefix()'s prlimit wrapper. */
    prefix?: string[];
  } = {},
): Promise<Proc> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...HIGH_LIMITS,
    WS_PORT: String(port),
    HOST: '127.0.0.1',
    ...opts.env,
  };
  if (opts.redisUrl) env.REDIS_URL = opts.redisUrl;
  if (opts.clusterNodes) env.REDIS_CLUSTER_NODES = opts.clusterNodes;
  Object.assign(env, opts.env);
  const args = [...(opts.nodeArgs ?? []), path.join(opts.root ?? ROOT, 'dist/src/cli.js')];
  const name = opts.name ?? 'switchboard';
  return startProc(name, process.execPath, args, port, env, SERVER_CORE, opts.prefix);
}

export async function startBare(nodeArgs: string[] = [], prefix: string[] = []): Promise<Proc> {
  const port = await freePort();
  const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
  const args = [...nodeArgs, path.join(BUILD_DIR, 'bare-relay.mjs')];
  return startProc('bare', process.execPath, args, port, env, SERVER_CORE, prefix);
}

/** Move a running process (all its threads) onto the servers' core. */
export function pinToServerCore(pid: number): void {
  if (HAS_TASKSET) spawnSync('taskset', ['-a', '-p', '-c', SERVER_CORE, String(pid)]);
}

/** Socket.IO + @socket.io/redis-adapter (bench/socketio-relay.ts); one process without Redis. */
export async function startSocketIo(redisUrl?: string, name = 'socket.io'): Promise<Proc> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1' };
  if (redisUrl) env.REDIS_URL = redisUrl;
  return startProc(name, process.execPath, [path.join(BUILD_DIR, 'socketio-relay.mjs')], port, env);
}

export async function startRedis(): Promise<Proc> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  return startProc('redis', 'redis-server', args, port, process.env);
}

/** The load generator: one child process on its own core, one command at a time over IPC. */
export class Generator {
  private readonly child: ChildProcess;
  readonly pid: number;

  /** `prefix`: a command prefix such as openFilesPrefix()'s prlimit wrapper. */
  constructor(prefix: string[] = []) {
    const [c, a] = pinned(
      GENERATOR_CORE,
      process.execPath,
      [path.join(BUILD_DIR, 'generator.mjs')],
      prefix,
    );
    this.child = spawn(c, a, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(this.child);
    this.pid = this.child.pid!;
  }

  run<T>(cmd: Command): Promise<T> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`generator exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (msg: { ok: boolean; result?: T; error?: string }) => {
        this.child.off('exit', onExit);
        if (msg.ok) resolve(msg.result as T);
        else reject(new Error(`generator: ${msg.error}`));
      });
      this.child.send(cmd);
    });
  }

  stop(): void {
    this.child.disconnect();
    children.delete(this.child);
  }
}

/**
 * The bench's join churn (SPEC-shaped v2 joins and closes): 50 rooms, `concurrency` loops (20
 * unless said), for `durationMs`. One builder for run.ts, webhooks.ts and the churn tools (here, not in generator.ts,
 * whose import would install the generator's IPC handlers).
 */
export function churnCmd(
  urls: string[],
  pids: number[],
  tag: string,
  durationMs: number,
  concurrency = 20,
): ChurnCmd {
  return { kind: 'churn', urls, tag, rooms: 50, concurrency, durationMs, pids };
}

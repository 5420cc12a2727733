/**
 * Real Redis for tests: a `redis-server` on a free loopback port with its own directory under
 * os.tmpdir(), no persistence (so a restart loses every key, like a crashed cache node), and a
 * 3-master Redis Cluster. Never the shared Redis on 6379. Every process started here is killed
 * when the test process exits, even on failure.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { requireBinary } from './system-deps.js';

const execFileP = promisify(execFile);
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A port free now on 127.0.0.1 (and, for cluster nodes, its bus port +10000 too). */
export async function freePort(withBus = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (!withBus) return port;
    if (port + 10000 < 65536 && (await portIsFree(port + 10000))) return port;
  }
  throw new Error('no free port found');
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function waitForPing(port: number, password: string | undefined, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const client = new Redis({
      port,
      host: '127.0.0.1',
      password,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not answer within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly extraArgs: string[],
  ) {
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-redis-'));
  }

  /** Start a fresh redis-server on a free port. */
  static async start(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
    requireBinary('redisServer'); // one line at once when it is not installed
    const server = new RedisServer(
      port ?? (await freePort(extraArgs.includes('--cluster-enabled'))),
      extraArgs,
    );
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  private async launch(): Promise<void> {
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--protected-mode',
      'no',
      ...this.extraArgs,
    ];
    const proc = spawn(requireBinary('redisServer'), args, { stdio: 'ignore' });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    this.proc = proc;
    const pw = this.extraArgs.indexOf('--requirepass');
    await waitForPing(this.port, pw === -1 ? undefined : this.extraArgs[pw + 1]);
  }

  /** SIGKILL: the data is gone (no persistence), clients see the connection drop. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    }
  }

  /** Start again on the same port, empty. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** A plain client for assertions; the caller disconnects it. */
  client(): Redis {
    const c = new Redis({ port: this.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    c.on('error', () => undefined);
    return c;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Three masters, no replicas, all 16384 slots assigned. */
export class RedisClusterNodes {
  private constructor(readonly servers: RedisServer[]) {}

  static async start(): Promise<RedisClusterNodes> {
    const servers: RedisServer[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        servers.push(
          await RedisServer.start([
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '2000',
          ]),
        );
      }
      const cli = requireBinary('redisCli');
      await execFileP(
        cli,
        [
          '--cluster',
          'create',
          ...servers.map((s) => `127.0.0.1:${s.port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: 30_000 },
      );
      const deadline = Date.now() + 20_000;
      for (const s of servers) {
        for (;;) {
          const { stdout } = await execFileP(cli, ['-p', String(s.port), 'cluster', 'info']);
          if (stdout.includes('cluster_state:ok')) break;
          if (Date.now() > deadline) throw new Error('cluster did not reach state ok');
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return new RedisClusterNodes(servers);
    } catch (err) {
      await Promise.all(servers.map((s) => s.stop()));
      throw err;
    }
  }

  /** REDIS_CLUSTER_NODES value. */
  get seeds(): string[] {
    return this.servers.map((s) => `127.0.0.1:${s.port}`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

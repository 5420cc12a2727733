/**
 * Real coturn for tests: Debian's `turnserver` on a free loopback port, configured entirely on
 * the command line (`-n`: no config file is read, so /etc/turnserver.conf never applies), with
 * loopback-only listening and relay addresses, the TURN REST shared secret(s), no CLI, no
 * TLS/DTLS, its log on stdout (kept in memory) and its pid file and SQLite DB in a temporary
 * directory. Every process started here is killed when the test process exits.
 *
 * Without coturn installed, `startCoturn()` rejects at once with one line telling how to
 * install it: tests that need it fail fast instead of hanging.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './redis.js';
import { requireBinary } from './system-deps.js';
import { TurnClient } from './turn-client.js';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface CoturnOptions {
  /** Shared secrets (coturn accepts any of them). */
  secrets: string[];
  realm?: string;
  /** coturn's `-v`: log each session and allocation with its username. */
  verbose?: boolean;
}

export interface Coturn {
  port: number;
  realm: string;
  /** `turn:127.0.0.1:PORT` (UDP). */
  url: string;
  /** coturn's version line, e.g. "Coturn-4.6.1 'Gorst'". */
  version: string;
  /** coturn's log so far (bounded). */
  log(): string;
  stop(): Promise<void>;
}

const MAX_LOG_LINES = 50_000;

export async function startCoturn(opts: CoturnOptions): Promise<Coturn> {
  const turnserver = requireBinary('turnserver'); // TURNSERVER_PATH; one line when missing
  const realm = opts.realm ?? 'switchboard.test';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-coturn-'));
  const port = await freePort();
  // A relay range of its own, away from the ephemeral ports; coturn skips ports in use.
  const minPort = 40000 + Math.floor(Math.random() * 200) * 100;
  const args = [
    '-n',
    '-L',
    '127.0.0.1',
    '-E',
    '127.0.0.1',
    '-p',
    String(port),
    '--use-auth-secret',
    ...opts.secrets.map((s) => `--static-auth-secret=${s}`),
    '-r',
    realm,
    '--allow-loopback-peers',
    '--no-cli',
    '--no-tls',
    '--no-dtls',
    '-f',
    '--min-port',
    String(minPort),
    '--max-port',
    String(minPort + 99),
    '--log-file=stdout',
    '--simple-log',
    ...(opts.verbose ? ['-v'] : []),
    `--pidfile=${path.join(dir, 'turnserver.pid')}`,
    `--db=${path.join(dir, 'turndb')}`,
  ];
  const proc = spawn(turnserver, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  const lines: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      // SCTP is not available in containers; coturn says so once per listener.
      if (!line || line.includes('Protocol not supported')) continue;
      lines.push(line);
      if (lines.length > MAX_LOG_LINES) lines.shift();
    }
  };
  proc.stdout!.on('data', collect);
  proc.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  void exited.then(() => live.delete(proc));

  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Up when it answers a STUN Binding request; give up after ~10 s or when it exits.
  const probe = new TurnClient('127.0.0.1', port);
  try {
    const up = probe.binding(40).then(() => true);
    const died = exited.then((code) => {
      throw new Error(`turnserver exited (${code}) at start:\n${lines.slice(-20).join('\n')}`);
    });
    await Promise.race([up, died]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    probe.close();
  }
  const version = /Version (Coturn-[^\n]*)/.exec(lines.join('\n'))?.[1]?.trim() ?? 'unknown';
  return {
    port,
    realm,
    url: `turn:127.0.0.1:${port}`,
    version,
    log: () => lines.join('\n'),
    stop,
  };
}

/**
 * Run the real CLI (`src/cli.ts` through tsx) as a child process, as an operator would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  healthPort: number | undefined;
  /** Every stdout line so far (JSON log lines). */
  lines: string[];
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export function runCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', WS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Start the CLI and resolve once it logs that it listens (port taken from that line). */
export async function startProcess(
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<ServerProcess> {
  const child = runCli([], env);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const listening = new Promise<{ port: number; healthPort: number | undefined }>(
    (resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`server did not start: ${stderr}`)),
        timeoutMs,
      );
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        try {
          const entry = JSON.parse(line) as { port?: number; healthPort?: number; msg?: string };
          if (entry.msg?.startsWith('switchboard listening') && entry.port) {
            clearTimeout(timer);
            resolve({ port: entry.port, healthPort: entry.healthPort });
          }
        } catch {
          // not JSON: ignore
        }
      });
      void exited.then(() => reject(new Error(`server exited before listening: ${stderr}`)));
    },
  );
  const { port, healthPort } = await listening;
  return {
    child,
    port,
    healthPort,
    lines,
    stderr: () => stderr,
    exited,
    kill: (signal = 'SIGTERM') => void child.kill(signal),
  };
}

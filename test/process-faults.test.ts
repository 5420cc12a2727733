/**
 * What the process does with an exception or rejection no error boundary caught (issue 10 §1,
 * src/process-faults.ts): one fatal log line, the clients drained with 1001 "Going away",
 * exit 1. Two faults in a row still log once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { ROOT } from './helpers/process.js';
import { connect, until } from './helpers/server.js';

for (const fault of ['throw', 'reject'] as const) {
  test(
    `an uncaught ${fault === 'throw' ? 'exception' : 'rejection'}: logged once, clients drained, exit 1`,
    { timeout: 60_000 },
    async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/fatal-harness.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '' },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      const exited = once(child, 'exit');
      const lines: { port?: number; msg?: string; level?: number; origin?: string }[] = [];
      createInterface({ input: child.stdout! }).on('line', (l) => {
        try {
          lines.push(JSON.parse(l) as (typeof lines)[number]);
        } catch {
          // not JSON
        }
      });
      try {
        await until(() => lines.some((l) => l.port !== undefined), 30_000, 'harness listening');
        const port = lines.find((l) => l.port !== undefined)!.port!;
        const client = await connect(`ws://127.0.0.1:${port}`, { roomId: 'fatal' });
        await until(() => lines.some((l) => l.msg === 'peer joined'), 10_000, 'peer joined');
        child.stdin!.write(`${fault}\n${fault}\n`);
        assert.deepEqual(await client.closed, Close.goingAway);
        const [code] = (await exited) as [number | null];
        assert.equal(code, 1);
        const fatal = lines.filter((l) => l.level === 60);
        assert.equal(fatal.length, 1, JSON.stringify(fatal));
        assert.equal(fatal[0]!.msg, 'unexpected error; draining and exiting 1');
        assert.equal(
          fatal[0]!.origin,
          fault === 'throw' ? 'uncaughtException' : 'unhandledRejection',
        );
      } finally {
        child.kill('SIGKILL');
      }
    },
  );
}

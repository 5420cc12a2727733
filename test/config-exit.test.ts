/**
 * Bad settings stop the real CLI at start with exit 2 and one stderr line naming the setting,
 * nothing on stdout (SPEC.md §11, issue 10 §3): close codes ws cannot send, a bad
 * REDIS_KEY_PREFIX, unreadable or invalid TLS files, a port in use, an address not of this
 * machine, a timer setting past Node's limit. Also: a valid SHUTDOWN_CLOSE_CODE drains on SIGTERM.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { Close } from '../src/close-codes.js';
import { isSendableCloseCode } from '../src/config.js';
import { runCli, startProcess } from './helpers/process.js';
import { connect, until } from './helpers/server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'switchboard-config-'));
after(() => rmSync(dir, { recursive: true, force: true }), { timeout: 10_000 });

async function run(env: Record<string, string>) {
  const child = runCli([], env);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  // Generous: each run compiles the CLI with tsx, which takes seconds of CPU on a loaded
  // 2-core machine (at 20 s, one of 14 parallel runs was killed during a full suite).
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number];
  clearTimeout(timer);
  return { code, out, err };
}

test('close-code settings accept exactly the codes ws can send', () => {
  for (const ok of [1000, 1001, 1002, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4000, 4999])
    assert.ok(isSendableCloseCode(ok), String(ok));
  for (const bad of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
    assert.ok(!isSendableCloseCode(bad), String(bad));
});

test(
  'every bad setting: exit 2, one stderr line naming it, nothing on stdout',
  { timeout: 170_000 },
  async () => {
    const garbage = path.join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = String((busy.address() as net.AddressInfo).port);
    const cases: [Record<string, string>, string][] = [
      [{ SHUTDOWN_CLOSE_CODE: '2000' }, 'SHUTDOWN_CLOSE_CODE'],
      [{ SHUTDOWN_CLOSE_CODE: '1005' }, 'SHUTDOWN_CLOSE_CODE'],
      [{ SHUTDOWN_CLOSE_CODE: '1015' }, 'SHUTDOWN_CLOSE_CODE'],
      [{ REDIS_URL: 'redis://127.0.0.1:1', REDIS_KEY_PREFIX: 'a{b}' }, 'REDIS_KEY_PREFIX'],
      [{ TLS_CERT_FILE: path.join(dir, 'missing.pem'), TLS_KEY_FILE: garbage }, 'TLS_CERT_FILE'],
      [{ TLS_CERT_FILE: garbage, TLS_KEY_FILE: path.join(dir, 'missing.pem') }, 'TLS_KEY_FILE'],
      [{ TLS_CERT_FILE: garbage, TLS_KEY_FILE: garbage }, 'TLS_CERT_FILE'],
      [{ TLS_CERT_FILE: dir, TLS_KEY_FILE: garbage }, 'TLS_CERT_FILE'],
      [{ WS_PORT: busyPort }, 'WS_PORT'],
      [{ HEALTH_PORT: busyPort }, 'HEALTH_PORT'],
      [{ HOST: '192.0.2.1' }, 'HOST'],
      [{ HEARTBEAT_INTERVAL_MS: '3000000000' }, 'HEARTBEAT_INTERVAL_MS'],
      [{ IPV6_PREFIX_LENGTH: '0' }, 'IPV6_PREFIX_LENGTH'],
      [{ METRICS_ON_MAIN_PORT: 'maybe' }, 'METRICS_ON_MAIN_PORT'],
    ];
    try {
      // Three at a time: all fourteen at once only queue for the same two cores.
      const results: Awaited<ReturnType<typeof run>>[] = [];
      let next = 0;
      const worker = async () => {
        while (next < cases.length) {
          const i = next++;
          results[i] = await run(cases[i]![0]);
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      results.forEach((r, i) => {
        const [env, name] = cases[i]!;
        const what = `${JSON.stringify(env)}: ${r.err}${r.out}`;
        assert.equal(r.code, 2, what);
        assert.equal(r.out, '', what);
        const lines = r.err.trimEnd().split('\n');
        assert.equal(lines.length, 1, what);
        assert.match(lines[0]!, new RegExp(`^switchboard: .*${name}`), what);
      });
    } finally {
      busy.close();
    }
  },
);

test('a valid SHUTDOWN_CLOSE_CODE (1012) reaches clients on SIGTERM, exit 0', async () => {
  const p = await startProcess({ SHUTDOWN_CLOSE_CODE: '1012' });
  const a = await connect(`ws://127.0.0.1:${p.port}`, { roomId: 'code' });
  await until(() => p.lines.some((l) => l.includes('peer joined')));
  p.kill('SIGTERM');
  assert.deepEqual(await a.closed, { code: 1012, reason: Close.goingAway.reason });
  assert.deepEqual(await p.exited, { code: 0, signal: null });
});

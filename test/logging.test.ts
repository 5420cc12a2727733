/**
 * Logs stay small and never stall the server: one line per join, refusal and disconnect, none
 * per message; a stdout pipe that nobody reads must not block the event loop.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { connect, join, startServer, until } from './helpers/server.js';
import { ROOT } from './helpers/process.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  await once(srv, 'close');
  return port;
}

test('one log line per join, refusal and disconnect; none per message', async () => {
  const t = await startServer({ roomCapacity: 2 });
  const a = await join(t, 'logs');
  const b = await join(t, 'logs');
  const refused = await connect(t.url, { roomId: 'logs' });
  await refused.closed;
  for (let i = 0; i < 50; i++) a.send({ type: 'offer', sdp: `m${i}` });
  for (let i = 0; i < 50; i++) await b.next();
  await a.close();
  await until(() => t.logs.lines.filter((l) => l.includes('peer left')).length === 1);
  const msgs = t.logs.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  assert.deepEqual(
    msgs.filter((m) => m !== 'server state'),
    ['peer joined', 'peer joined', 'connection refused', 'peer left'],
  );
  const left = JSON.parse(t.logs.lines.find((l) => l.includes('peer left'))!) as Record<
    string,
    unknown
  >;
  assert.equal(left.roomId, 'logs');
  assert.equal(left.cause, 'close');
  await b.close();
  await t.close();
});

test('a stdout pipe that nobody reads does not stall the server', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      WS_PORT: String(port),
      LOG_LEVEL: 'debug',
      RATE_LIMIT_CONN_PER_10S: '100000',
      MAX_CONNECTIONS_PER_IP: '100000',
    },
    stdio: ['ignore', 'pipe', 'ignore'], // stdout is a pipe, and this test never reads it
  });
  try {
    await until(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.status === 200,
      15_000,
      'server up',
    );
    const url = `ws://127.0.0.1:${port}`;
    // ~600 connections × 2–3 log lines of ~200 bytes: several times a 64 KiB pipe buffer.
    for (let round = 0; round < 30; round++) {
      const clients = await Promise.all(
        Array.from({ length: 20 }, () => connect(url, { roomId: `pipe-${round}` })),
      );
      await Promise.all(clients.map((c) => c.close()));
    }
    // Still serving: HTTP answers and two peers exchange a message.
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const a = await connect(url, { roomId: 'pipe-final' });
    const b = await connect(url, { roomId: 'pipe-final' });
    await until(
      async () => {
        a.send({ type: 'control', action: 'ping' });
        return b.buffered.length > 0;
      },
      5000,
      'delivery',
    );
    assert.deepEqual(await b.next(), { type: 'control', action: 'ping' });
    await a.close();
    await b.close();
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
});

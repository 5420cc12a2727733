/**
 * 10k idle connections that never answer a ping are all terminated by the heartbeat (one timer
 * per server, not per socket), while a well-behaved client stays connected and served. The
 * idle clients live in a child process: each process keeps under the 20k open-files limit.
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { join, startServer, until } from './helpers/server.js';

const N = 10_000;
/**
 * Long enough for all N to be open at once even on a loaded machine (setup took 11 s at a
 * load average of 13 on 2 cores), so the test shows N concurrent idle sockets, not a trickle.
 */
const HEARTBEAT_MS = 8000;

test(`${N} idle connections that never pong are terminated by the heartbeat`, async () => {
  const t = await startServer({ heartbeatIntervalMs: HEARTBEAT_MS, maxPendingUpgrades: 5000 });
  const child = fork(
    path.join(import.meta.dirname, 'helpers', 'idle-clients.ts'),
    [String(t.port), String(N), '1000'],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, t.server.connectionCount)), 20);
  try {
    const a = await join(t, 'alive');
    const b = await join(t, 'alive');
    const started = Date.now();
    let opened: { open: number; failed: number } | undefined;
    let closedByServer = 0;
    child.on('message', (m: { open?: number; failed?: number; closed?: number }) => {
      if (m.open !== undefined) opened = { open: m.open, failed: m.failed ?? 0 };
      if (m.closed !== undefined) closedByServer = m.closed;
    });
    await until(() => opened !== undefined, 60_000, 'idle clients connected');
    const setupMs = Date.now() - started;
    assert.equal(opened!.failed, 0, 'every idle client was upgraded');

    await until(() => t.server.connectionCount === 2, 60_000, 'idle connections terminated');
    const totalMs = Date.now() - started;
    await until(() => closedByServer === N, 10_000, 'the child saw every close');
    const body = await t.server.metrics.registry.metrics();
    assert.match(body, new RegExp(`signaling_disconnects_total\\{cause="heartbeat"\\} ${N}\\b`));
    assert.ok(peak >= N / 2, `peak ${peak} connections at once`);
    // The well-behaved clients answered every ping and are still served.
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    a.send({ type: 'offer', sdp: 'still alive' });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'still alive' });
    console.log(
      `idle flood: setup ${setupMs} ms, all terminated after ${totalMs} ms, peak ${peak}`,
    );
    await a.close();
    await b.close();
  } finally {
    clearInterval(sampler);
    child.disconnect?.();
    if (child.connected) child.disconnect();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    await t.close();
  }
});

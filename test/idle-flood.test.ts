/**
 * 10k idle connections that never answer a ping are all terminated by the heartbeat (one timer
 * per server, not per socket), while a well-behaved client stays connected and served. The
 * idle clients live in a child process: each process keeps under the 20k open-files limit.
 *
 * The heartbeat's interval timer is node:test's mock (only setInterval is mocked), ticked by
 * the test: all N connections are open at once before the first tick whatever the machine's
 * load, and the two ticks that terminate them happen when the test says. (The real timer
 * driving the heartbeat is tested in lifecycle.test.ts.)
 */
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { join, startServer, until, type TestClient } from './helpers/server.js';

const N = 10_000;
const HEARTBEAT_MS = 30_000;

/** Wait for the server's ping to reach `c`, then for a message round trip from `c` to `to`: the
 * pong that `ws` answered with precedes the message on the wire, so the server has it. */
async function pongDelivered(ping: Promise<unknown>, c: TestClient, to: TestClient) {
  await ping;
  const marker = { type: 'control', action: `after-pong-${Math.random()}` };
  c.send(marker);
  assert.deepEqual(await to.next(), marker);
}

test(`${N} idle connections, all open at once, that never pong are terminated by the heartbeat`, async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const s = await startServer({ heartbeatIntervalMs: HEARTBEAT_MS, maxPendingUpgrades: 5000 });
  const child = fork(
    path.join(import.meta.dirname, 'helpers', 'idle-clients.ts'),
    [String(s.port), String(N), '1000'],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = once(child, 'exit');
  try {
    const a = await join(s, 'alive');
    const b = await join(s, 'alive');
    const started = Date.now();
    let opened: { open: number; failed: number } | undefined;
    let closedByServer = 0;
    child.on('message', (m: { open?: number; failed?: number; closed?: number }) => {
      if (m.open !== undefined) opened = { open: m.open, failed: m.failed ?? 0 };
      if (m.closed !== undefined) closedByServer = m.closed;
    });
    await until(() => opened !== undefined, 120_000, 'idle clients connected');
    const setupMs = Date.now() - started;
    // No heartbeat has run yet: every idle client is open, on both sides, at the same time.
    assert.deepEqual(opened, { open: N, failed: 0 });
    await until(() => s.server.connectionCount === N + 2, 10_000, 'all admitted');

    // First tick: everyone is pinged. The well-behaved pair answers.
    const pings = [once(a.ws, 'ping'), once(b.ws, 'ping')];
    t.mock.timers.tick(HEARTBEAT_MS);
    await pongDelivered(pings[0]!, a, b);
    await pongDelivered(pings[1]!, b, a);
    assert.equal(s.server.connectionCount, N + 2, 'nobody is terminated at the first tick');

    // Second tick: whoever did not answer the previous ping is terminated.
    const tickAt = Date.now();
    t.mock.timers.tick(HEARTBEAT_MS);
    await until(() => s.server.connectionCount === 2, 60_000, 'idle connections terminated');
    const terminateMs = Date.now() - tickAt;
    await until(() => closedByServer === N, 10_000, 'the child saw every close');
    const body = await s.server.metrics.registry.metrics();
    assert.match(body, new RegExp(`signaling_disconnects_total\\{cause="heartbeat"\\} ${N}\\b`));
    // The well-behaved clients answered every ping and are still served.
    assert.equal(a.ws.readyState, WebSocket.OPEN);
    a.send({ type: 'offer', sdp: 'still alive' });
    assert.deepEqual(await b.next(), { type: 'offer', sdp: 'still alive' });
    t.diagnostic(
      `idle flood: setup ${setupMs} ms, ${N} terminated ${terminateMs} ms after the tick`,
    );
    await a.close();
    await b.close();
  } finally {
    if (child.connected) child.disconnect(); // the child destroys its sockets and exits
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
    await s.close();
  }
});

/**
 * SPEC.md §3 heartbeat, §8 HTTP endpoints, §9 graceful shutdown (real child process).
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { connect, join, startServer, until, type TestServer } from './helpers/server.js';
import { startProcess } from './helpers/process.js';

const servers: TestServer[] = [];
after(() => Promise.all(servers.map((s) => s.close())), { timeout: 30_000 });

describe('heartbeat', () => {
  test('a connection that does not answer pings is terminated and handled as a leave', async () => {
    const t = await startServer({ heartbeatIntervalMs: 150 });
    servers.push(t);
    const healthy = await join(t, 'hb');
    const silent = await join(t, 'hb', { autoPong: false });
    let pings = 0;
    healthy.ws.on('ping', () => pings++);
    assert.deepEqual(await healthy.next(3000), { type: 'peer-disconnected' });
    const closed = await silent.closed;
    assert.equal(closed.code, 1006); // terminated: no close frame
    // The healthy client kept answering and stays connected through more intervals.
    const seen = pings;
    await until(() => pings >= seen + 3, 10_000, 'more pings');
    assert.equal(healthy.ws.readyState, WebSocket.OPEN);
    const causes = await t.server.metrics.disconnects.get();
    assert.equal(causes.values.find((v) => v.labels.cause === 'heartbeat')?.value, 1);
    await healthy.close();
  });
});

describe('HTTP endpoints', () => {
  test('/healthz, /readyz, /metrics, 426 for anything else; HEALTH_PORT serves the same three', async () => {
    const t = await startServer({ healthPort: 0 });
    servers.push(t);
    const base = `http://127.0.0.1:${t.port}`;
    const health = `http://127.0.0.1:${t.server.healthPort}`;
    for (const b of [base, health]) {
      const h = await fetch(`${b}/healthz`);
      assert.equal(h.status, 200);
      assert.equal(await h.text(), 'ok');
      const r = await fetch(`${b}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'ready');
      const m = await fetch(`${b}/metrics`);
      assert.equal(m.status, 200);
      const body = await m.text();
      for (const name of [
        'signaling_active_connections',
        'signaling_local_rooms',
        'signaling_messages_forwarded_total',
        'signaling_schema_rejects_total',
        'signaling_rate_limit_drops_total',
        'signaling_backpressure_closes_total',
        'signaling_redis_operation_duration_seconds',
        'signaling_fanout_duration_seconds',
        'signaling_redis_up',
        'signaling_circuit_breaker_open',
      ])
        assert.match(body, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    const other = await fetch(`${base}/anything`);
    assert.equal(other.status, 426);
    assert.equal(other.headers.get('upgrade'), 'websocket');
    assert.equal((await fetch(`${base}/`)).status, 426);
    assert.equal((await fetch(`${health}/anything`)).status, 404);
  });

  test('metrics count connections, rooms and messages, with no room or client id label', async () => {
    const t = await startServer();
    servers.push(t);
    const a = await join(t, 'secret-room-name');
    const b = await join(t, 'secret-room-name');
    a.send({ type: 'offer', sdp: 'x' });
    await b.next();
    const body = await (await fetch(`http://127.0.0.1:${t.port}/metrics`)).text();
    assert.match(body, /^signaling_active_connections 2$/m);
    assert.match(body, /^signaling_local_rooms 1$/m);
    assert.match(body, /^signaling_messages_forwarded_total 1$/m);
    assert.ok(!body.includes('secret-room-name'));
    assert.ok(!body.includes('client:'));
    await a.close();
    await b.close();
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM: readiness 503, clients closed 1001 "Going away", then exit 0', async () => {
    const p = await startProcess({ HEALTH_PORT: '0', DRAIN_TIMEOUT_MS: '3000' });
    const url = `ws://127.0.0.1:${p.port}`;
    const a = await connect(url, { roomId: 'shutdown' });
    const b = await connect(url, { roomId: 'shutdown' });
    // A client that stops reading keeps the drain waiting for its close handshake.
    const stuck = await connect(url, { roomId: 'shutdown' });
    await until(async () => {
      const m = await (await fetch(`http://127.0.0.1:${p.healthPort}/metrics`)).text();
      return /^signaling_active_connections 3$/m.test(m);
    });
    (stuck.ws as unknown as { _socket: Socket })._socket.pause();

    p.kill('SIGTERM');
    assert.deepEqual(await a.closed, Close.goingAway);
    assert.deepEqual(await b.closed, Close.goingAway);
    // Draining: not ready, and no new connections.
    const ready = await fetch(`http://127.0.0.1:${p.healthPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), 'not-ready');
    await assert.rejects(connect(url, { roomId: 'shutdown' }));
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    assert.ok(p.lines.some((l) => l.includes('"msg":"stopped"')));
  });

  test('SIGINT drains too, with SHUTDOWN_CLOSE_CODE', async () => {
    const p = await startProcess({ SHUTDOWN_CLOSE_CODE: '4000' });
    const a = await connect(`ws://127.0.0.1:${p.port}`, { roomId: 'sigint' });
    await until(() => p.lines.some((l) => l.includes('peer joined')));
    p.kill('SIGINT');
    assert.deepEqual(await a.closed, { code: 4000, reason: Close.goingAway.reason });
    assert.deepEqual(await p.exited, { code: 0, signal: null });
  });

  test('close() is idempotent and refuses connections while draining', async () => {
    const t = await startServer();
    const a = await join(t, 'drain');
    const first = t.server.close();
    const second = t.server.close();
    assert.equal(first, second);
    assert.deepEqual(await a.closed, Close.goingAway);
    await first;
    assert.equal(t.server.state, 'closed');
  });
});

/**
 * The client SDK against real servers in Node (ws injected as the WebSocket implementation):
 * events, reconnect after a server restart, no reconnect on policy refusals, queue order.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, test } from 'node:test';
import { WebSocket } from 'ws';
import {
  backoffDelay,
  connect,
  isRetryable,
  type ClientEvents,
  type CloseInfo,
  type ConnectOptions,
  type SignalingClient,
  type WebSocketConstructor,
} from '../client/index.js';
import { observedJwtAuth } from './helpers/auth-spy.js';
import { FakeTimers } from './helpers/fake-timers.js';
import { SECRET, signHs } from './helpers/jwt.js';
import { join, startServer, until, type TestServer } from './helpers/server.js';
import { TcpProxy } from './helpers/tcp-proxy.js';

const servers = new Set<TestServer>();
const clients = new Set<SignalingClient>();
after(
  async () => {
    for (const c of clients) c.close();
    await Promise.all([...servers].map((s) => s.close()));
  },
  { timeout: 30_000 },
);

async function server(overrides: Parameters<typeof startServer>[0] = {}, opts = {}) {
  const s = await startServer(overrides, opts);
  servers.add(s);
  return s;
}

const FAST = { initialDelayMs: 20, maxDelayMs: 200 };

function client(
  opts: Omit<ConnectOptions, 'WebSocket'> & Partial<ConnectOptions>,
): SignalingClient {
  const c = connect({ WebSocket, reconnect: FAST, ...opts });
  clients.add(c);
  return c;
}

/** A WebSocket class that counts the connections the client opens. */
function countingWebSocket(): { WebSocket: WebSocketConstructor; count: () => number } {
  let n = 0;
  class Counting extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      n++;
    }
  }
  return { WebSocket: Counting, count: () => n };
}

/** The next emission of an event, bounded in time. */
function next<K extends keyof ClientEvents>(
  c: SignalingClient,
  event: K,
  ms = 3000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${String(event)} within ${ms} ms`)), ms);
    c.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

test('reconnect policy: retryable codes and jittered exponential backoff', () => {
  for (const code of [1001, 1006, 1011, 1013]) assert.equal(isRetryable(code), true, `${code}`);
  for (const code of [1000, 1008, 1009]) assert.equal(isRetryable(code), false, `${code}`);
  const opts = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, maxRetries: 5 };
  assert.equal(
    backoffDelay(0, opts, () => 0),
    50,
  );
  assert.equal(
    backoffDelay(0, opts, () => 1),
    100,
  );
  assert.equal(
    backoffDelay(3, opts, () => 0),
    400,
  );
  assert.equal(
    backoffDelay(4, opts, () => 1),
    1000,
  ); // capped
  assert.equal(
    backoffDelay(5, opts, () => 1),
    null,
  ); // out of retries
});

test('v2 events: welcome, peer-joined, message with from, directed send, rejected, peer-left', async () => {
  const s = await server();
  const a = client({ url: s.url, roomId: 'sdk-events' });
  const [wa] = await next(a, 'welcome');
  assert.equal(wa.roomId, 'sdk-events');
  assert.deepEqual(wa.peers, []);
  assert.equal(a.peerId, wa.peerId);
  await a.ready;

  const joined = next(a, 'peer-joined');
  const b = client({ url: s.url, roomId: 'sdk-events' });
  const [wb] = await next(b, 'welcome');
  assert.deepEqual(wb.peers, [wa.peerId]);
  assert.deepEqual(await joined, [wb.peerId]);
  assert.deepEqual([...a.peers], [wb.peerId]);

  const got = next(b, 'message');
  assert.equal(a.send({ type: 'offer', sdp: 'v=0', to: wb.peerId }), true);
  assert.deepEqual(await got, [{ type: 'offer', sdp: 'v=0', from: wa.peerId }]);

  const rejected = next(a, 'rejected');
  a.send({ type: 'offer', sdp: 'v=0', to: 'client:nobody' });
  assert.deepEqual(await rejected, ['unknown-peer']);

  const left = next(a, 'peer-left');
  const bClosed = next(b, 'close');
  b.close();
  assert.deepEqual(await bClosed, [{ code: 1000, reason: '', retryable: false, willRetry: false }]);
  assert.deepEqual(await left, [wb.peerId]);
  assert.equal(a.peers.size, 0);
  a.close();
  assert.equal(a.state, 'closed');
});

test('v1: open, plain messages, peer-left without id', async () => {
  const s = await server();
  const raw = await join(s, 'sdk-v1');
  const a = client({ url: s.url, roomId: 'sdk-v1', protocol: 1 });
  const [opened] = await next(a, 'open');
  assert.equal(opened.reconnected, false);
  await until(() => s.server.hub.get('sdk-v1')?.peers.size === 2);
  const got = next(a, 'message');
  raw.send({ type: 'answer', sdp: 'x' });
  assert.deepEqual(await got, [{ type: 'answer', sdp: 'x' }]);
  a.send({ type: 'control', action: 'hi' });
  assert.deepEqual(await raw.next(), { type: 'control', action: 'hi' });
  // v1 has no server welcome: a peer's control named so is just a message
  const fake = next(a, 'message');
  raw.send({ type: 'control', action: 'welcome', payload: { peerId: 'x' } });
  assert.deepEqual(await fake, [{ type: 'control', action: 'welcome', payload: { peerId: 'x' } }]);
  assert.equal(a.peerId, undefined);
  const rejected = next(a, 'rejected');
  a.send({ type: 'offer' } as never);
  assert.deepEqual(await rejected, ['schema-error']);
  const left = next(a, 'peer-left');
  await raw.close();
  assert.deepEqual(await left, [undefined]);
});

test('token travels as ?token= or as an access_token.* subprotocol entry (real JWT auth)', async () => {
  const { auth, seen } = observedJwtAuth({ jwtSecret: SECRET });
  const s = await server({ enableAuth: true, jwtSecret: SECRET }, { auth });
  const token = await signHs({ rooms: ['sdk-token'] });
  const q = client({ url: s.url, roomId: 'sdk-token', token });
  assert.equal((await next(q, 'welcome'))[0].roomId, 'sdk-token');
  const p = client({ url: s.url, roomId: 'sdk-token', token, tokenTransport: 'subprotocol' });
  assert.equal((await next(p, 'welcome'))[0].roomId, 'sdk-token');
  assert.deepEqual(seen, [
    { query: true, protocols: [] },
    // a selectable protocol is offered besides the token entry (ws and browsers fail a
    // handshake whose offered protocols all go unanswered)
    { query: false, protocols: ['switchboard', `access_token.${token}`] },
  ]);
  // refusals are policy refusals: no retry
  const bad = client({ url: s.url, roomId: 'sdk-token', token: 'not.a.jwt' });
  const [c1] = await next(bad, 'close');
  assert.deepEqual(c1, { code: 1008, reason: 'Unauthorized', retryable: false, willRetry: false });
  await assert.rejects(bad.ready);
  const other = await signHs({ rooms: ['another-room'] });
  const forbidden = client({
    url: s.url,
    roomId: 'sdk-token',
    token: other,
    tokenTransport: 'subprotocol',
  });
  const [c2] = await next(forbidden, 'close');
  assert.deepEqual(c2, { code: 1008, reason: 'Forbidden', retryable: false, willRetry: false });
  // the token never appears in the server's logs
  assert.equal(s.logs.text.includes(token), false);
});

test('no reconnect after 1008 or "Room is full"', async () => {
  const s = await server({ roomCapacity: 1 });
  const refusals = () => s.logs.lines.filter((l) => l.includes('connection refused')).length;
  // The clients' timers are a fake clock: a reconnect would have to be a pending timer.
  const timers = new FakeTimers();
  const ws = countingWebSocket();
  const opts = { timers, WebSocket: ws.WebSocket };

  const invalid = client({ url: s.url, roomId: 'not valid!', ...opts });
  const [c1] = await next(invalid, 'close');
  assert.deepEqual(c1, {
    code: 1008,
    reason: 'Invalid roomId',
    retryable: false,
    willRetry: false,
  });
  assert.equal(invalid.state, 'closed');

  const first = client({ url: s.url, roomId: 'sdk-full', ...opts });
  await first.ready;
  const second = client({ url: s.url, roomId: 'sdk-full', ...opts });
  const [c2] = await next(second, 'close');
  const expected: CloseInfo = {
    code: 1000,
    reason: 'Room is full',
    retryable: false,
    willRetry: false,
  };
  assert.deepEqual(c2, expected);
  assert.equal(second.state, 'closed');
  await assert.rejects(second.ready, /Room is full/);
  assert.equal(second.send({ type: 'control', action: 'x' }), false);

  // Nothing is scheduled (the connect timeouts were cleared, no retry was set), and an hour
  // later on the clients' clock no new connection was opened.
  assert.deepEqual(timers.delays, []);
  timers.advance(3_600_000);
  assert.equal(ws.count(), 3);
  assert.equal(refusals(), 2);
});

test('reconnects after a server restart on the same port and gets a new welcome', async () => {
  const s1 = await server();
  const port = s1.port;
  // Jitter fixed at the middle: the first retry waits 20 / 2 + 0.5 × 20 / 2 = 15 ms.
  const a = client({ url: s1.url, roomId: 'sdk-restart', random: () => 0.5 });
  const b = client({ url: s1.url, roomId: 'sdk-restart' });
  const [wa] = await next(a, 'welcome');
  await b.ready;
  await until(() => a.peers.size === 1, 3000, 'a sees b');
  const oldB = b.peerId;
  const left: (string | undefined)[] = [];
  a.on('peer-left', (id) => left.push(id));

  const closes: CloseInfo[] = [];
  a.on('close', (info) => closes.push(info));
  const reopened = next(a, 'open', 8000);
  const rewelcomed = next(a, 'welcome', 8000);
  await s1.close();
  servers.delete(s1);
  assert.deepEqual(closes[0], {
    code: 1001,
    reason: 'Going away',
    retryable: true,
    willRetry: true,
    retryInMs: 15,
  });
  assert.equal(a.state === 'reconnecting' || a.state === 'connecting', true);
  // While down, attempts fail with 1006 and keep retrying.
  await until(() => closes.some((c) => c.code === 1006), 3000, 'a failed attempt');
  assert.equal(
    closes.every((c) => c.willRetry),
    true,
  );

  const s2 = await server({ wsPort: port });
  const [opened] = await reopened;
  assert.equal(opened.reconnected, true);
  const [w2] = await rewelcomed;
  assert.notEqual(w2.peerId, wa.peerId);
  assert.equal(w2.roomId, 'sdk-restart');
  await until(() => s2.server.hub.get('sdk-restart')?.peers.size === 2, 8000, 'both back');
  // a and b see each other again under their new ids
  await until(() => a.peers.size === 1 && b.peers.size === 1, 3000, 'peers');
  assert.deepEqual([...a.peers], [b.peerId]);
  assert.deepEqual([...b.peers], [a.peerId]);
  // the old session's peer is reported gone (once), so helpers drop its connection
  assert.deepEqual(left, [oldB]);
});

test('v2 reconnect after a network cut resumes: same id, `resumed` not `welcome`, nothing lost either way, the other peer sees nothing', async () => {
  const s = await server();
  const proxy = await TcpProxy.start(s.port);
  try {
    const a = client({ url: proxy.url, roomId: 'sdk-resume' });
    const b = client({ url: s.url, roomId: 'sdk-resume' });
    const [wa] = await next(a, 'welcome');
    await b.ready;
    await until(() => a.peers.size === 1 && b.peers.size === 1, 3000, 'a and b see each other');
    const welcomes: unknown[] = [];
    a.on('welcome', (w) => welcomes.push(w));
    const bEvents: string[] = [];
    b.on('peer-left', (id) => bEvents.push(`left ${id}`));
    b.on('peer-joined', (id) => bEvents.push(`joined ${id}`));
    const aGot: string[] = [];
    a.on('message', (m) => m.type === 'control' && aGot.push(m.action));
    const bGot: string[] = [];
    b.on('message', (m) => m.type === 'control' && bGot.push(m.action));

    const down = next(a, 'close');
    const resumed = next(a, 'resumed', 8000);
    proxy.sever();
    const [info] = await down;
    assert.equal(info.code, 1006);
    assert.equal(info.willRetry, true);
    for (let i = 0; i < 5; i++) a.send({ type: 'control', action: `a${i}` }); // queued
    for (let i = 0; i < 5; i++) b.send({ type: 'control', action: `b${i}`, to: wa.peerId });
    const [w] = await resumed;
    assert.equal(w.peerId, wa.peerId);
    assert.equal(a.peerId, wa.peerId);
    assert.deepEqual(w.peers, [b.peerId]);
    await until(() => aGot.length === 5 && bGot.length === 5, 5000, 'both sides got all');
    assert.deepEqual(aGot, ['b0', 'b1', 'b2', 'b3', 'b4']);
    assert.deepEqual(bGot, ['a0', 'a1', 'a2', 'a3', 'a4']);
    assert.deepEqual(welcomes, []);
    assert.deepEqual(bEvents, []);
    assert.deepEqual([...a.peers], [b.peerId]);
  } finally {
    await proxy.close();
  }
});

test('messages sent while reconnecting are queued (bounded) and flushed in order', async () => {
  const s1 = await server();
  const s2 = await server();
  const receiver = await join(s2, 'sdk-queue');
  const a = client({ url: [s1.url, s2.url], roomId: 'sdk-queue', protocol: 1, maxQueue: 5 });
  await a.ready;
  const down = next(a, 'close');
  await s1.close();
  servers.delete(s1);
  const [info] = await down;
  assert.equal(info.willRetry, true);
  assert.equal(a.state, 'reconnecting');
  const sent = [1, 2, 3, 4, 5, 6].map((i) => a.send({ type: 'control', action: `m${i}` }));
  assert.deepEqual(sent, [true, true, true, true, true, false]); // the sixth exceeds maxQueue
  assert.equal(a.queued, 5);
  for (let i = 1; i <= 5; i++)
    assert.deepEqual(await receiver.next(5000), { type: 'control', action: `m${i}` });
  assert.equal(a.queued, 0);
  assert.equal(a.url, s2.url);
  // after the flush, new messages go straight out, after the queued ones
  a.send({ type: 'control', action: 'm7' });
  assert.deepEqual(await receiver.next(), { type: 'control', action: 'm7' });
  await receiver.close();
});

test('a handshake that never completes times out and is retried; close() stops retrying', async () => {
  // A TCP server that accepts and never answers the upgrade request.
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  const port = (silent.address() as net.AddressInfo).port;
  const timers = new FakeTimers();
  const ws = countingWebSocket();
  try {
    let accepted = once(silent, 'connection');
    const c = client({
      url: `ws://127.0.0.1:${port}`,
      roomId: 'sdk-timeout',
      connectTimeoutMs: 100,
      timers,
      WebSocket: ws.WebSocket,
      random: () => 0.5, // first retry after 15 ms (see the restart test)
    });
    await accepted;
    assert.deepEqual(timers.delays, [100]); // the connect timeout
    const firstClose = next(c, 'close');
    timers.advance(100);
    assert.deepEqual((await firstClose)[0], {
      code: 1006,
      reason: 'Connect timeout',
      retryable: true,
      willRetry: true,
      retryInMs: 15,
    });
    assert.deepEqual(timers.delays, [15]); // the retry
    accepted = once(silent, 'connection');
    timers.advance(15);
    await accepted;
    assert.equal(ws.count(), 2);
    assert.equal(c.state, 'connecting');

    const closed = next(c, 'close');
    c.close();
    assert.deepEqual((await closed)[0], {
      code: 1000,
      reason: '',
      retryable: false,
      willRetry: false,
    });
    assert.equal(c.state, 'closed');
    // Nothing is left to fire: no attempt after close(), however long the clock runs.
    assert.deepEqual(timers.delays, []);
    timers.advance(3_600_000);
    assert.equal(ws.count(), 2);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

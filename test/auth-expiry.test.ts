/**
 * Token expiry on open connections: the server's 1 s sweep closes 1008 "Token expired", unless
 * the client refreshed in-band with a control "refresh-token" (validated like at admission,
 * same room grant, consumed and never forwarded).
 *
 * Each test has its own server whose clock (`now`) the test sets, and whose sweep timer is
 * node:test's mock interval, run by the test: expiry is checked at exactly the instants the
 * test chooses, one millisecond before `exp` and at `exp`, with no waiting.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { sign, signHs } from './helpers/jwt.js';
import { join, startServer, until, type TestServer } from './helpers/server.js';

const SECRET = 'x'.repeat(32);
const SWEEP_MS = 1000;

/** Signed with this server's secret (the helper's SECRET is a different one). */
const tok = (rooms: string[], expIn: number) =>
  sign({ rooms }, new TextEncoder().encode(SECRET), { expIn });

const expMs = (token: string) => decodeJwt(token).exp! * 1000;

const refresh = (token: string) => ({
  type: 'control',
  action: 'refresh-token',
  payload: { token },
});

interface Fixture {
  t: TestServer;
  /** Set the server's clock (ms since epoch) and run one expiry sweep at that instant. */
  sweepAt(ms: number): void;
}

async function fixture(ctx: TestContext): Promise<Fixture> {
  ctx.mock.timers.enable({ apis: ['setInterval'] }); // the sweep (and heartbeat) timers
  let now = Date.now();
  const t = await startServer(
    { enableAuth: true, jwtSecret: SECRET, jwtClockSkewSeconds: 0 },
    { now: () => now },
  );
  ctx.after(() => t.close(), { timeout: 30_000 });
  return {
    t,
    sweepAt(ms) {
      now = ms;
      ctx.mock.timers.tick(SWEEP_MS);
    },
  };
}

const members = (t: TestServer, room: string) => t.server.hub.get(room)?.peers.size ?? 0;

test('an open connection is closed 1008 "Token expired" at the sweep after exp; peers are told', async (ctx) => {
  const { t, sweepAt } = await fixture(ctx);
  const short = await tok(['exp-1'], 60);
  const a = await join(t, 'exp-1', { query: `token=${short}` });
  const b = await join(t, 'exp-1', { query: `token=${await tok(['exp-1'], 600)}` });
  assert.equal(members(t, 'exp-1'), 2);
  sweepAt(expMs(short) - 1);
  assert.equal(members(t, 'exp-1'), 2, 'still admitted 1 ms before exp');
  sweepAt(expMs(short));
  assert.deepEqual(await a.closed, { ...Close.tokenExpired });
  assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
  assert.equal(b.ws.readyState, WebSocket.OPEN);
  await b.close();
  const body = await t.server.metrics.registry.metrics();
  assert.match(body, /signaling_disconnects_total\{cause="token-expired"\} 1\n/);
});

test('refresh-token extends the connection to the new exp and is never forwarded', async (ctx) => {
  const { t, sweepAt } = await fixture(ctx);
  const short = await tok(['exp-2'], 60);
  const long = await tok(['exp-2'], 600);
  const a = await join(t, 'exp-2', { query: `token=${short}` });
  const b = await join(t, 'exp-2', { query: `token=${await tok(['exp-2'], 6000)}` });
  const peerA = [...t.server.hub.get('exp-2')!.peers.values()][0]!;
  a.send(refresh(long));
  // Not forwarded: b's next message is the one a sent after the refresh.
  a.send({ type: 'control', action: 'after-refresh' });
  assert.deepEqual(await b.next(), { type: 'control', action: 'after-refresh' });
  // The refresh is verified asynchronously; it has taken effect once the peer carries its exp.
  await until(() => peerA.expiresAt === expMs(long), 5000, 'refresh applied');

  sweepAt(expMs(short) + SWEEP_MS);
  assert.equal(members(t, 'exp-2'), 2, 'past the first token: still admitted');
  a.send({ type: 'offer', sdp: 'still here' });
  assert.deepEqual(await b.next(), { type: 'offer', sdp: 'still here' });
  sweepAt(expMs(long));
  assert.deepEqual(await a.closed, { ...Close.tokenExpired });
  await b.close();
});

test('a refresh for another room is Forbidden; a bad or expired one Unauthorized', async (ctx) => {
  const { t } = await fixture(ctx);
  const member = async () => join(t, 'exp-3', { query: `token=${await tok(['exp-3'], 600)}` });
  const a = await member();
  a.send(refresh(await tok(['other-room'], 600)));
  assert.deepEqual(await a.closed, { ...Close.forbidden });

  const b = await member();
  b.send(refresh(await signHs({ rooms: ['exp-3'] }))); // signed with another secret
  assert.deepEqual(await b.closed, { ...Close.unauthorized });

  const c = await member();
  c.send(refresh(await tok(['exp-3'], -5)));
  assert.deepEqual(await c.closed, { ...Close.unauthorized });
});

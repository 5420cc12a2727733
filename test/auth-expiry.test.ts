/**
 * Token expiry on open connections: the server's 1 s sweep closes 1008 "Token expired", unless
 * the client refreshed in-band with a control "refresh-token" (validated like at admission,
 * same room grant, consumed and never forwarded).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { decodeJwt } from 'jose';
import { WebSocket } from 'ws';
import { Close } from '../src/close-codes.js';
import { sign, signHs } from './helpers/jwt.js';
import { expectSilence, join, startServer, until, type TestServer } from './helpers/server.js';

let t: TestServer;
before(
  async () => {
    t = await startServer({ enableAuth: true, jwtSecret: 'x'.repeat(32), jwtClockSkewSeconds: 0 });
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

/** Signed with this server's secret (the helper's SECRET is a different one). */
const tok = (rooms: string[], expIn: number) =>
  sign({ rooms }, new TextEncoder().encode('x'.repeat(32)), { expIn });

const refresh = (token: string) => ({
  type: 'control',
  action: 'refresh-token',
  payload: { token },
});

test('an open connection is closed 1008 "Token expired" when exp passes; peers are told', async () => {
  // `exp` has whole-second precision, so a 1 s token may already be expired at admission on a
  // loaded machine; 3 s leaves 2–3 s, and the close must still come within one sweep of exp.
  const a = await join(t, 'exp-1', { query: `token=${await tok(['exp-1'], 3)}` });
  const b = await join(t, 'exp-1', { query: `token=${await tok(['exp-1'], 600)}` });
  const started = Date.now();
  assert.equal(a.ws.readyState, WebSocket.OPEN, 'admitted before exp');
  assert.deepEqual(await a.closed, { ...Close.tokenExpired });
  assert.ok(Date.now() - started < 5500, 'closed within the sweep after exp');
  assert.deepEqual(await b.next(), { type: 'peer-disconnected' });
  assert.equal(b.ws.readyState, WebSocket.OPEN);
  await b.close();
  const body = await t.server.metrics.registry.metrics();
  assert.match(body, /signaling_disconnects_total\{cause="token-expired"\} 1/);
});

test('refresh-token extends the connection and is never forwarded', async () => {
  const short = await tok(['exp-2'], 3); // see above: whole-second exp
  const a = await join(t, 'exp-2', { query: `token=${short}` });
  const b = await join(t, 'exp-2', { query: `token=${await tok(['exp-2'], 600)}` });
  a.send(refresh(await tok(['exp-2'], 600)));
  await expectSilence(b, 100);
  // Past the first token's exp plus more than one sweep: still open and forwarding.
  const exp = decodeJwt(short).exp! * 1000;
  await until(() => Date.now() > exp + 1500, 8000, 'first token long expired');
  assert.equal(a.ws.readyState, WebSocket.OPEN);
  a.send({ type: 'offer', sdp: 'still here' });
  assert.deepEqual(await b.next(), { type: 'offer', sdp: 'still here' });
  await a.close();
  await b.close();
});

test('a refresh for another room is Forbidden; a bad or expired one Unauthorized', async () => {
  const a = await join(t, 'exp-3', { query: `token=${await tok(['exp-3'], 600)}` });
  a.send(refresh(await tok(['other-room'], 600)));
  assert.deepEqual(await a.closed, { ...Close.forbidden });

  const b = await join(t, 'exp-3', { query: `token=${await tok(['exp-3'], 600)}` });
  b.send(refresh(await signHs({ rooms: ['exp-3'] }))); // signed with another secret
  assert.deepEqual(await b.closed, { ...Close.unauthorized });

  const c = await join(t, 'exp-3', { query: `token=${await tok(['exp-3'], 600)}` });
  c.send(refresh(await tok(['exp-3'], -5)));
  assert.deepEqual(await c.closed, { ...Close.unauthorized });
});

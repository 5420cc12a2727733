import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join, startServer, type TestServer } from './helpers/server.js';

let t: TestServer;
before(
  async () => {
    t = await startServer();
  },
  { timeout: 30_000 },
);
after(() => t?.close(), { timeout: 30_000 });

test('two peers exchange an offer and answer', async () => {
  const a = await join(t, 'smoke');
  const b = await join(t, 'smoke');
  a.send({ type: 'offer', sdp: 'v=0' });
  assert.deepEqual(await b.next(), { type: 'offer', sdp: 'v=0' });
  b.send({ type: 'answer', sdp: 'v=0 answer', extra: 1 });
  assert.deepEqual(await a.next(), { type: 'answer', sdp: 'v=0 answer' });
  await b.close();
  assert.deepEqual(await a.next(), { type: 'peer-disconnected' });
  await a.close();
});

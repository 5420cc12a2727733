/**
 * API messages (SPEC.md §14, peer id `server`) to a detached peer (SPEC.md §13): directed or
 * broadcast, they are kept in its mailbox and replayed on resume, after the welcome, in order,
 * exactly once; attached members hear a broadcast live, once. On one server with the memory
 * backend and on two node processes sharing one real redis-server (peer detached from A by a
 * severed TCP proxy, the API asked on B, the peer resumed on B).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { api } from './helpers/api.js';
import { member, withDetached, onBothBackends, type Cluster } from './helpers/api-resume.js';
import { expectSilence } from './helpers/server.js';

async function say(port: number, roomId: string, message: object, to?: string): Promise<void> {
  const body: { message: object; to?: string } = { message };
  if (to !== undefined) body.to = to;
  const res = await api(port, 'POST', `/api/v1/rooms/${roomId}/messages`, { body });
  assert.equal(res.status, 202, res.text);
}

const offer = (n: number) => ({ type: 'offer', sdp: `v=${n}` });
const fromServer = (n: number) => ({ ...offer(n), from: 'server' });

function scenarios(name: string, cluster: () => Cluster): void {
  describe(`API messages to a detached peer (${name})`, { timeout: 60_000 }, () => {
    test('directed and broadcast API messages are replayed after the welcome, in order, exactly once', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y, z],
      } = await withDetached(c, 'am', [a, b]);
      await say(b.port, r, offer(1), x.id);
      await say(b.port, r, offer(2));
      await say(b.port, r, offer(3), x.id);
      for (const other of [y, z]) assert.deepEqual(await other.next(5000), fromServer(2));
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.equal(back.id, x.id);
      for (const n of [1, 2, 3]) assert.deepEqual(await back.next(5000), fromServer(n));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
      await expectSilence(z, 1);
    });

    test('a directed API message is kept when the asked node holds nothing of the room', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y],
      } = await withDetached(c, 'am', [a]);
      await say(b.port, r, offer(7), x.id);
      await say(b.port, r, offer(8));
      assert.deepEqual(await y.next(5000), fromServer(8));
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.deepEqual(await back.next(5000), fromServer(7));
      assert.deepEqual(await back.next(5000), fromServer(8));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
    });

    test('after the resume, API messages reach the resumed peer live, once', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y],
      } = await withDetached(c, 'am', [a]);
      await say(a.port, r, offer(4), x.id);
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      assert.deepEqual(await back.next(5000), fromServer(4));
      await c.noneDetachedOnA();
      await say(a.port, r, offer(5), x.id);
      assert.deepEqual(await back.next(5000), fromServer(5));
      await expectSilence(back, 500);
      await expectSilence(y, 1);
    });
  });
}

onBothBackends(scenarios);

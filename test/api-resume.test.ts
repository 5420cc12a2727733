/**
 * The server API (SPEC.md §14) meets resume (SPEC.md §13): `GET /api/v1/rooms/ROOM` marks a
 * detached member `"detached": true`; removing a detached peer (or its room) ends its session at
 * once (its token then gives resumed:false) and the others hear one ordinary leave; a removed
 * attached peer is never detached. The same scenarios run on one server with the memory backend
 * and on two node processes sharing one real redis-server (peer detached on A, API asked on B).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { api, errorCode } from './helpers/api.js';
import {
  linked,
  member,
  newRoom,
  withDetached,
  onBothBackends,
  type ApiMember,
  type Cluster,
} from './helpers/api-resume.js';
import { eventually } from './helpers/node-process.js';
import { expectSilence } from './helpers/server.js';

async function members(port: number, roomId: string): Promise<ApiMember[]> {
  const res = await api(port, 'GET', `/api/v1/rooms/${roomId}`);
  assert.equal(res.status, 200, res.text);
  return (res.body as { members: ApiMember[] }).members;
}

/** signaling_disconnects_total{cause="removed"}, summed over the cluster's nodes. */
async function removedCount(c: Cluster): Promise<number> {
  let sum = 0;
  for (const port of new Set([c.a.port, c.b.port])) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const m = /^signaling_disconnects_total\{cause="removed"\} (\d+)$/m.exec(text);
    sum += m ? Number(m[1]) : 0;
  }
  return sum;
}

function scenarios(name: string, cluster: () => Cluster): void {
  describe(`server API and detached peers (${name})`, { timeout: 60_000 }, () => {
    test('GET marks the detached member "detached": true, only it, and no longer once it resumes', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y, z],
      } = await withDetached(c, 'ar', [a, b]);
      for (const node of [a, b]) {
        const list = await members(node.port, r);
        assert.deepEqual(list.map((m) => m.peerId).sort(), [x.id, y.id, z.id].sort());
        for (const m of list) {
          if (m.peerId === x.id) assert.equal(m.detached, true);
          else assert.ok(!('detached' in m), `${JSON.stringify(m)} carries no detached`);
        }
      }
      const back = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(back.welcome.resumed, true);
      for (const node of [a, b])
        assert.ok((await members(node.port, r)).every((m) => !('detached' in m)));
    });

    test('DELETE of a detached peer: 204, the others hear one peer-disconnected, its token gives resumed:false', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y, z],
      } = await withDetached(c, 'ar', [a, b]);
      const removedBefore = await removedCount(c);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(res.status, 204, res.text);
      for (const other of [y, z])
        assert.deepEqual(await other.next(5000), { type: 'peer-disconnected', peerId: x.id });
      await expectSilence(y, 300);
      await expectSilence(z, 1);
      assert.equal((await removedCount(c)) - removedBefore, 1, 'one leave, cause removed, in all');
      await c.noneDetachedOnA();
      for (const node of [a, b])
        assert.deepEqual(
          (await members(node.port, r)).map((m) => m.peerId).sort(),
          [y.id, z.id].sort(),
        );
      const again = await api(a.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(again.status, 404);
      assert.equal(errorCode(again), 'peer_not_found');
      const late = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
    });

    test('DELETE of a room ends its detached sessions and closes its attached members 4001', async () => {
      const c = cluster();
      const { a, b } = c;
      const {
        r,
        x,
        others: [y],
      } = await withDetached(c, 'ar', [b]);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}`);
      assert.equal(res.status, 204, res.text);
      assert.deepEqual(await y.closed, { code: 4001, reason: 'Removed' });
      await eventually(
        async () => (await api(a.port, 'GET', `/api/v1/rooms/${r}`)).status === 404,
        'room gone',
      );
      await c.noneDetachedOnA();
      const late = await member(a.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
    });

    test('DELETE of a room whose only member is detached: 204, not 404; the session is over', async () => {
      const c = cluster();
      const { b } = c;
      const { r, x } = await withDetached(c, 'ar', []);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}`);
      assert.equal(res.status, 204, res.text);
      assert.equal((await api(b.port, 'GET', `/api/v1/rooms/${r}`)).status, 404);
      await c.noneDetachedOnA();
      const late = await member(b.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.deepEqual(late.welcome.peers, []);
    });

    test('a removed attached peer (4001 "Removed") is never detached: its token gives resumed:false', async () => {
      const { a, b, everDetached } = cluster();
      const r = newRoom('ar');
      const x = await member(a.url, r);
      const y = await member(b.url, r);
      await linked(x, y);
      const res = await api(b.port, 'DELETE', `/api/v1/rooms/${r}/peers/${x.id}`);
      assert.equal(res.status, 204, res.text);
      assert.deepEqual(await x.closed, { code: 4001, reason: 'Removed' });
      assert.deepEqual(await y.next(5000), { type: 'peer-disconnected', peerId: x.id });
      await eventually(async () => {
        const list = await members(a.port, r);
        return list.length === 1 && list[0]!.peerId === y.id;
      }, 'only y left');
      const late = await member(a.url, r, x.welcome.resumeToken);
      assert.equal(late.welcome.resumed, false);
      assert.notEqual(late.id, x.id);
      assert.ok(!everDetached(x.id), 'never logged as detached');
    });
  });
}

onBothBackends(scenarios);

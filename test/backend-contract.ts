/**
 * The backend contract of src/backend/backend.ts as one behavioural suite, run against every
 * backend: two (or three) nodes sharing one store (memory: one MemoryStore; redis: one
 * redis-server or one Redis Cluster). Each node is driven the way the server drives it: a
 * handler that records envelopes, subscribe on a room's first local member and unsubscribe on
 * its last.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Backend, BackendHandler, Envelope, LeaveResult } from '../src/backend/backend.js';
import { until } from './helpers/server.js';

/** Fresh, not yet started backends sharing one store; `cleanup` releases the store. */
export type MakeNodes = (count: number) => Promise<{ nodes: Backend[]; cleanup(): Promise<void> }>;

export class ContractNode {
  readonly inbox: [roomId: string, envelope: Envelope][] = [];
  readonly local = new Map<string, Set<string>>();
  readonly handler: BackendHandler = {
    onEnvelope: (roomId, envelope) => this.inbox.push([roomId, envelope]),
  };

  constructor(readonly backend: Backend) {}

  async join(roomId: string, clientId: string, capacity: number) {
    const result = await this.backend.join(roomId, clientId, capacity);
    if (result.ok) {
      let set = this.local.get(roomId);
      if (!set) {
        this.local.set(roomId, (set = new Set()));
        this.backend.subscribe(roomId);
      }
      set.add(clientId);
    }
    return result;
  }

  async leave(roomId: string, clientId: string): Promise<LeaveResult> {
    const set = this.local.get(roomId);
    if (set?.delete(clientId) && set.size === 0) {
      this.local.delete(roomId);
      this.backend.unsubscribe(roomId);
    }
    return this.backend.leave(roomId, clientId);
  }

  message(senderId: string, payload: unknown): Envelope {
    return {
      senderId,
      data: { type: 'control', action: 'test', payload },
      originServerId: this.backend.serverId,
    };
  }

  /** Payloads of test messages received for roomId. */
  payloads(roomId: string): unknown[] {
    return this.inbox
      .filter(([r, e]) => r === roomId && e.data.type === 'control' && e.event === undefined)
      .map(([, e]) => (e.data as { payload?: unknown }).payload);
  }

  async waitFor(pred: (roomId: string, e: Envelope) => boolean, what: string, ms = 5000) {
    await until(() => this.inbox.some(([r, e]) => pred(r, e)), ms, what);
  }
}

const newId = () => `client:${randomUUID()}`;
const newRoom = () => `room-${randomUUID().slice(0, 8)}`;

/**
 * Subscriptions take effect asynchronously: `publisher` sends probes until `listener` hears one
 * (bounded), after which everything `publisher` or anyone else publishes reaches `listener`.
 */
async function awaitSubscribed(listener: ContractNode, publisher: ContractNode, roomId: string) {
  const tag = randomUUID();
  for (let i = 0; i < 200; i++) {
    publisher.backend.publish(roomId, publisher.message('probe', tag));
    try {
      await until(() => listener.payloads(roomId).includes(tag), 25, 'probe');
      return;
    } catch {
      // not subscribed yet
    }
  }
  throw new Error('subscription never became active');
}

export function backendContract(name: string, makeNodes: MakeNodes): void {
  describe(`backend contract: ${name}`, () => {
    async function withNodes(
      count: number,
      body: (...nodes: ContractNode[]) => Promise<void>,
    ): Promise<void> {
      const { nodes, cleanup } = await makeNodes(count);
      const wrapped = nodes.map((b) => new ContractNode(b));
      try {
        for (const n of wrapped) await n.backend.start(n.handler);
        await body(...wrapped);
      } finally {
        await Promise.allSettled(wrapped.map((n) => n.backend.close()));
        await cleanup();
      }
    }

    test('join, members, capacity and leave across two nodes', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [c1, c2, c3] = [newId(), newId(), newId()];
        assert.deepEqual(await a.join(room, c1, 2), {
          ok: true,
          members: [c1],
          detached: [],
          roomStarted: true,
        });
        const second = await b.join(room, c2, 2);
        assert.ok(second.ok);
        assert.equal(second.roomStarted, false);
        assert.deepEqual([...second.members].sort(), [c1, c2].sort());
        assert.deepEqual(await a.join(room, c3, 2), { ok: false, reason: 'full' });
        assert.deepEqual((await a.backend.members(room)).sort(), [c1, c2].sort());
        assert.deepEqual((await b.backend.members(room)).sort(), [c1, c2].sort());
        assert.deepEqual(await b.leave(room, c2), { removed: true, roomFinished: false });
        const third = await a.join(room, c3, 2);
        assert.ok(third.ok);
        assert.deepEqual([...third.members].sort(), [c1, c3].sort());
        assert.deepEqual(await a.leave(room, c1), { removed: true, roomFinished: false });
        assert.deepEqual(await a.leave(room, c3), { removed: true, roomFinished: true });
        assert.deepEqual(await b.backend.members(room), []);
      }));

    test('resume sessions: detach keeps the member, keep fills the mailbox in order, claim is single use and bound to its room', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [p, q] = [newId(), newId()];
        await a.join(room, p, 2);
        await b.join(room, q, 2);
        const deadline = await a.backend.detach(room, p, 'hash-1', 60_000, 4096);
        assert.ok(deadline > Date.now() - 5000);
        // Still a member: it holds its place.
        assert.deepEqual((await b.backend.members(room)).sort(), [p, q].sort());
        assert.equal((await b.backend.join(room, newId(), 2)).ok, false);
        const joined = await b.backend.join(room, q, 2);
        assert.ok(joined.ok);
        assert.deepEqual(
          joined.detached.map((d) => d.peerId),
          [p],
        );
        const overflowed: string[] = [];
        for (let i = 0; i < 3; i++)
          b.backend.keep(room, [p], JSON.stringify({ n: i }), (id) => overflowed.push(id));
        // Within the relay grace nothing is claimed yet.
        const early = await a.backend.claim(room, 'hash-1', 60_000);
        assert.equal(early.result, 'early');
        assert.ok(early.result === 'early' && early.waitMs > 50_000 && early.waitMs <= 60_000);
        assert.deepEqual(await a.backend.claim(newRoom(), 'hash-1', 0), { result: 'unknown' });
        assert.deepEqual(await a.backend.claim(room, 'hash-2', 0), { result: 'unknown' });
        const claimed = await b.backend.claim(room, 'hash-1', 0);
        assert.equal(claimed.result, 'resumed');
        if (claimed.result !== 'resumed') return;
        assert.equal(claimed.peerId, p);
        assert.deepEqual(claimed.mailbox, ['{"n":0}', '{"n":1}', '{"n":2}']);
        assert.deepEqual(claimed.members.sort(), [p, q].sort());
        assert.deepEqual(overflowed, []);
        assert.deepEqual(await a.backend.claim(room, 'hash-1', 0), { result: 'unknown' });
        // Attached again: keep no longer appends, expire leaves it alone.
        b.backend.keep(room, [p], '{"late":1}', () => undefined);
        assert.equal((await a.backend.expire(room, p)).status, 'attached');
      }));

    test('resume sessions: overflow and window end each end the session once', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [p, q, r] = [newId(), newId(), newId()];
        await a.join(room, p, 5);
        await a.join(room, q, 5);
        await b.join(room, r, 5);
        await a.backend.detach(room, p, 'hash-p', 60_000, 1024);
        const qDeadline = await a.backend.detach(room, q, 'hash-q', 300, 1024);
        const overflowed: string[] = [];
        const big = JSON.stringify({ x: 'y'.repeat(600) });
        b.backend.keep(room, [p], big, (id) => overflowed.push(id));
        b.backend.keep(room, [p], big, (id) => overflowed.push(id));
        await until(() => overflowed.length > 0, 5000, 'overflow reported');
        assert.deepEqual(overflowed, [p]);
        assert.deepEqual(await b.backend.claim(room, 'hash-p', 0), {
          result: 'overflow',
          peerId: p,
        });
        const ends = await Promise.all([a.backend.expire(room, p), b.backend.expire(room, p)]);
        assert.deepEqual(ends.map((e) => e.status).sort(), ['ended', 'gone']);
        assert.ok(
          ends.every((e) => !e.roomFinished),
          'q and r remain: the room goes on',
        );
        assert.equal((await a.backend.expire(room, q)).status, 'open');
        await until(() => Date.now() > qDeadline + 50, 5000, 'window end');
        assert.deepEqual(await b.backend.claim(room, 'hash-q', 0), {
          result: 'expired',
          peerId: q,
        });
        const qEnds = await Promise.all([a.backend.expire(room, q), b.backend.expire(room, q)]);
        assert.deepEqual(qEnds.map((e) => e.status).sort(), ['ended', 'gone']);
        assert.deepEqual(await b.backend.members(room), [r]);
        assert.equal((await b.backend.expire(room, r)).status, 'attached');
      }));

    test('resume sessions: ending the last member (window end, overflow) reports roomFinished to exactly one node', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const p = newId();
        await a.join(room, p, 5);
        const deadline = await a.backend.detach(room, p, 'hash-last', 200, 1024);
        await until(() => Date.now() > deadline + 50, 5000, 'window end');
        const ends = await Promise.all([a.backend.expire(room, p), b.backend.expire(room, p)]);
        assert.deepEqual(ends.map((e) => [e.status, e.roomFinished]).sort(), [
          ['ended', true],
          ['gone', false],
        ]);
        assert.deepEqual(await a.backend.members(room), []);
        // Overflow: q (another node) fills p's mailbox, then leaves; ending p finishes the room.
        const [p2, q] = [newId(), newId()];
        await a.join(room, p2, 5);
        await b.join(room, q, 5);
        await a.backend.detach(room, p2, 'hash-last-2', 60_000, 1024);
        const overflowed: string[] = [];
        const big = JSON.stringify({ x: 'y'.repeat(600) });
        b.backend.keep(room, [p2], big, (id) => overflowed.push(id));
        b.backend.keep(room, [p2], big, (id) => overflowed.push(id));
        await until(() => overflowed.length > 0, 5000, 'overflow reported');
        assert.deepEqual(await b.backend.leave(room, q), { removed: true, roomFinished: false });
        const overflowEnds = await Promise.all([
          a.backend.expire(room, p2),
          b.backend.expire(room, p2),
        ]);
        assert.deepEqual(overflowEnds.map((e) => [e.status, e.roomFinished]).sort(), [
          ['ended', true],
          ['gone', false],
        ]);
      }));

    test('resume sessions: roomMembers marks the detached member; expire now ends an open window once', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [p, q] = [newId(), newId()];
        await a.join(room, p, 5);
        await b.join(room, q, 5);
        await a.backend.detach(room, p, 'hash-now', 60_000, 1024);
        for (const node of [a, b]) {
          const listed = await node.backend.roomMembers(room);
          assert.deepEqual(
            listed.map((m) => [m.peerId, m.detached === true]).sort(),
            [
              [p, true],
              [q, false],
            ].sort(),
          );
          assert.ok(listed.every((m) => m.detached === true || !('detached' in m)));
        }
        assert.equal((await b.backend.expire(room, p)).status, 'open');
        assert.equal(
          (await b.backend.expire(room, q, true)).status,
          'attached',
          'never ends an attached one',
        );
        const ends = await Promise.all([
          a.backend.expire(room, p, true),
          b.backend.expire(room, p, true),
        ]);
        assert.deepEqual(ends.map((e) => e.status).sort(), ['ended', 'gone']);
        assert.deepEqual(await a.backend.claim(room, 'hash-now', 0), { result: 'unknown' });
        assert.deepEqual(await a.backend.members(room), [q]);
        assert.deepEqual(
          (await b.backend.roomMembers(room)).map((m) => m.peerId),
          [q],
        );
      }));

    test('join and leave are idempotent', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const c1 = newId();
        assert.deepEqual(await a.join(room, c1, 1), {
          ok: true,
          members: [c1],
          detached: [],
          roomStarted: true,
        });
        // Already a member: admitted again although the room is at capacity; not a new start.
        assert.deepEqual(await a.join(room, c1, 1), {
          ok: true,
          members: [c1],
          detached: [],
          roomStarted: false,
        });
        assert.deepEqual(await b.backend.members(room), [c1]);
        const gone = { removed: false, roomFinished: false };
        assert.deepEqual(await a.leave(room, c1), { removed: true, roomFinished: true });
        assert.deepEqual(await a.backend.leave(room, c1), gone);
        assert.deepEqual(await b.backend.leave(room, newId()), gone);
        assert.deepEqual(await b.backend.leave(newRoom(), newId()), gone);
        assert.deepEqual(await a.backend.members(room), []);
      }));

    test('of joins and leaves racing across nodes, exactly one reports each room start and finish', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        let started = 0;
        let finished = 0;
        for (let round = 0; round < 5; round++) {
          const ids = Array.from({ length: 6 }, () => newId());
          const joins = await Promise.all(ids.map((id, i) => (i % 2 ? a : b).join(room, id, 100)));
          started += joins.filter((j) => j.ok && j.roomStarted).length;
          const leaves = await Promise.all(ids.map((id, i) => (i % 2 ? a : b).leave(room, id)));
          assert.ok(leaves.every((l) => l.removed));
          finished += leaves.filter((l) => l.roomFinished).length;
          assert.equal(started, round + 1);
          assert.equal(finished, round + 1);
        }
      }));

    test('of many joins racing for the last places across nodes, exactly capacity win', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const capacity = 7;
        const ids = Array.from({ length: 40 }, newId);
        const results = await Promise.all(
          ids.map((id, i) => (i % 2 === 0 ? a : b).join(room, id, capacity)),
        );
        const winners = ids.filter((_, i) => results[i]!.ok);
        assert.equal(winners.length, capacity);
        assert.deepEqual((await a.backend.members(room)).sort(), winners.sort());
      }));

    test('only subscribed nodes receive; a node never receives its own publications', () =>
      withNodes(3, async (a, b, c) => {
        const room = newRoom();
        await a.join(room, newId(), 10);
        await c.join(room, newId(), 10);
        await awaitSubscribed(c, a, room);
        await awaitSubscribed(a, c, room);
        a.backend.publish(room, a.message('x', 'before-b'));
        await c.waitFor((r, e) => r === room && e.senderId === 'x', 'before-b at c');
        assert.equal(b.inbox.length, 0, 'b has not subscribed');

        await b.join(room, newId(), 10);
        await awaitSubscribed(b, c, room);
        a.backend.publish(room, a.message('x', 'after-b'));
        await b.waitFor(
          (r, e) => r === room && (e.data as { payload?: unknown }).payload === 'after-b',
          'after-b at b',
        );
        // Had b received the room's traffic before subscribing, before-b would precede after-b.
        assert.ok(!b.payloads(room).includes('before-b'));

        // a's own publications never come back to it: c's later message arrives, a's do not.
        c.backend.publish(room, c.message('y', 'from-c'));
        await a.waitFor((_r, e) => e.senderId === 'y', 'from-c at a');
        assert.ok(!a.inbox.some(([, e]) => e.originServerId === a.backend.serverId));
        assert.ok(!a.payloads(room).includes('after-b'));
      }));

    test('after unsubscribe a node receives nothing of the room', () =>
      withNodes(3, async (a, b, c) => {
        const room = newRoom();
        const bc = newId();
        await a.join(room, newId(), 10);
        await b.join(room, bc, 10);
        await c.join(room, newId(), 10);
        await awaitSubscribed(b, a, room);
        await awaitSubscribed(c, a, room);
        await b.leave(room, bc); // last local member: unsubscribes
        a.backend.publish(room, a.message('x', 'while-away'));
        await c.waitFor(
          (_r, e) => (e.data as { payload?: unknown }).payload === 'while-away',
          'while-away at c',
        );
        await b.join(room, newId(), 10);
        await awaitSubscribed(b, a, room);
        assert.ok(!b.payloads(room).includes('while-away'));
      }));

    test('messages of one sender arrive in order, exactly once', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        await a.join(room, newId(), 10);
        await b.join(room, newId(), 10);
        await awaitSubscribed(b, a, room);
        const n = 300;
        for (let i = 0; i < n; i++) a.backend.publish(room, a.message('s', i));
        await until(() => b.payloads(room).filter((p) => typeof p === 'number').length >= n);
        a.backend.publish(room, a.message('s', 'end'));
        await b.waitFor((_r, e) => (e.data as { payload?: unknown }).payload === 'end', 'end');
        const got = b.payloads(room).filter((p) => typeof p === 'number');
        assert.deepEqual(
          got,
          Array.from({ length: n }, (_, i) => i),
        );
      }));

    test('join and leave events and directed messages keep their fields', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [x, y, z] = [newId(), newId(), newId()];
        await a.join(room, x, 10);
        await b.join(room, y, 10);
        await awaitSubscribed(b, a, room);
        await awaitSubscribed(a, b, room);
        // z stands for a member admitted on a after y joined (so b has not seen it yet).
        const joined: Envelope = {
          senderId: z,
          data: { type: 'control', action: 'peer-joined', payload: { peerId: z } },
          originServerId: a.backend.serverId,
          event: 'join',
        };
        const directed: Envelope = { ...a.message(x, 'direct'), to: y };
        const left: Envelope = {
          senderId: x,
          data: { type: 'peer-disconnected' },
          originServerId: a.backend.serverId,
          event: 'leave',
        };
        a.backend.publish(room, joined);
        a.backend.publish(room, directed);
        a.backend.publish(room, left);
        await b.waitFor((_r, e) => e.event === 'leave', 'leave at b');
        const fromX = b.inbox
          .filter(([, e]) => e.senderId === x || e.senderId === z)
          .map(([, e]) => e);
        assert.deepEqual(fromX, [joined, directed, left]);
      }));

    test('knowsPeer: a node knows the remote members of its rooms without asking', () =>
      withNodes(2, async (a, b) => {
        const room = newRoom();
        const [x, y] = [newId(), newId()];
        await b.join(room, y, 10);
        await a.join(room, x, 10); // y is in x's join result
        assert.equal(a.backend.knowsPeer(room, y), true);
        assert.equal(a.backend.knowsPeer(room, newId()), false);
        await awaitSubscribed(b, a, room);
        // b learns x from the join event the server publishes when x is admitted.
        a.backend.publish(room, {
          senderId: x,
          data: { type: 'control', action: 'peer-joined', payload: { peerId: x } },
          originServerId: a.backend.serverId,
          event: 'join',
        });
        await until(() => b.backend.knowsPeer(room, x), 5000, 'b knows x');
        await a.leave(room, x);
        a.backend.publish(room, {
          senderId: x,
          data: { type: 'peer-disconnected' },
          originServerId: a.backend.serverId,
          event: 'leave',
        });
        await until(() => !b.backend.knowsPeer(room, x), 5000, 'b forgets x');
      }));
  });
}

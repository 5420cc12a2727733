/**
 * The server API part of the backend contract (src/backend/backend.ts: listRooms, roomMembers,
 * commandPeer, commandRoom) as one behavioural suite, run against every backend beside the
 * main contract (backend-contract.ts), with two nodes sharing one store.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  API_SENDER_ID,
  InvalidCursorError,
  type BackendHandler,
  type RoomCommand,
} from '../src/backend/backend.js';
import { ContractNode, type MakeNodes } from './backend-contract.js';
import { until } from './helpers/server.js';

class ApiNode extends ContractNode {
  readonly commands: [roomId: string, command: RoomCommand][] = [];
  override readonly handler: BackendHandler = {
    onEnvelope: (roomId, envelope) => this.inbox.push([roomId, envelope]),
    onCommand: (roomId, command) => this.commands.push([roomId, command]),
  };
}

const newId = () => `client:${randomUUID()}`;
const tag = () => randomUUID().slice(0, 8);

export function backendApiContract(name: string, makeNodes: MakeNodes): void {
  describe(`backend contract, server API: ${name}`, () => {
    async function withNodes(body: (a: ApiNode, b: ApiNode) => Promise<void>): Promise<void> {
      const { nodes, cleanup } = await makeNodes(2);
      const [a, b] = nodes.map((n) => new ApiNode(n)) as [ApiNode, ApiNode];
      try {
        for (const n of [a, b]) await n.backend.start(n.handler);
        await body(a, b);
      } finally {
        await Promise.allSettled([a, b].map((n) => n.backend.close()));
        await cleanup();
      }
    }

    test('roomMembers: every member of every node with its version, subject and joinedAt', () =>
      withNodes(async (a, b) => {
        const room = `r-${tag()}`;
        const [x, y] = [newId(), newId()];
        const t0 = Date.now();
        await a.backend.join(room, x, 10, { version: 2, subject: 'alice' });
        await b.backend.join(room, y, 10);
        for (const node of [a, b]) {
          const members = (await node.backend.roomMembers(room)).sort((m, n) =>
            m.peerId === x ? -1 : n.peerId === x ? 1 : 0,
          );
          assert.equal(members.length, 2);
          assert.deepEqual(
            members.map(({ peerId, version, subject }) => ({ peerId, version, subject })),
            [
              { peerId: x, version: 2, subject: 'alice' },
              { peerId: y, version: 1, subject: undefined },
            ],
          );
          for (const m of members) assert.ok(m.joinedAt >= t0 - 1000 && m.joinedAt <= Date.now());
        }
        assert.deepEqual(await a.backend.roomMembers(`empty-${tag()}`), []);
      }));

    test('listRooms: pages by prefix to a null cursor, with member counts', () =>
      withNodes(async (a, b) => {
        const p = `l${tag()}-`;
        const rooms = Array.from({ length: 23 }, (_, i) => `${p}${i}`);
        for (const [i, room] of rooms.entries())
          await (i % 2 ? a : b).backend.join(room, newId(), 10);
        await a.backend.join(rooms[5]!, newId(), 10);
        await a.backend.join(`other-${tag()}`, newId(), 10);
        const seen = new Map<string, number>();
        let cursor: string | undefined;
        for (let page = 0; page < 200; page++) {
          const res = await b.backend.listRooms({ prefix: p, limit: 4, cursor });
          assert.ok(res.rooms.length <= 4);
          for (const r of res.rooms) seen.set(r.roomId, r.members);
          if (res.cursor === null) break;
          cursor = res.cursor;
        }
        assert.deepEqual([...seen.keys()].sort(), [...rooms].sort());
        assert.equal(seen.get(rooms[5]!), 2);
        assert.equal(seen.get(rooms[6]!), 1);
      }));

    test('listRooms: a cursor it did not produce is refused with InvalidCursorError', () =>
      withNodes(async (a) => {
        for (const cursor of ['not base64 !', Buffer.from('{"x":1}').toString('base64url'), 'e30'])
          await assert.rejects(
            a.backend.listRooms({ prefix: '', limit: 10, cursor }),
            InvalidCursorError,
          );
      }));

    test('commandPeer reaches only the node holding the peer; false for a non-member', () =>
      withNodes(async (a, b) => {
        const room = `c-${tag()}`;
        const [x, y] = [newId(), newId()];
        await a.join(room, x, 10);
        await b.join(room, y, 10);
        const remove: RoomCommand = { op: 'remove', peerId: y };
        assert.equal(await a.backend.commandPeer(room, y, remove), true);
        await until(() => b.commands.length > 0, 5000, 'command at b');
        assert.deepEqual(b.commands, [[room, remove]]);
        const msg: RoomCommand = { op: 'message', message: { type: 'offer', sdp: 's' }, to: x };
        assert.equal(await b.backend.commandPeer(room, x, msg), true);
        await until(() => a.commands.length > 0, 5000, 'command at a');
        assert.deepEqual(a.commands, [[room, msg]]);
        assert.equal(await a.backend.commandPeer(room, newId(), remove), false);
        assert.equal(await a.backend.commandPeer(`none-${tag()}`, x, remove), false);
        assert.equal(b.commands.length, 1, 'b received nothing else');
      }));

    test('commandRoom: a removal reaches each node with members once; a message is local and an envelope from `server` elsewhere', () =>
      withNodes(async (a, b) => {
        const room = `d-${tag()}`;
        await a.join(room, newId(), 10);
        await a.join(room, newId(), 10);
        await b.join(room, newId(), 10);
        assert.equal(await a.backend.commandRoom(room, { op: 'remove' }), true);
        await until(() => a.commands.length > 0 && b.commands.length > 0, 5000, 'both nodes');
        assert.deepEqual(a.commands, [[room, { op: 'remove' }]]);
        assert.deepEqual(b.commands, [[room, { op: 'remove' }]]);

        // b hears a's publications on the room channel once its subscription is active.
        const probe = { type: 'control' as const, action: 'probe' };
        await until(
          async () => {
            await a.backend.commandRoom(room, { op: 'message', message: probe });
            return b.inbox.some(([r, e]) => r === room && e.senderId === API_SENDER_ID);
          },
          5000,
          'b subscribed',
        );
        a.commands.length = 0;
        b.inbox.length = 0;
        b.commands.length = 0;
        const message = { type: 'control' as const, action: 'hello', payload: 1 };
        assert.equal(await a.backend.commandRoom(room, { op: 'message', message }), true);
        assert.deepEqual(a.commands, [[room, { op: 'message', message }]]);
        // Probes sent before b was subscribed may still arrive; the message arrives once.
        const hellos = () =>
          b.inbox.filter(([, e]) => (e.data as { action?: string }).action === 'hello');
        await until(() => hellos().length > 0, 5000, 'envelope at b');
        assert.equal(hellos().length, 1);
        assert.equal(hellos()[0]![1].senderId, API_SENDER_ID);
        assert.deepEqual(hellos()[0]![1].data, message);
        assert.deepEqual(b.commands, []);
        assert.equal(await b.backend.commandRoom(`none-${tag()}`, { op: 'remove' }), false);
      }));
  });
}

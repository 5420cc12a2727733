/**
 * The server API's side of the redis backend (SPEC.md §14): every answer read from Redis, so it
 * is the same on every node; every action routed to the node(s) holding the members.
 *
 * - Listing rooms: SCAN of the membership sets (`P room:*`, TYPE set) with MATCH and COUNT,
 *   master by master on a Cluster, a bounded number of calls per page. The cursor carries the
 *   SCAN cursor and the rooms of the last batch that did not fit in the page, so a room present
 *   throughout is listed at least once (SCAN's guarantee) and never lost to a page boundary.
 * - A member's details: its record in `{P room:ROOM}:members` (member-record.ts).
 * - A command for one member: PUBLISH on the node channel of the member's node, read from its
 *   record; only that node receives it. A command for a whole room: a message is one envelope
 *   from `server` on the room's channel (only nodes with members subscribe it); a removal goes
 *   to the node channel of each node that has members there.
 *   A message for a detached receiver does not come here: the API's node originates it through
 *   the resume code, which keeps it in the mailbox (server/resume.ts `sendApiMessage`).
 */
import type { Cluster, Redis } from 'ioredis';
import { validateMessage } from '../protocol/message.js';
import { isValidRoomId } from '../protocol/room-id.js';
import {
  API_SENDER_ID,
  type RoomCommand,
  type RoomListQuery,
  type RoomMember,
  type RoomPage,
} from './backend.js';
import type { EnvelopeCodec } from './envelope-codec.js';
import { decodeRecord } from './member-record.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import { decodeRedisCursor, encodeCursor, type RedisCursor } from './room-cursor.js';

/** SCAN calls one page may make (bounded work per request, whatever the number of rooms). */
const MAX_SCAN_CALLS = 20;

export interface RedisApiHost {
  readonly serverId: string;
  readonly conn: RedisConnection;
  readonly keys: RedisKeys;
  readonly codec: EnvelopeCodec;
  readonly roomIdMaxLength: number;
  /** An awaited Redis operation through the circuit breaker (redis.ts `op`). */
  op<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** Hand a command to this node's own handler. */
  local(roomId: string, command: RoomCommand): void;
  /** A command was published to a node channel nobody subscribes (the node is gone). */
  onUnreachable(node: string, roomId: string): void;
}

/** What travels on a node channel. */
interface NodeCommand {
  roomId: string;
  command: RoomCommand;
}

export class RedisApi {
  constructor(private readonly host: RedisApiHost) {}

  async listRooms(query: RoomListQuery): Promise<RoomPage> {
    const { keys, roomIdMaxLength } = this.host;
    const state: RedisCursor =
      query.cursor === undefined
        ? { n: 0, c: '0', p: [] }
        : decodeRedisCursor(query.cursor, roomIdMaxLength);
    const masters = this.masters();
    const pattern = keys.roomPattern(query.prefix);
    const skip = keys.room('').length;
    const ids: string[] = [];
    const take = (batch: string[]): string[] => {
      const fits = batch.slice(0, query.limit - ids.length);
      ids.push(...fits);
      return batch.slice(fits.length);
    };
    let pending = take(state.p.filter((id) => id.startsWith(query.prefix)));
    let { n, c } = state;
    for (let calls = 0; pending.length === 0 && ids.length < query.limit; calls++) {
      if (n >= masters.length || calls === MAX_SCAN_CALLS) break;
      const count = query.limit - ids.length;
      const [next, found] = await this.host.op('api-scan', () =>
        masters[n]!.scan(c, 'MATCH', pattern, 'COUNT', count, 'TYPE', 'set'),
      );
      pending = take(
        found.map((k) => k.slice(skip)).filter((id) => isValidRoomId(id, roomIdMaxLength)),
      );
      c = next;
      if (c === '0') n++;
    }
    const sizes = await this.host.op('api-scard', () =>
      Promise.all(ids.map((id) => this.host.conn.commands.scard(keys.room(id)))),
    );
    const rooms = ids
      .map((roomId, i) => ({ roomId, members: sizes[i]! }))
      .filter((r) => r.members > 0);
    const done = n >= masters.length && pending.length === 0;
    return { rooms, cursor: done ? null : encodeCursor({ n, c, p: pending }) };
  }

  async roomMembers(roomId: string): Promise<RoomMember[]> {
    const records = await this.host.op('api-members', () =>
      this.host.conn.commands.hgetall(this.host.keys.members(roomId)),
    );
    const members: RoomMember[] = [];
    for (const [peerId, text] of Object.entries(records)) {
      const r = decodeRecord(text);
      if (!r) continue;
      const m: RoomMember = { peerId, joinedAt: r.joinedAt, version: r.v === 2 ? 2 : 1 };
      if (typeof r.subject === 'string') m.subject = r.subject;
      if (r.detached === true) m.detached = true;
      members.push(m);
    }
    return members;
  }

  async commandPeer(roomId: string, peerId: string, command: RoomCommand): Promise<boolean> {
    const text = await this.host.op('api-member', () =>
      this.host.conn.commands.hget(this.host.keys.members(roomId), peerId),
    );
    const node = decodeRecord(text)?.node;
    if (node === undefined) return false;
    await this.sendToNode(node, { roomId, command });
    return true;
  }

  async commandRoom(roomId: string, command: RoomCommand): Promise<boolean> {
    const { keys, op, conn, serverId, codec } = this.host;
    if (command.op === 'message') {
      const size = await op('api-room', () => conn.commands.scard(keys.room(roomId)));
      if (size === 0) return false;
      this.host.local(roomId, command);
      const envelope = codec.encode({
        senderId: API_SENDER_ID,
        data: command.message,
        originServerId: serverId,
      });
      await op('api-publish', () => conn.publish([[keys.room(roomId), envelope]], true)[0]!);
      return true;
    }
    const records = await op('api-members', () => conn.commands.hvals(keys.members(roomId)));
    const nodes = new Set<string>();
    for (const text of records) {
      const node = decodeRecord(text)?.node;
      if (node) nodes.add(node); // '' : detached, held by no node
    }
    if (nodes.size === 0) return false;
    await Promise.all([...nodes].map((node) => this.sendToNode(node, { roomId, command })));
    return true;
  }

  private async sendToNode(node: string, message: NodeCommand): Promise<void> {
    const { serverId, keys, conn, op } = this.host;
    if (node === serverId) return this.host.local(message.roomId, message.command);
    const channel = keys.nodeChannel(node);
    const receivers = await op(
      'api-publish',
      () => conn.publish([[channel, JSON.stringify(message)]], true)[0]!,
    );
    // Nobody listens on a dead node's channel: its members stay until they are reaped.
    if (receivers === 0) this.host.onUnreachable(node, message.roomId);
  }

  /** A node channel's payload, validated (Redis is trusted, but garbage must not crash a node). */
  decodeNodeCommand(payload: string): NodeCommand | undefined {
    let v: unknown;
    try {
      v = JSON.parse(payload);
    } catch {
      return undefined;
    }
    const { roomId, command } = (v ?? {}) as { roomId?: unknown; command?: unknown };
    if (!isValidRoomId(roomId, this.host.roomIdMaxLength)) return undefined;
    const cmd = (command ?? {}) as Record<string, unknown>;
    if (cmd.op === 'remove') {
      if (cmd.peerId !== undefined && typeof cmd.peerId !== 'string') return undefined;
      return {
        roomId,
        command: cmd.peerId === undefined ? { op: 'remove' } : { op: 'remove', peerId: cmd.peerId },
      };
    }
    if (cmd.op === 'message') {
      const parsed = validateMessage(cmd.message);
      if (parsed.kind !== 'ok' || (cmd.to !== undefined && typeof cmd.to !== 'string'))
        return undefined;
      const out: RoomCommand = { op: 'message', message: parsed.message };
      if (cmd.to !== undefined) out.to = cmd.to;
      return { roomId, command: out };
    }
    return undefined;
  }

  /** The Redis servers to SCAN: the one, or every master of a Cluster in a stable order. */
  private masters(): Redis[] {
    const { conn } = this.host;
    if (!conn.cluster) return [conn.commands as Redis];
    const nodes = (conn.commands as Cluster).nodes('master');
    const name = (r: Redis) => `${r.options.host}:${r.options.port}`;
    return nodes.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  }
}

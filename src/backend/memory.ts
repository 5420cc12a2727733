/**
 * In-memory backend: one process, no dependencies. Several servers in one process can share a
 * MemoryStore (how the contract suite runs two "nodes" on it), which also makes it a reference
 * for the semantics the Redis backend must match.
 */
import { randomUUID } from 'node:crypto';
import {
  API_SENDER_ID,
  type Backend,
  type BackendHandler,
  type Envelope,
  type JoinResult,
  type MemberInfo,
  type RoomCommand,
  type RoomListQuery,
  type RoomMember,
  type RoomPage,
} from './backend.js';
import { decodeMemoryCursor, encodeCursor } from './room-cursor.js';
import { RoomSequence } from './room-sequence.js';

/** Entries a room-listing page looks at, at most (bounded work per API call). */
const LIST_BUDGET = 10_000;

interface StoredMember extends MemberInfo {
  readonly joinedAt: number;
  /** The node the member is connected to. */
  readonly node: MemoryBackend;
}

export class MemoryStore {
  readonly rooms = new Map<string, Map<string, StoredMember>>();
  readonly subscribers = new Map<string, Set<MemoryBackend>>();
  readonly sequence = new RoomSequence();
}

export class MemoryBackend implements Backend {
  readonly kind = 'memory' as const;
  readonly serverId: string;
  private handler: BackendHandler | undefined;
  private closed = false;

  constructor(private readonly store: MemoryStore = new MemoryStore()) {
    this.serverId = `server:${randomUUID()}`;
  }

  get circuitOpen(): boolean {
    return false;
  }

  async start(handler: BackendHandler): Promise<void> {
    this.handler = handler;
  }

  async join(
    roomId: string,
    clientId: string,
    capacity: number,
    info: MemberInfo = { version: 1 },
  ): Promise<JoinResult> {
    let members = this.store.rooms.get(roomId);
    if (members?.has(clientId)) return { ok: true, members: [...members.keys()] };
    if (members && members.size >= capacity) return { ok: false, reason: 'full' };
    if (!members) {
      this.store.rooms.set(roomId, (members = new Map()));
      this.store.sequence.add(roomId);
    }
    members.set(clientId, { ...info, joinedAt: Date.now(), node: this });
    return { ok: true, members: [...members.keys()] };
  }

  async leave(roomId: string, clientId: string): Promise<void> {
    const members = this.store.rooms.get(roomId);
    if (!members) return;
    members.delete(clientId);
    if (members.size === 0) {
      this.store.rooms.delete(roomId);
      this.store.sequence.delete(roomId);
    }
  }

  async members(roomId: string): Promise<string[]> {
    return [...(this.store.rooms.get(roomId)?.keys() ?? [])];
  }

  knowsPeer(roomId: string, peerId: string): boolean {
    return this.store.rooms.get(roomId)?.has(peerId) ?? false;
  }

  // ---- server API ------------------------------------------------------------------------

  async listRooms(query: RoomListQuery): Promise<RoomPage> {
    const after = query.cursor === undefined ? 0 : decodeMemoryCursor(query.cursor).s;
    const page = this.store.sequence.page(query.prefix, query.limit, after, LIST_BUDGET);
    return {
      rooms: page.roomIds.map((roomId) => ({
        roomId,
        members: this.store.rooms.get(roomId)?.size ?? 0,
      })),
      cursor: page.next === undefined ? null : encodeCursor({ s: page.next }),
    };
  }

  async roomMembers(roomId: string): Promise<RoomMember[]> {
    const members = this.store.rooms.get(roomId);
    if (!members) return [];
    return [...members].map(([peerId, m]) => {
      const member: RoomMember = { peerId, joinedAt: m.joinedAt, version: m.version };
      if (m.subject !== undefined) member.subject = m.subject;
      return member;
    });
  }

  async commandPeer(roomId: string, peerId: string, command: RoomCommand): Promise<boolean> {
    const member = this.store.rooms.get(roomId)?.get(peerId);
    if (!member) return false;
    member.node.handler?.onCommand?.(roomId, command);
    return true;
  }

  async commandRoom(roomId: string, command: RoomCommand): Promise<boolean> {
    const members = this.store.rooms.get(roomId);
    if (!members) return false;
    if (command.op === 'message') {
      this.handler?.onCommand?.(roomId, command);
      this.publish(roomId, {
        senderId: API_SENDER_ID,
        data: command.message,
        originServerId: this.serverId,
      });
      return true;
    }
    const nodes = new Set<MemoryBackend>();
    for (const { node } of members.values()) nodes.add(node);
    for (const node of nodes) node.handler?.onCommand?.(roomId, command);
    return true;
  }

  // ---- pub/sub ---------------------------------------------------------------------------

  subscribe(roomId: string): void {
    let subs = this.store.subscribers.get(roomId);
    if (!subs) this.store.subscribers.set(roomId, (subs = new Set()));
    subs.add(this);
  }

  unsubscribe(roomId: string): void {
    const subs = this.store.subscribers.get(roomId);
    if (!subs) return;
    subs.delete(this);
    if (subs.size === 0) this.store.subscribers.delete(roomId);
  }

  publish(roomId: string, envelope: Envelope): void {
    const subs = this.store.subscribers.get(roomId);
    if (!subs || subs.size === 0 || (subs.size === 1 && subs.has(this))) return;
    // Deliver asynchronously, like a real transport: the publisher never re-enters itself.
    queueMicrotask(() => {
      for (const node of subs) if (node !== this) node.handler?.onEnvelope(roomId, envelope);
    });
  }

  async ping(): Promise<boolean> {
    return !this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [roomId, subs] of this.store.subscribers) {
      subs.delete(this);
      if (subs.size === 0) this.store.subscribers.delete(roomId);
    }
  }
}

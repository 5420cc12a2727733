/**
 * In-memory backend: one process, no dependencies. Several servers in one process can share a
 * MemoryStore (how the contract suite runs two "nodes" on it), which also makes it a reference
 * for the semantics the Redis backend must match.
 */
import { randomUUID } from 'node:crypto';
import type { Backend, BackendHandler, Envelope, JoinResult, LeaveResult } from './backend.js';

export class MemoryStore {
  readonly rooms = new Map<string, Set<string>>();
  readonly subscribers = new Map<string, Set<MemoryBackend>>();
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

  async join(roomId: string, clientId: string, capacity: number): Promise<JoinResult> {
    let members = this.store.rooms.get(roomId);
    if (members?.has(clientId)) return { ok: true, members: [...members], roomStarted: false };
    if (members && members.size >= capacity) return { ok: false, reason: 'full' };
    const roomStarted = !members;
    if (!members) this.store.rooms.set(roomId, (members = new Set()));
    members.add(clientId);
    return { ok: true, members: [...members], roomStarted };
  }

  async leave(roomId: string, clientId: string): Promise<LeaveResult> {
    const members = this.store.rooms.get(roomId);
    if (!members?.delete(clientId)) return { removed: false, roomFinished: false };
    if (members.size > 0) return { removed: true, roomFinished: false };
    this.store.rooms.delete(roomId);
    return { removed: true, roomFinished: true };
  }

  async members(roomId: string): Promise<string[]> {
    return [...(this.store.rooms.get(roomId) ?? [])];
  }

  knowsPeer(roomId: string, peerId: string): boolean {
    return this.store.rooms.get(roomId)?.has(peerId) ?? false;
  }

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

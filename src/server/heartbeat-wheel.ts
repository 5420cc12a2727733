/**
 * The connections of a server, spread over the slots of a heartbeat wheel (SPEC.md §3).
 *
 * One sweep pinging every connection at once is one burst of a write per socket: 1,000 writes
 * (100,000 on a big node) in one tick, during which no other socket of the node is served. Each
 * connection is given a slot when it is added, round robin; the server's one heartbeat timer
 * ticks SLOTS times per interval and serves one slot per tick. So every connection is still
 * pinged once per HEARTBEAT_INTERVAL_MS, exactly that far apart, and terminated at the ping
 * after one it did not answer; only the phase differs between connections.
 */
import type { Peer } from './peer.js';

/** Ticks per heartbeat interval, at most: one per second at the default 30 s. */
const MAX_SLOTS = 30;
/** No tick more often than this (short intervals in tests): fewer slots instead. */
const MIN_TICK_MS = 100;

export function heartbeatSlots(intervalMs: number): number {
  return Math.max(1, Math.min(MAX_SLOTS, Math.floor(intervalMs / MIN_TICK_MS)));
}

/** A Set of every connection, pending or admitted, that also keeps them in wheel slots. */
export class PeerRegistry extends Set<Peer> {
  private readonly slots: Set<Peer>[];
  private nextSlot = 0;
  private cursor = 0;

  constructor(readonly slotCount: number) {
    super();
    this.slots = Array.from({ length: slotCount }, () => new Set<Peer>());
  }

  override add(peer: Peer): this {
    if (!this.has(peer)) {
      const slot = this.nextSlot;
      this.nextSlot = (slot + 1) % this.slotCount;
      // On the peer, not in a WeakMap: an ephemeron entry per connection costs more memory.
      peer.heartbeatSlot = slot;
      this.slots[slot]!.add(peer);
    }
    return super.add(peer);
  }

  override delete(peer: Peer): boolean {
    const slot = peer.heartbeatSlot;
    if (slot !== undefined && this.slots[slot]!.delete(peer)) peer.heartbeatSlot = undefined;
    return super.delete(peer);
  }

  override clear(): void {
    for (const s of this.slots) s.clear();
    super.clear();
  }

  /** The connections of the next slot, in turn (a copy: the caller may remove some). */
  nextTick(): Peer[] {
    const slot = this.slots[this.cursor]!;
    this.cursor = (this.cursor + 1) % this.slotCount;
    return [...slot];
  }
}

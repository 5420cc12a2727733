/**
 * What one node knows, without asking Redis, about the members of its rooms on other nodes:
 * client id → server id of its node, per room this node subscribes. Fed by join results, by the
 * join/leave envelopes of the room channel, and by one reconciliation with Redis right after a
 * room's SUBSCRIBE is active. Used to route directed (v2 `to`) messages to the target's node
 * channel, to answer `unknown-peer` without a lookup, and to drop duplicate join announcements.
 * Pure bookkeeping, no I/O: redis.ts does the talking.
 */
import { API_SENDER_ID, type Envelope } from './backend.js';

export class RemoteMembers {
  private readonly rooms = new Map<string, Map<string, string>>();
  /** From join() of a room not subscribed yet (the hub subscribes right after admission). */
  private readonly staged = new Map<string, Map<string, string>>();
  /** Ids an envelope told about since the room's SUBSCRIBE: newer than a reconcile snapshot. */
  private readonly touched = new Map<string, Set<string>>();

  constructor(private readonly serverId: string) {}

  /** A join result: `flat` is {id1, server1, id2, server2, ...} (join.lua). Returns the ids. */
  joined(roomId: string, flat: string[]): string[] {
    let owners = this.rooms.get(roomId) ?? this.staged.get(roomId);
    if (!owners) this.staged.set(roomId, (owners = new Map()));
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const id = flat[i]!;
      const owner = flat[i + 1]!;
      ids.push(id);
      if (owner !== this.serverId && owner !== '') owners.set(id, owner);
    }
    return ids;
  }

  /** A local client left: a room never subscribed (admission undone) drops its staged owners. */
  left(roomId: string): void {
    if (!this.rooms.has(roomId)) this.staged.delete(roomId);
  }

  subscribed(roomId: string): void {
    this.rooms.set(roomId, this.staged.get(roomId) ?? new Map());
    this.staged.delete(roomId);
    this.touched.set(roomId, new Set());
  }

  unsubscribed(roomId: string): void {
    this.rooms.delete(roomId);
    this.touched.delete(roomId);
  }

  knows(roomId: string, clientId: string): boolean {
    return this.rooms.get(roomId)?.has(clientId) ?? false;
  }

  ownerOf(roomId: string, clientId: string): string | undefined {
    return this.rooms.get(roomId)?.get(clientId);
  }

  /** A member reaped by this node. */
  forget(roomId: string, clientId: string): void {
    this.rooms.get(roomId)?.delete(clientId);
  }

  /** An envelope from another node; false for a join already known (a duplicate to drop). */
  track(roomId: string, envelope: Envelope): boolean {
    const owners = this.rooms.get(roomId);
    if (!owners) return true;
    const { senderId, originServerId } = envelope;
    this.touched.get(roomId)?.add(senderId);
    switch (envelope.event) {
      case 'leave':
        owners.delete(senderId);
        return true;
      case 'detach': // '': no node holds it; directed messages go to the room channel
        owners.set(senderId, '');
        return true;
      case 'resume':
        owners.set(senderId, originServerId);
        return true;
      case 'takeover':
        return true;
      case 'join':
        if (owners.get(senderId) === originServerId) return false;
        owners.set(senderId, originServerId);
        return true;
      default:
        // The server API is not a member (its messages come from whichever node was asked).
        if (!owners.has(senderId) && senderId !== API_SENDER_ID)
          owners.set(senderId, originServerId);
        return true;
    }
  }

  /**
   * Compare with the room's owners hash read after SUBSCRIBE became active: members that
   * joined or left on another node between this node's join script and its SUBSCRIBE were
   * announced while it was not listening. Ids an envelope told about since SUBSCRIBE may be
   * newer than the snapshot and are left alone. Returns what the local peers missed.
   * Only the first call after `subscribed` does anything.
   */
  reconcile(
    roomId: string,
    snapshot: Record<string, string> | undefined,
  ): { joined: [id: string, owner: string][]; left: string[] } {
    const result = { joined: [] as [string, string][], left: [] as string[] };
    const owners = this.rooms.get(roomId);
    const touched = this.touched.get(roomId);
    this.touched.delete(roomId);
    if (!owners || !touched || !snapshot) return result;
    for (const [id, owner] of Object.entries(snapshot)) {
      // '' is a detached member (SPEC.md §13): not news to the local peers, who never saw it go.
      if (owner === this.serverId || owner === '' || owners.has(id) || touched.has(id)) continue;
      owners.set(id, owner);
      result.joined.push([id, owner]);
    }
    for (const id of owners.keys()) {
      if (Object.hasOwn(snapshot, id) || touched.has(id)) continue;
      owners.delete(id);
      result.left.push(id);
    }
    return result;
  }
}

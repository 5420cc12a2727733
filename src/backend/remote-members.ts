/**
 * What one node knows, without asking Redis, about the members of its rooms on other nodes:
 * client id → server id of its node, per room this node subscribes. Fed by join results, by the
 * join/leave envelopes of the room channel, and by one reconciliation with Redis right after a
 * room's SUBSCRIBE is active. Used to route directed (v2 `to`) messages to the target's node
 * channel, to answer `unknown-peer` without a lookup, and to drop duplicate join announcements.
 * After a subscriber connection comes back from an outage (on a Cluster, any shard's), every
 * subscribed room is reconciled again: joins at once, leaves once later reads confirm them
 * (`reconcileAfterOutage`).
 * Pure bookkeeping, no I/O: redis.ts does the talking.
 */
import { API_SENDER_ID, type Envelope } from './backend.js';

/** Ids remembered per room as told gone by a reconciliation (see `reconciledGone`). */
const MAX_GONE = 1000;

export class RemoteMembers {
  private readonly rooms = new Map<string, Map<string, string>>();
  /** From join() of a room not subscribed yet (the hub subscribes right after admission). */
  private readonly staged = new Map<string, Map<string, string>>();
  /** Ids an envelope told about since the room's SUBSCRIBE (or resubscription): newer than a snapshot. */
  private readonly touched = new Map<string, Set<string>>();

  /**
   * Ids a reconciliation told gone, per room: the leave envelope may still come (published
   * after this node read the snapshot); it is then dropped, so peers hear one leave.
   */
  private readonly reconciledGone = new Map<string, Set<string>>();

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
    this.reconciledGone.delete(roomId);
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
    const gone = this.reconciledGone.size > 0 ? this.reconciledGone.get(roomId) : undefined;
    if (gone?.delete(senderId)) {
      if (gone.size === 0) this.reconciledGone.delete(roomId);
      if (envelope.event === 'leave' && !owners.has(senderId)) return false; // told already
    }
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
    const touched = this.touched.get(roomId);
    this.touched.delete(roomId);
    const joined = this.missedJoins(roomId, touched, snapshot);
    const left = this.absent(roomId, touched, snapshot);
    this.gone(roomId, left);
    return { joined, left };
  }

  /**
   * A subscriber connection came back (on a Cluster each room's subscription is confirmed
   * before its read): what was published while it was away is lost. Starts a new window of
   * told-about ids per room and returns the rooms to reconcile (`reconcileAfterOutage`, then
   * `stillAbsent` and `gone`).
   */
  resubscribed(): string[] {
    for (const roomId of this.rooms.keys()) this.touched.set(roomId, new Set());
    return [...this.rooms.keys()];
  }

  /**
   * After a subscriber outage: the joins missed, at once; the members absent from the snapshot
   * only as suspects, with their node. A Redis that restarted without its data lacks every
   * member until its node registers it again, so redis-pubsub.ts tells one gone only when later
   * reads agree (see `RoomChannels.resubscribed`). A detached member (node '') is left to the
   * resume sweep, which ends it whatever became of its session.
   */
  reconcileAfterOutage(
    roomId: string,
    snapshot: Record<string, string> | undefined,
  ): { joined: [id: string, owner: string][]; suspects: [id: string, owner: string][] } {
    const touched = this.touched.get(roomId);
    const joined = this.missedJoins(roomId, touched, snapshot);
    const suspects: [string, string][] = [];
    const owners = this.rooms.get(roomId);
    for (const id of this.absent(roomId, touched, snapshot)) {
      const owner = owners?.get(id);
      if (owner) suspects.push([id, owner]);
    }
    if (suspects.length === 0) this.touched.delete(roomId);
    return { joined, suspects };
  }

  /** Of `ids`, those still members here, absent from the snapshot, not told about since. */
  stillAbsent(roomId: string, snapshot: Record<string, string>, ids: Iterable<string>): string[] {
    const asked = new Set(ids);
    return this.absent(roomId, this.touched.get(roomId), snapshot).filter((id) => asked.has(id));
  }

  /** The outage's reconciliation of the room is over: envelopes no longer need noting. */
  settled(roomId: string): void {
    this.touched.delete(roomId);
  }

  /** Reconciliation told these members gone (a later leave of theirs is then dropped). */
  gone(roomId: string, ids: string[]): void {
    const owners = this.rooms.get(roomId);
    if (!owners || ids.length === 0) return;
    let gone = this.reconciledGone.get(roomId);
    if (!gone) this.reconciledGone.set(roomId, (gone = new Set()));
    for (const id of ids) {
      owners.delete(id);
      gone.add(id);
      // Bounded: the oldest entries go first (their leave, if any, is long past).
      if (gone.size > MAX_GONE) gone.delete(gone.values().next().value!);
    }
  }

  /** Members of the snapshot the map lacks (learned now), unless an envelope told since. */
  private missedJoins(
    roomId: string,
    touched: Set<string> | undefined,
    snapshot: Record<string, string> | undefined,
  ): [id: string, owner: string][] {
    const owners = this.rooms.get(roomId);
    const joined: [string, string][] = [];
    if (!owners || !touched || !snapshot) return joined;
    for (const [id, owner] of Object.entries(snapshot)) {
      // '' is a detached member (SPEC.md §13): not news to the local peers, who never saw it go.
      if (owner === this.serverId || owner === '' || owners.has(id) || touched.has(id)) continue;
      owners.set(id, owner);
      joined.push([id, owner]);
    }
    return joined;
  }

  /** Members of the map the snapshot lacks, unless an envelope told since. */
  private absent(
    roomId: string,
    touched: Set<string> | undefined,
    snapshot: Record<string, string> | undefined,
  ): string[] {
    const owners = this.rooms.get(roomId);
    if (!owners || !touched || !snapshot) return [];
    const ids: string[] = [];
    for (const id of owners.keys())
      if (!Object.hasOwn(snapshot, id) && !touched.has(id)) ids.push(id);
    return ids;
  }
}

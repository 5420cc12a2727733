/**
 * The backend contract: what a node needs from the thing that shares rooms between nodes.
 * `memory` (one process, no dependencies) and `redis` (many processes) implement it; the same
 * behavioural suite (test/backend-contract.ts) runs against both.
 *
 * The local room index (which sockets of this node are in which room) is NOT the backend's: it
 * lives in server/room-hub.ts. The backend holds cluster-wide membership and moves envelopes
 * between nodes. The redis backend also keeps, per member, a record (member-record.ts: node,
 * joinedAt, protocol version, subject) and detects dead nodes by a lease per node: a member
 * stays registered for as long as its node is alive and has not called `leave` for it, whether
 * or not it still has a socket (so a detached member is simply one not left yet). Cluster-wide
 * reads for a server API go straight to the Redis layout (README.md, "Key and channel
 * layout"): rooms are the sets `P room:*` (`SCAN … TYPE set`, cursor-paged), a room's members
 * with their records one `HGETALL {P room:ROOM}:members`.
 */
import type { SignalMessage } from '../protocol/message.js';

/**
 * What travels between nodes on a room's channel (SPEC.md §5):
 * `{"senderId":ID,"data":MESSAGE,"originServerId":SERVER_ID}`, or a JSON array of them (the
 * envelopes one node published for one room in one event-loop turn, in order).
 * `event` tells membership events from messages; `to` marks a directed (v2) message.
 */
export interface Envelope {
  senderId: string;
  data: SignalMessage | { type: 'peer-disconnected' };
  originServerId: string;
  /** 'join': data is the v2 peer-joined control (v1 receivers skip it); 'leave': data is peer-disconnected. */
  event?: 'join' | 'leave';
  /** Directed message: only this peer receives it. */
  to?: string;
}

export type JoinResult =
  | {
      ok: true;
      /** Every member of the room after the join, the joiner included. */ members: string[];
    }
  | { ok: false; reason: 'full' };

export interface BackendHandler {
  /**
   * An envelope from another node for a room this node subscribes to, or a leave event the
   * backend produced itself (a crashed node's member reaped). Called synchronously from the
   * backend's receive path; must not throw.
   */
  onEnvelope(roomId: string, envelope: Envelope): void;
}

/** What is recorded with a member (redis: in its member record; memory keeps none). */
export interface MemberInfo {
  /** Protocol version of the member's connection. */
  version: 1 | 2;
  /** With auth on: the token's `sub`. */
  subject?: string;
}

export interface Backend {
  readonly kind: 'memory' | 'redis';
  /** Unique per process; stamped as originServerId on every envelope this node publishes. */
  readonly serverId: string;

  /**
   * Connect and start background work (subscriptions, the node lease). Rejects if it cannot
   * start. Background Redis traffic is one lease call per node per NODE_LEASE_MS / 3, whatever
   * the number of rooms and members; the members this node joined and has not left are
   * re-registered by the backend itself if Redis loses them.
   */
  start(handler: BackendHandler): Promise<void>;

  /**
   * Add clientId to roomId if the room has fewer than `capacity` members. Atomic across all
   * nodes: of N concurrent joins racing for the last place, exactly one succeeds.
   * Idempotent for a clientId already in the room. Rejects on backend failure. `info` is
   * recorded with the member (default: version 1, no subject).
   */
  join(roomId: string, clientId: string, capacity: number, info?: MemberInfo): Promise<JoinResult>;

  /** Remove clientId from roomId (an empty room is deleted). Idempotent. Rejects on failure. */
  leave(roomId: string, clientId: string): Promise<void>;

  /** Current members of the room across all nodes. */
  members(roomId: string): Promise<string[]>;

  /**
   * Whether peerId is known, without a round trip, to be a member of roomId on another node
   * (so a directed v2 message to it is published, not answered `unknown-peer`). Meaningful for
   * rooms this node subscribes; may briefly lag a remote join or leave.
   */
  knowsPeer(roomId: string, peerId: string): boolean;

  /**
   * Start receiving envelopes of roomId. Called by the hub when the room gets its first local
   * member; `unsubscribe` when it loses its last. A node receives nothing for rooms it has not
   * subscribed. Calls for one room are applied in call order.
   */
  subscribe(roomId: string): void;
  unsubscribe(roomId: string): void;

  /**
   * Send an envelope to every other node subscribed to roomId (with `to`: only the target's
   * node needs to act on it), at most once each, in publish order per sender. Fire and forget:
   * never awaited on the hot path; failures are counted, never thrown. Not delivered back to
   * this node. The redis backend sends the envelopes of one event-loop turn together (one
   * PUBLISH per room and channel) when the turn's I/O is done.
   */
  publish(roomId: string, envelope: Envelope): void;

  /**
   * Cluster-wide counters for the per-IP and per-room message limits (SPEC.md §6): add this
   * node's `deltas` for the window starting at `windowStart` and resolve to the totals of all
   * nodes (for those keys only: callers pass the keys that saw traffic since their last sync).
   * Absent on backends that are single-node (memory).
   */
  syncCounters?(windowStart: number, deltas: Map<string, number>): Promise<Map<string, number>>;

  /** Circuit breaker state (SPEC.md §7); always false for memory. */
  readonly circuitOpen: boolean;

  /** true while the backend can serve (Redis answers PING). Used by /readyz. */
  ping(): Promise<boolean>;

  /** Stop background work and disconnect. Idempotent. */
  close(): Promise<void>;
}

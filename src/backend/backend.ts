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

/** What is recorded with a member when it joins (SPEC.md §14 `GET /api/v1/rooms/ROOM`). */
export interface MemberInfo {
  /** Protocol version of the member's connection. */
  version: 1 | 2;
  /** With auth on: the token's `sub`. */
  subject?: string | undefined;
}

/** A member as the server API lists it: its info and when it joined (the backend's record). */
export interface RoomMember extends MemberInfo {
  peerId: string;
  /** When it joined, ms since the epoch (the clock of the node it joined through). */
  joinedAt: number;
}

/** One page of the cluster's rooms (SPEC.md §14 `GET /api/v1/rooms`). */
export interface RoomPage {
  rooms: { roomId: string; members: number }[];
  /** Opaque; pass it back for the next page. null when the listing is complete. */
  cursor: string | null;
}

export interface RoomListQuery {
  /** Only rooms whose id starts with this (a valid room id prefix, or ''). */
  prefix: string;
  /** At most this many rooms in the page (1..1000). */
  limit: number;
  /** From the previous page; undefined for the first. */
  cursor: string | undefined;
}

/**
 * An order of the server API (SPEC.md §14) for the node(s) holding members of a room: deliver a
 * message as from peer id `server` (to one member, or to every member but none twice), or
 * close a member (or every member) with 4001 "Removed".
 */
export type RoomCommand =
  { op: 'message'; message: SignalMessage; to?: string } | { op: 'remove'; peerId?: string };

/** The sender id of the server API's messages (v2 receivers see `"from":"server"`). */
export const API_SENDER_ID = 'server';

/** A cursor the backend cannot read (tampered, from another backend, or from an older version). */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
    this.name = 'InvalidCursorError';
  }
}

export interface BackendHandler {
  /**
   * An envelope from another node for a room this node subscribes to, or a leave event the
   * backend produced itself (a crashed node's member reaped). Called synchronously from the
   * backend's receive path; must not throw.
   */
  onEnvelope(roomId: string, envelope: Envelope): void;
  /**
   * A RoomCommand for this node's members of roomId (from commandPeer / commandRoom, on this
   * node or another). Acts on local members only; a member not (or no longer) here is ignored.
   * Called synchronously from the receive path; must not throw.
   */
  onCommand?(roomId: string, command: RoomCommand): void;
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
   * recorded with the member, with the time of the join (default: version 1, no subject).
   */
  join(roomId: string, clientId: string, capacity: number, info?: MemberInfo): Promise<JoinResult>;

  /** Remove clientId from roomId (an empty room is deleted). Idempotent. Rejects on failure. */
  leave(roomId: string, clientId: string): Promise<void>;

  /** Current members of the room across all nodes. */
  members(roomId: string): Promise<string[]>;

  // ---- server API (SPEC.md §14): never on the hot path; each call is a few round trips ------

  /**
   * One page of the cluster's rooms whose id starts with `prefix`, with member counts.
   * Cursor guarantee (that of Redis SCAN): a room that exists, with a matching id, from the
   * first page to the last is listed at least once; a room created or deleted meanwhile may or
   * may not be. Work per call is bounded whatever the number of rooms, so a page can hold fewer
   * than `limit` rooms (even none) while `cursor` is not null; the listing ends at null.
   * Rejects with InvalidCursorError for a cursor it did not produce.
   */
  listRooms(query: RoomListQuery): Promise<RoomPage>;

  /** Members of the room across all nodes with their meta, in no particular order; [] when empty. */
  roomMembers(roomId: string): Promise<RoomMember[]>;

  /**
   * Hand `command` to the node that holds peerId in roomId, on that node's own channel (no
   * other node receives it); to this node's handler when it is the holder. Resolves false when
   * peerId is not a member of roomId, true once the command is handed over (delivery to a node
   * that dies meanwhile is not retried: its members are reaped with its lease).
   */
  commandPeer(roomId: string, peerId: string, command: RoomCommand): Promise<boolean>;

  /**
   * Hand `command` to every node with members in roomId, once each; resolves false when the
   * room has no members. A removal reaches each such node's `onCommand` (on its node channel).
   * A message reaches this node's `onCommand` and, on the room's channel, the other nodes'
   * `onEnvelope` as an ordinary envelope from API_SENDER_ID, which they deliver like any other
   * (so a node of an older version delivers it too).
   */
  commandRoom(roomId: string, command: RoomCommand): Promise<boolean>;

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

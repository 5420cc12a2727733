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
  /**
   * 'join': data is the v2 peer-joined control (v1 receivers skip it); 'leave': data is
   * peer-disconnected; 'detach' / 'resume': senderId's connection was lost and is kept for
   * resume (SPEC.md §13) / came back on the publishing node; 'takeover': a resume asks the
   * node holding senderId's connection (half-open) to detach it, if its token hash is `hash`.
   * Peers see nothing of these three; nodes use them to know whom to keep messages for.
   */
  event?: 'join' | 'leave' | 'detach' | 'resume' | 'takeover';
  /** 'takeover': SHA-256 of the resume token presented. */
  hash?: string;
  /** Directed message: only this peer receives it. */
  to?: string;
  /**
   * Per-node sequence number of a message: with originServerId it identifies the message, so
   * a resuming node delivers a kept message once even when it also heard it live.
   */
  seq?: number;
  /** Detached peers the origin appended this message to the mailbox of (SPEC.md §13). */
  kept?: string[];
  /** 'detach': when the window ends, ms since epoch (the detaching node's clock). */
  deadline?: number;
}

/** A detached peer of a room, as a join result reports it. */
export interface DetachedMember {
  peerId: string;
  /** Window end, ms since epoch. */
  deadline: number;
}

/**
 * The outcome of a resume claim (SPEC.md §13). `resumed`: the session was this room's, its window
 * was open and its mailbox within the cap; the peer is attached to the claiming node and the
 * session is gone (single use). Otherwise nothing changed except that an ended session's peer
 * is named (`peerId`) so the caller can end it with `expire`.
 */
export type ClaimResult =
  | {
      result: 'resumed';
      peerId: string;
      /** The kept envelopes (JSON), in append order. */
      mailbox: string[];
      /** Every member of the room, the resumed peer included. */
      members: string[];
      /** How long the peer was detached, ms. */
      detachedMs: number;
      /** The room's other detached members. */
      detached: DetachedMember[];
    }
  | {
      result: 'unknown';
      /** The named peer is attached (its connection may be half-open) to this node. */
      attachedTo?: string;
    }
  | { result: 'expired' | 'overflow'; peerId: string }
  /** Detached less than `graceMs` ago: nothing changed; claim again after `waitMs`. */
  | { result: 'early'; peerId: string; waitMs: number };

/**
 * `ended`: this call ended the session (the caller announces the leave, once cluster-wide);
 * `open`: its window has not ended (clocks differ: try later); `attached`: it was resumed;
 * `gone`: no trace of it (already ended by another node, or the backend lost its data).
 */
export type ExpireStatus = 'ended' | 'open' | 'attached' | 'gone';

/** What an expire changed, decided atomically with it (webhooks, SPEC.md §15). */
export interface ExpireResult {
  status: ExpireStatus;
  /** `ended` removed the room's last member: exactly one node sees it per room end. */
  roomFinished: boolean;
}

export type JoinResult =
  | {
      ok: true;
      /** Every member of the room after the join, the joiner included. */ members: string[];
      /** Members of those that are detached (SPEC.md §13). */
      detached: DetachedMember[];
      /**
       * This join took the room from no member to one, decided atomically with the join: of
       * all nodes exactly one sees it per start (webhook room.started, SPEC.md §15).
       */
      roomStarted: boolean;
    }
  | { ok: false; reason: 'full' };

/** What a leave changed, decided atomically with it (webhooks, SPEC.md §15). */
export interface LeaveResult {
  /** The client was a member (false: already gone, e.g. reaped or left twice). */
  removed: boolean;
  /** This leave removed the room's last member: exactly one node sees it per room end. */
  roomFinished: boolean;
}

/**
 * Why a member left, kept with a leave the backend retries later (its script failed), so the
 * retry can be reported as the original leave would have been (webhooks, SPEC.md §15).
 */
export interface LeaveNote {
  cause: string;
  subject?: string;
}

/** A member the backend removed because its node stopped refreshing (crashed). */
export interface ReapedMember {
  peerId: string;
  /** Server id of the node it was connected to. */
  serverId: string;
}

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
  /** Detached (SPEC.md §13): its connection is gone and it may still resume. */
  detached?: boolean;
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
  /**
   * Members of another (crashed) node that THIS node removed from roomId; `roomFinished` when
   * that removal left the room empty. Reaping is atomic, so of all nodes exactly one reports
   * each member (webhook peer.left cause `reaped`, room.finished). Must not throw.
   */
  onMembersReaped?(roomId: string, reaped: ReapedMember[], roomFinished: boolean): void;
  /**
   * A leave whose script had failed (its `leave` call rejected) was retried by this node and
   * succeeded: `note` as given to `leave`, `result` decided atomically by the retry (so a
   * member reaped meanwhile is not reported twice). Must not throw.
   */
  onLeaveRetried?(roomId: string, clientId: string, note: LeaveNote, result: LeaveResult): void;
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

  /**
   * Remove clientId from roomId (an empty room is deleted). Idempotent: only the call that
   * removed the member reports `removed`. Rejects on failure; a backend that then retries
   * the leave itself (redis) reports the retry to `onLeaveRetried` with `note`.
   */
  leave(roomId: string, clientId: string, note?: LeaveNote): Promise<LeaveResult>;

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
   * room has no members. A removal reaches each such node's `onCommand` (on its node channel);
   * detached members have no node (the API ends them with `expire(…, now)`, resume.ts), so a
   * removal in a room of detached members only resolves false.
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
   * subscribed. Calls for one room are applied in call order. The promise resolves once
   * envelopes published from then on are received (never rejects; callers may ignore it).
   */
  subscribe(roomId: string): Promise<void>;
  unsubscribe(roomId: string): void;

  /**
   * Send an envelope to every other node subscribed to roomId (with `to`: only the target's
   * node needs to act on it), at most once each, in publish order per sender. Fire and forget:
   * never awaited on the hot path; failures are counted, never thrown. Not delivered back to
   * this node. The redis backend sends the envelopes of one event-loop turn together (one
   * PUBLISH per room and channel) when the turn's I/O is done.
   */
  /**
   * `dataJson`: the sender's own text of `envelope.data` when it is exactly that message (the
   * hot path's pristine frame), so the envelope is encoded without serializing the data again.
   */
  publish(roomId: string, envelope: Envelope, dataJson?: string): void;

  /**
   * Cluster-wide counters for the per-IP and per-room message limits (SPEC.md §6): add this
   * node's `deltas` for the window starting at `windowStart` and resolve to the totals of all
   * nodes (for those keys only: callers pass the keys that saw traffic since their last sync).
   * Absent on backends that are single-node (memory).
   */
  syncCounters?(windowStart: number, deltas: Map<string, number>): Promise<Map<string, number>>;

  // ---- resume (SPEC.md §13) -------------------------------------------------------------
  // A detached peer stays a member (it holds its place); the session record maps the hash of its
  // resume token to it; its mailbox keeps what the room sends it. Everything of a session lives
  // with its room (one hash slot with Redis), so each step below is one atomic script.

  /**
   * Whether sessions outlive this process (another node can resume them). false for memory:
   * a drain then ends peers as leaves, since nothing would be left to resume from.
   */
  readonly sharedSessions: boolean;

  /**
   * Mark peerId of roomId detached for windowMs under the session `tokenHash`, with an empty
   * mailbox capped at mailboxBytes. Atomic. Resolves to the window end (ms since epoch).
   * Rejects on backend failure (the caller then ends the peer as a leave).
   */
  detach(
    roomId: string,
    peerId: string,
    tokenHash: string,
    windowMs: number,
    mailboxBytes: number,
  ): Promise<number>;

  /**
   * Append `payload` (an envelope's JSON) to the mailbox of each of peerIds still detached, in
   * call order with this node's publishes: issued before the publish of the same envelope, it
   * reaches the backend first. A peer whose mailbox would pass its cap is marked overflowed
   * (its mailbox dropped); `onOverflow` names it once, so the caller can end it.
   * Fire and forget: never awaited on the hot path; failures are counted, never thrown.
   */
  keep(
    roomId: string,
    peerIds: readonly string[],
    payload: string,
    onOverflow: (peerId: string) => void,
  ): void;

  /**
   * Take the session of `tokenHash` in roomId, atomically and once: of two claims of one token
   * at most one resumes. A session detached less than `graceMs` ago is left alone (`early`), so
   * that copies relayed by the detaching node (resume.ts) land in the mailbox first.
   * Rejects on backend failure.
   */
  claim(
    roomId: string,
    tokenHash: string,
    graceMs: number,
    namedPeer?: string,
  ): Promise<ClaimResult>;

  /**
   * End peerId's detached session if its window has ended or its mailbox overflowed (with
   * `now`, whatever its window: the server API removes it): the peer stops being a member.
   * Atomic, so of several nodes trying only one gets `ended` (and announces the leave), and
   * `roomFinished` when that removed the room's last member. Rejects on backend failure.
   */
  expire(roomId: string, peerId: string, now?: boolean): Promise<ExpireResult>;

  /** Circuit breaker state (SPEC.md §7); always false for memory. */
  readonly circuitOpen: boolean;

  /** true while the backend can serve (Redis answers PING). Used by /readyz. */
  ping(): Promise<boolean>;

  /** Stop background work and disconnect. Idempotent. */
  close(): Promise<void>;
}

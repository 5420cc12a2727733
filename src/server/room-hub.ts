/**
 * The local room index: roomId → the peers of this node in that room, and the fanout to them.
 * The only place that knows which sockets share a room. The backend is told when a room gets
 * its first local member (subscribe) and loses its last (unsubscribe), after the socket.io
 * sharded adapter: a node hears only the rooms it has members in.
 */
import type { Backend, Envelope } from '../backend/backend.js';
import type { Metrics } from '../metrics.js';
import {
  PEER_DISCONNECTED_V1,
  peerDisconnectedV2,
  withFrom,
  type SignalMessage,
} from '../protocol/message.js';
import type { Peer } from './peer.js';
import type { RoomResume } from './resume-state.js';

export interface LocalRoom {
  readonly id: string;
  readonly peers: Map<string, Peer>;
  /** Members speaking protocol v2 (so v2 serialization is skipped when there are none). */
  v2: number;
  /**
   * Detached peers and resumes in progress (SPEC.md §13), only while there are any: a room
   * without them pays one field check per message. Keeps the room (and its subscription)
   * alive without local members, so the node hears what to keep for its detached peers.
   */
  resume: RoomResume | undefined;
}

/** What the hub hands to resume.ts for rooms with detached peers or resumes in progress. */
export interface ResumeHooks {
  /** An envelope from another node; true when it was a resume event the peers must not see. */
  onEnvelope(room: LocalRoom, envelope: Envelope): boolean;
}

export class RoomHub {
  readonly rooms = new Map<string, LocalRoom>();
  resumeHooks: ResumeHooks | undefined;

  constructor(
    private readonly backend: Backend,
    private readonly metrics: Metrics,
  ) {}

  get(roomId: string): LocalRoom | undefined {
    return this.rooms.get(roomId);
  }

  /** The room, created (and subscribed) if this node has nothing of it yet. */
  ensure(roomId: string): LocalRoom {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = { id: roomId, peers: new Map(), v2: 0, resume: undefined };
      this.rooms.set(room.id, room);
      this.metrics.localRooms.set(this.rooms.size);
      void this.backend.subscribe(room.id);
    }
    return room;
  }

  add(peer: Peer): LocalRoom {
    const room = this.ensure(peer.roomId);
    room.peers.set(peer.id, peer);
    if (peer.version === 2) room.v2++;
    return room;
  }

  /** Remove peer; returns the room if it still has local members. */
  remove(peer: Peer): LocalRoom | undefined {
    const room = this.rooms.get(peer.roomId);
    if (!room || room.peers.get(peer.id) !== peer) return undefined;
    room.peers.delete(peer.id);
    if (peer.version === 2) room.v2--;
    if (room.peers.size > 0 || room.resume !== undefined) return room;
    this.drop(room);
    return undefined;
  }

  /** Drop a room that has nothing left here (no members, no detached peers, no resumes). */
  release(room: LocalRoom): void {
    if (room.resume?.empty) room.resume = undefined;
    if (room.peers.size === 0 && room.resume === undefined && this.rooms.get(room.id) === room)
      this.drop(room);
  }

  private drop(room: LocalRoom): void {
    this.rooms.delete(room.id);
    this.metrics.localRooms.set(this.rooms.size);
    this.backend.unsubscribe(room.id);
  }

  /**
   * Deliver a message from senderId to every local member of the room except the sender (or to
   * `to` only). Serializes at most once per protocol version and shares the buffer between
   * receivers. `raw` is the sender's own frame when it can be forwarded unchanged.
   * Returns the number of local receivers.
   */
  deliver(
    room: LocalRoom,
    senderId: string,
    message: SignalMessage,
    raw: Buffer | undefined,
    to: string | undefined,
  ): number {
    if (to !== undefined) {
      const target = room.peers.get(to);
      if (!target || target.id === senderId) return 0;
      target.send(
        target.version === 2
          ? Buffer.from(withFrom(message, senderId))
          : (raw ?? Buffer.from(JSON.stringify(message))),
      );
      return 1;
    }
    let v1: Buffer | undefined = raw;
    let v2: Buffer | undefined;
    let n = 0;
    for (const peer of room.peers.values()) {
      if (peer.id === senderId) continue;
      if (peer.version === 2) peer.send((v2 ??= Buffer.from(withFrom(message, senderId))));
      else peer.send((v1 ??= Buffer.from(JSON.stringify(message))));
      n++;
    }
    return n;
  }

  /**
   * An envelope from another node, to every local member it concerns except `except` (resumed
   * peers that already had it replayed, SPEC.md §13). Off the hot path: only rooms with resume
   * state come here.
   */
  deliverExcept(room: LocalRoom, envelope: Envelope, except: readonly string[]): void {
    const message = envelope.data as SignalMessage;
    if (envelope.to !== undefined) {
      if (!except.includes(envelope.to))
        this.deliver(room, envelope.senderId, message, undefined, envelope.to);
      return;
    }
    let v1: Buffer | undefined;
    let v2: Buffer | undefined;
    for (const peer of room.peers.values()) {
      if (peer.id === envelope.senderId || except.includes(peer.id)) continue;
      if (peer.version === 2) peer.send((v2 ??= Buffer.from(withFrom(message, envelope.senderId))));
      else peer.send((v1 ??= Buffer.from(JSON.stringify(message))));
    }
  }

  /** Tell the local members of a room that peerId left. */
  deliverLeave(room: LocalRoom, peerId: string): void {
    room.resume?.capture(leaveEvent(peerId));
    let v1: Buffer | undefined;
    let v2: Buffer | undefined;
    for (const peer of room.peers.values()) {
      if (peer.id === peerId) continue;
      if (peer.version === 2) peer.send((v2 ??= Buffer.from(peerDisconnectedV2(peerId))));
      else peer.send((v1 ??= Buffer.from(PEER_DISCONNECTED_V1)));
    }
  }

  /** Tell the local v2 members of a room that peerId joined. */
  deliverJoin(room: LocalRoom, peerId: string): void {
    room.resume?.capture(joinEvent(peerId));
    if (room.v2 === 0) return;
    let buf: Buffer | undefined;
    for (const peer of room.peers.values()) {
      if (peer.id === peerId || peer.version !== 2) continue;
      peer.send((buf ??= Buffer.from(peerJoined(peerId))));
    }
  }

  /** An envelope from another node (or a reaped member): deliver it to this node's members. */
  onEnvelope(roomId: string, envelope: Envelope): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    if (
      (room.resume !== undefined ||
        envelope.event === 'detach' ||
        envelope.event === 'takeover' ||
        envelope.event === 'leave') &&
      this.resumeHooks?.onEnvelope(room, envelope)
    )
      return;
    switch (envelope.event) {
      case 'leave':
        this.deliverLeave(room, envelope.senderId);
        return;
      case 'join':
        this.deliverJoin(room, envelope.senderId);
        return;
      case 'detach':
      case 'resume':
      case 'takeover':
        return; // for nodes, never for peers
      default:
        this.deliver(
          room,
          envelope.senderId,
          envelope.data as SignalMessage,
          undefined,
          envelope.to,
        );
    }
  }
}

/** Membership events as resumes in progress capture them (only the id and kind matter). */
function joinEvent(peerId: string): Envelope {
  return {
    senderId: peerId,
    data: { type: 'peer-disconnected' },
    originServerId: '',
    event: 'join',
  };
}

function leaveEvent(peerId: string): Envelope {
  return {
    senderId: peerId,
    data: { type: 'peer-disconnected' },
    originServerId: '',
    event: 'leave',
  };
}

export function peerJoined(peerId: string): string {
  return JSON.stringify({ type: 'control', action: 'peer-joined', payload: { peerId } });
}

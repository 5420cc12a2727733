/**
 * What one node knows about the detached peers of one of its rooms (SPEC.md §13), and the
 * resumes it runs there. A room carries this only while it has either: the hot path checks one
 * field (`LocalRoom.resume`) and rooms without detached peers pay nothing else.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Envelope } from '../backend/backend.js';

export interface DetachedPeer {
  readonly peerId: string;
  /** Window end, ms since epoch (the detaching node's clock; the backend's is authoritative). */
  deadline: number;
  /** Detached from this node: it relays what other nodes did not keep for it. */
  readonly local: boolean;
  /** Its mailbox overflowed: end it at the next sweep, not at the deadline. */
  overflowed: boolean;
  /** An expire call is in flight. */
  expiring: boolean;
  /** When the backend first said it has no trace of it (lost data, or ended elsewhere). */
  goneSince: number | undefined;
}

/** A resume in progress on this node: what the room carried while the claim ran. */
export interface ResumeAttempt {
  readonly buffer: Envelope[];
  /** More than MAX_ATTEMPT_BUFFER arrived: the resume cannot be exact and becomes a leave. */
  full: boolean;
}

/** Envelopes a resume buffers during its claim (one Redis round trip); past it, it fails. */
export const MAX_ATTEMPT_BUFFER = 10_000;

/**
 * What a resumed peer was replayed, per origin node: the highest sequence number. The claim's
 * reply and a kept message's publish reach the resuming node on two connections, so a message
 * that was in the mailbox can still arrive live just after the replay; this drops it. An origin's
 * entry goes with its first newer message (they arrive in order), the whole filter after
 * REPLAY_FILTER_MS.
 */
export interface ReplayFilter {
  readonly upTo: Map<string, number>;
  readonly since: number;
}

/** How long a replay filter is kept at most (the live copies it drops arrive within ms). */
export const REPLAY_FILTER_MS = 10_000;

export class RoomResume {
  readonly detached = new Map<string, DetachedPeer>();
  readonly attempts = new Set<ResumeAttempt>();
  /** Resumed peers of this node → what they were replayed. */
  readonly replayed = new Map<string, ReplayFilter>();

  get empty(): boolean {
    return this.detached.size === 0 && this.attempts.size === 0 && this.replayed.size === 0;
  }

  /**
   * Resumed peers for which this live message is a copy of one already replayed (see
   * ReplayFilter); forgets an origin once a newer message of it passes.
   */
  replayedCopyFor(e: Envelope): string[] | undefined {
    if (e.seq === undefined || e.event !== undefined) return undefined;
    let dup: string[] | undefined;
    for (const [peerId, f] of this.replayed) {
      if (!concerns(e, peerId)) continue;
      const max = f.upTo.get(e.originServerId);
      if (max === undefined) continue;
      if (e.seq <= max) (dup ??= []).push(peerId);
      else {
        f.upTo.delete(e.originServerId);
        if (f.upTo.size === 0) this.replayed.delete(peerId);
      }
    }
    return dup;
  }

  /** Note a detached peer (idempotent: a later notice of a known one changes nothing). */
  add(peerId: string, deadline: number, local: boolean): DetachedPeer {
    const known = this.detached.get(peerId);
    if (known) return known;
    const d: DetachedPeer = {
      peerId,
      deadline,
      local,
      overflowed: false,
      expiring: false,
      goneSince: undefined,
    };
    this.detached.set(peerId, d);
    return d;
  }

  /** Hand an envelope to every resume in progress here. */
  capture(envelope: Envelope): void {
    for (const a of this.attempts) {
      if (a.buffer.length >= MAX_ATTEMPT_BUFFER) a.full = true;
      else a.buffer.push(envelope);
    }
  }
}

/**
 * A fresh resume token: 144 random bits, URL-safe, then `.` and the peer id it resumes (public
 * within the room anyway), so a node can find the peer's connection when it is still open
 * (a half-open takeover). Opaque to clients. Only its hash is ever stored.
 */
export function newResumeToken(peerId: string): string {
  return `${randomBytes(18).toString('base64url')}.${peerId}`;
}

/** The peer id a token names (unverified: only the token's hash proves anything). */
export function tokenPeerId(token: string): string | undefined {
  const id = token.slice(token.lastIndexOf('.') + 1);
  return /^client:[0-9a-f-]{36}$/.test(id) ? id : undefined;
}

export function hashResumeToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/** The identity of a message envelope (origin node and its sequence), for dedup at resume. */
export function envelopeId(e: Envelope): string | undefined {
  return e.seq === undefined ? undefined : `${e.originServerId}#${e.seq}`;
}

/** Whether a message envelope is for peerId (broadcast from another peer, or directed to it). */
export function concerns(e: Envelope, peerId: string): boolean {
  return e.event === undefined && e.senderId !== peerId && (e.to === undefined || e.to === peerId);
}

/**
 * Leaves this node delivered to its own peers only, for detached peers of other nodes whose
 * session the backend lost (a Redis restart without its data): the owner's own announcement
 * may still arrive afterwards and must not be delivered a second time. Bounded in count and age.
 */
export class LocalLeaves {
  private readonly at = new Map<string, number>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
  ) {}

  add(roomId: string, peerId: string, now: number): void {
    if (this.at.size >= this.maxEntries) {
      for (const [k, t] of this.at) {
        if (this.at.size >= this.maxEntries || now - t > this.maxAgeMs) this.at.delete(k);
        else break;
      }
    }
    this.at.set(roomId + '\n' + peerId, now);
  }

  /** Whether a leave of peerId was already delivered here; forgets it either way. */
  take(roomId: string, peerId: string, now: number): boolean {
    const k = roomId + '\n' + peerId;
    const t = this.at.get(k);
    if (t === undefined) return false;
    this.at.delete(k);
    return now - t <= this.maxAgeMs;
  }
}

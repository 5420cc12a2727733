/**
 * Resume (SPEC.md §13): a v2 peer whose connection is lost without a close frame (or closed by
 * this node's drain) is *detached* instead of leaving; `?resume=TOKEN` on any node gives it
 * back its peer id and, exactly once and in order, what the room sent it meanwhile.
 *
 * How exactly-once holds across nodes (docs/resume.md has the long form):
 * - The node that originates a message appends it to the mailbox of each detached receiver it
 *   knows of (`backend.keep`) and then publishes it, on the same connection: the backend sees
 *   append-then-publish. The envelope names those receivers (`kept`).
 * - Nodes learn who is detached from the room's `detach` / `resume` events and from join
 *   results. Until a node has heard, the detaching node relays (appends) what the room channel
 *   carries for its detached peers and the origin did not keep.
 * - The resuming node subscribes to the room first, buffers the room's traffic, then claims the
 *   session (atomic: single use, deletes and returns the mailbox). Every message is then either
 *   in the mailbox (appended before the claim) or was published after the subscription and is
 *   in the buffer, or both; envelope ids (origin node + sequence) drop the second copy. Per
 *   origin, the mailbox holds a prefix of its messages and the buffer the rest, so order holds.
 * - Window end or overflow: `backend.expire` is atomic, so one node ends the session and
 *   announces the leave (resume-expiry.ts).
 */
import { Close } from '../close-codes.js';
import { API_SENDER_ID, type ClaimResult, type Envelope } from '../backend/backend.js';
import type { SignalMessage } from '../protocol/message.js';
import { errorMessage } from '../errors.js';
import type { ServerContext } from './context.js';
import type { Peer } from './peer.js';
import { ResumeExpiry } from './resume-expiry.js';
import { replayFrames } from './resume-replay.js';
import type { LocalRoom, ResumeHooks } from './room-hub.js';
import {
  type ResumeAttempt,
  RoomResume,
  concerns,
  hashResumeToken,
  newResumeToken,
  tokenPeerId,
} from './resume-state.js';

export { sweepIntervalMs } from './resume-expiry.js';

/**
 * How long after a detach its session may be claimed, and how long a draining node stays
 * connected after detaching its peers. Another node that published into the room before it
 * heard of the detach did not keep its message; the detaching node relays it (appends it to the
 * mailbox) when it arrives on the room channel, about one pub/sub hop later. A claim before
 * that could miss it, so a resume that fast waits out the rest of this grace (only a rolling
 * restart's immediate reconnects ever do).
 */
export const RELAY_GRACE_MS = 200;

/** How long a resume waits for another node to hand over a half-open connection. */
const TAKEOVER_WAIT_MS = 2000;

/** What admission needs back from a successful claim to open the peer as resumed. */
export interface Resumed {
  peerId: string;
  /** The room's members, the resumed peer excluded. */
  peers: string[];
  detachedMs: number;
  /** Sends the kept and buffered messages, after the welcome. */
  replay(peer: Peer): void;
}

export class Resumption implements ResumeHooks {
  readonly enabled: boolean;
  /** Ends detached peers: the sweep, and the leave of every other end. */
  private readonly expiry: ResumeExpiry;
  /** Open peers by the hash of their current token: a resume may take over a half-open one. */
  private readonly byToken = new Map<string, Peer>();
  /** Resumes waiting for another node to detach a half-open peer: room + '\n' + peer id. */
  private readonly takeoverWaiters = new Map<string, () => void>();
  /** Per-node message sequence: with originServerId it identifies an envelope (SPEC.md §13). */
  private seq = 0;

  constructor(private readonly ctx: ServerContext) {
    this.enabled = ctx.config.resumeWindowMs > 0;
    this.expiry = new ResumeExpiry(ctx);
    ctx.hub.resumeHooks = this;
  }

  /** Peers detached from this node and not yet resumed or ended (signaling_detached_peers). */
  get detachedHere(): number {
    return this.expiry.detachedHere;
  }

  /** The sweep (one timer per server, timers.ts): see ResumeExpiry.sweep. */
  sweep(): void {
    this.expiry.sweep();
  }

  /** A fresh token for a v2 welcome; the peer keeps only its hash. */
  issueToken(peer: Peer): string | undefined {
    if (!this.enabled || peer.version !== 2) return undefined;
    const token = newResumeToken(peer.id);
    this.forgetToken(peer);
    peer.resumeTokenHash = hashResumeToken(token);
    this.byToken.set(peer.resumeTokenHash, peer);
    return token;
  }

  /** The peer's connection is over (left or detached): its token no longer names an open peer. */
  forgetToken(peer: Peer): void {
    const hash = peer.resumeTokenHash;
    if (hash !== undefined && this.byToken.get(hash) === peer) this.byToken.delete(hash);
  }

  /** Whether a lost connection of this peer becomes detached rather than a leave. */
  canDetach(peer: Peer): boolean {
    return this.enabled && peer.state === 'open' && peer.resumeTokenHash !== undefined;
  }

  /**
   * Detach an open peer whose socket is gone (or going, at drain): it leaves the local room
   * without anyone being told, keeps its membership, and the other nodes learn to keep
   * messages for it. Resolves once the backend holds the session (or the peer has left
   * instead, when the backend could not).
   */
  detach(peer: Peer, cause: string): Promise<void> {
    const { ctx } = this;
    const { hub, backend, metrics, logger, config } = ctx;
    peer.state = 'left';
    this.forgetToken(peer);
    metrics.activeConnections.dec();
    const room = hub.ensure(peer.roomId);
    const rr = (room.resume ??= new RoomResume());
    const deadline = ctx.now() + config.resumeWindowMs;
    rr.add(peer.id, deadline, true);
    hub.remove(peer); // the room stays: it has a detached peer
    this.expiry.detachedLocally();
    logger.info({ peerId: peer.id, roomId: peer.roomId, cause }, 'peer detached');
    const stored = backend.detach(
      peer.roomId,
      peer.id,
      peer.resumeTokenHash!,
      config.resumeWindowMs,
      config.resumeMailboxBytes,
    );
    // Published right behind the detach script, so the other nodes start keeping at once.
    backend.publish(peer.roomId, {
      senderId: peer.id,
      data: { type: 'control', action: 'peer-detached' },
      originServerId: backend.serverId,
      event: 'detach',
      deadline,
    });
    return stored.then(
      () => undefined,
      (err: unknown) => {
        logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'detach failed');
        // Not resumable: an ordinary leave, so nobody keeps a ghost.
        if (this.expiry.forget(room, peer.id)) this.expiry.announceLeave(room.id, peer.id, cause);
        backend
          .leave(peer.roomId, peer.id, { cause, subject: peer.subject })
          .then((r) => this.ctx.webhooks.left(peer.roomId, peer.id, peer.subject, cause, r))
          .catch(() => undefined);
      },
    );
  }

  // ---- the hot path's slow branch -----------------------------------------------------

  /**
   * An envelope this node originates in a room with detached peers or resumes in progress:
   * keep it for the detached receivers (before its publish), and hand it to local resumes.
   */
  keep(room: LocalRoom, envelope: Envelope): void {
    const rr = room.resume!;
    rr.capture(envelope);
    if (rr.detached.size === 0) return;
    let targets: string[] | undefined;
    if (envelope.to !== undefined) {
      if (rr.detached.has(envelope.to)) targets = [envelope.to];
    } else {
      for (const id of rr.detached.keys()) if (id !== envelope.senderId) (targets ??= []).push(id);
    }
    if (targets === undefined) return;
    envelope.kept = targets;
    this.ctx.backend.keep(room.id, targets, JSON.stringify(envelope), this.onOverflow(room));
  }

  /** The next sequence number of a message this node originates. */
  nextSeq(): number {
    return ++this.seq;
  }

  /**
   * An API message (SPEC.md §14) for a room with detached members (the backend's list: this
   * node may hold nothing of the room). This node is its origin, as for a peer's message:
   * delivered to local members, kept for the detached receivers, then published with its
   * sequence number (so the relay and the resume's dedup treat it as any other message).
   */
  sendApiMessage(
    roomId: string,
    message: SignalMessage,
    to: string | undefined,
    detached: readonly string[],
  ): void {
    const { hub, backend } = this.ctx;
    const envelope: Envelope = {
      senderId: API_SENDER_ID,
      data: message,
      originServerId: backend.serverId,
      seq: this.nextSeq(),
    };
    if (to !== undefined) envelope.to = to;
    const room = hub.get(roomId);
    if (room) hub.deliver(room, API_SENDER_ID, message, undefined, to);
    if (room?.resume) this.keep(room, envelope); // captures; keeps for the ones known here
    const more = detached.filter(
      (id) => (to === undefined || to === id) && envelope.kept?.includes(id) !== true,
    );
    if (more.length > 0) {
      const kept = [...(envelope.kept ?? []), ...more];
      envelope.kept = kept;
      backend.keep(roomId, more, JSON.stringify(envelope), (peerId) => {
        const r = hub.get(roomId);
        if (r?.resume) this.onOverflow(r)(peerId);
      });
    }
    backend.publish(roomId, envelope);
  }

  /** From another node, for a room with resume state (or a detach, takeover or leave event). */
  onEnvelope(room: LocalRoom, envelope: Envelope): boolean {
    switch (envelope.event) {
      case 'detach': {
        const rr = (room.resume ??= new RoomResume());
        rr.add(envelope.senderId, envelope.deadline ?? this.ctx.now(), false);
        this.takeoverWaiters.get(`${room.id}\n${envelope.senderId}`)?.();
        return true;
      }
      case 'takeover': {
        // A resume elsewhere presents this peer's current token: its connection here is
        // half-open (the client is already back, on another node). Hand it over.
        const peer = room.peers.get(envelope.senderId);
        if (peer && this.canDetach(peer) && peer.resumeTokenHash === envelope.hash) {
          void this.detach(peer, 'takeover');
          peer.ws.terminate();
        }
        this.ctx.hub.release(room);
        return true;
      }
      case 'resume':
        if (room.resume) {
          const d = room.resume.detached.get(envelope.senderId);
          if (d) this.expiry.drop(room, d);
          room.resume.capture(envelope);
        }
        this.ctx.hub.release(room);
        return true;
      case 'leave':
        if (room.resume) this.expiry.drop(room, room.resume.detached.get(envelope.senderId));
        // Already told to this node's peers (a lost session, see the sweep): not twice.
        if (this.expiry.localLeaves.take(room.id, envelope.senderId, this.ctx.now())) return true;
        return false; // delivered as usual (and captured by deliverLeave)
      case 'join':
        return false;
      default: {
        const rr = room.resume;
        if (!rr) return false;
        rr.capture(envelope);
        this.relay(room, rr, envelope);
        const copies = rr.replayed.size > 0 ? rr.replayedCopyFor(envelope) : undefined;
        if (copies === undefined) return false;
        // Already replayed to these resumed peers: deliver to everyone else only.
        this.ctx.hub.deliverExcept(room, envelope, copies);
        if (rr.empty) this.ctx.hub.release(room);
        return true;
      }
    }
  }

  /** Keep for this node's own detached peers what the origin did not keep (it had not heard). */
  private relay(room: LocalRoom, rr: RoomResume, envelope: Envelope): void {
    let targets: string[] | undefined;
    for (const d of rr.detached.values()) {
      if (!d.local || !concerns(envelope, d.peerId)) continue;
      if (envelope.kept?.includes(d.peerId)) continue;
      (targets ??= []).push(d.peerId);
    }
    if (targets)
      this.ctx.backend.keep(room.id, targets, JSON.stringify(envelope), this.onOverflow(room));
  }

  private onOverflow(room: LocalRoom): (peerId: string) => void {
    return (peerId) => {
      const d = room.resume?.detached.get(peerId);
      if (!d) return;
      d.overflowed = true;
      void this.expiry.expireOne(room, d);
    };
  }

  // ---- resuming -----------------------------------------------------------------------

  /**
   * Claim the session of `token` for a pending peer. Resolves to what admission needs to
   * open it as resumed, or to undefined (unknown, used, other room, ended: a normal join).
   * Rejects on backend failure.
   */
  async claim(peer: Peer, token: string): Promise<Resumed | undefined> {
    const { hub, backend, metrics } = this.ctx;
    const room = hub.ensure(peer.roomId);
    const rr = (room.resume ??= new RoomResume());
    const attempt: ResumeAttempt = { buffer: [], full: false };
    rr.attempts.add(attempt);
    let claimed: Exclude<ClaimResult, { result: 'early' }>;
    try {
      // Subscribed before the claim: whatever is published after it reaches the buffer.
      await backend.subscribe(room.id);
      const hash = hashResumeToken(token);
      const named = tokenPeerId(token);
      claimed = await this.claimAfterGrace(room.id, hash, named);
      const old = this.byToken.get(hash);
      if (claimed.result === 'unknown' && old?.state === 'open' && old.roomId === room.id) {
        // The token's connection is still open here: it is half-open (the client's network
        // went away and no heartbeat has noticed yet). The resume takes it over.
        await this.detach(old, 'takeover');
        old.ws.terminate();
        claimed = await this.claimAfterGrace(room.id, hash);
      } else if (
        claimed.result === 'unknown' &&
        named !== undefined &&
        claimed.attachedTo !== undefined &&
        claimed.attachedTo !== backend.serverId
      ) {
        // Still open on another node: ask it to hand the connection over (it checks the hash).
        await this.takeoverElsewhere(room, named, hash);
        claimed = await this.claimAfterGrace(room.id, hash);
      }
    } catch (err) {
      rr.attempts.delete(attempt);
      hub.release(room);
      throw err;
    }
    rr.attempts.delete(attempt);
    if (claimed.result !== 'resumed') {
      metrics.resumes.inc({ result: claimed.result });
      if (claimed.result !== 'unknown') {
        const d = rr.add(claimed.peerId, 0, false);
        if (claimed.result === 'overflow') d.overflowed = true;
        void this.expiry.expireOne(room, d);
      }
      hub.release(room);
      return undefined;
    }
    const { peerId, mailbox, members, detachedMs } = claimed;
    for (const d of claimed.detached) if (d.peerId !== peerId) rr.add(d.peerId, d.deadline, false);
    this.expiry.drop(room, rr.detached.get(peerId));
    if (attempt.full || peer.state !== 'pending' || this.ctx.state() !== 'ready') {
      // The client went away meanwhile (or too much arrived to replay exactly): the session
      // is used up and nobody holds the peer, so it leaves.
      this.expiry.announceLeave(room.id, peerId, 'resume-abandoned');
      backend
        .leave(room.id, peerId, { cause: 'resume-abandoned', subject: peer.subject })
        .then((r) => this.ctx.webhooks.left(room.id, peerId, peer.subject, 'resume-abandoned', r))
        .catch(() => undefined);
      hub.release(room);
      if (peer.state === 'pending') peer.close(Close.goingAway);
      metrics.resumes.inc({ result: 'expired' });
      return undefined;
    }
    metrics.resumes.inc({ result: 'resumed' });
    this.ctx.webhooks.resumed(room.id, peerId, peer.subject);
    return {
      peerId,
      peers: members.filter((id) => id !== peerId),
      detachedMs,
      replay: (p) => this.replay(p, room, mailbox, attempt, members),
    };
  }

  /**
   * Claim, waiting out the relay grace of a session detached a moment ago (at most twice: the
   * wait is what the backend says remains of RELAY_GRACE_MS).
   */
  private async claimAfterGrace(
    roomId: string,
    hash: string,
    named?: string,
  ): Promise<Exclude<ClaimResult, { result: 'early' }>> {
    for (let i = 0; ; i++) {
      const grace = i < 2 ? RELAY_GRACE_MS : 0;
      const claimed = await this.ctx.backend.claim(roomId, hash, grace, named);
      if (claimed.result !== 'early') return claimed;
      await new Promise((resolve) => setTimeout(resolve, Math.min(claimed.waitMs, RELAY_GRACE_MS)));
    }
  }

  /**
   * Ask the node holding `peerId` to detach it if its token hash is `hash`, and wait (bounded)
   * for its detach event. A wrong or forged token is ignored there: the wait then times out.
   */
  private async takeoverElsewhere(room: LocalRoom, peerId: string, hash: string): Promise<void> {
    const key = `${room.id}\n${peerId}`;
    const detached = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, TAKEOVER_WAIT_MS);
      this.takeoverWaiters.set(key, () => {
        clearTimeout(t);
        resolve();
      });
    });
    this.ctx.backend.publish(room.id, {
      senderId: peerId,
      data: { type: 'control', action: 'takeover' },
      originServerId: this.ctx.backend.serverId,
      event: 'takeover',
      hash,
      to: peerId,
    });
    try {
      await detached;
    } finally {
      this.takeoverWaiters.delete(key);
    }
  }

  /** After the resumed welcome: the mailbox in order, then what the claim's wait buffered. */
  private replay(
    peer: Peer,
    room: LocalRoom,
    mailbox: string[],
    attempt: ResumeAttempt,
    members: string[],
  ): void {
    const { frames, upTo } = replayFrames(peer.id, mailbox, attempt.buffer, members);
    for (const frame of frames) peer.send(frame);
    if (upTo.size > 0)
      (room.resume ??= new RoomResume()).replayed.set(peer.id, { upTo, since: this.ctx.now() });
    this.ctx.backend.publish(room.id, {
      senderId: peer.id,
      data: { type: 'control', action: 'peer-resumed' },
      originServerId: this.ctx.backend.serverId,
      event: 'resume',
    });
  }

  // ---- removal by the server API (SPEC.md §14) ----------------------------------------

  /**
   * End peerId's session now if it is detached (DELETE of a peer or a room): its token no
   * longer resumes, and the room hears an ordinary leave, cause `removed`, once cluster-wide
   * (the backend's expire is atomic: only the call that ends it announces). Resolves false when
   * peerId is not detached (attached, resumed meanwhile, or no member): the caller then removes
   * it as an attached peer. Rejects on backend failure.
   */
  async remove(roomId: string, peerId: string): Promise<boolean> {
    if (!this.enabled) return false;
    const { hub, backend } = this.ctx;
    const { status, roomFinished } = await backend.expire(roomId, peerId, true);
    if (status !== 'ended') return false;
    const room = hub.get(roomId);
    if (room) this.expiry.forget(room, peerId);
    this.expiry.announceLeave(roomId, peerId, 'removed');
    this.ctx.webhooks.left(roomId, peerId, undefined, 'removed', { removed: true, roomFinished });
    if (room) hub.release(room);
    return true;
  }
}

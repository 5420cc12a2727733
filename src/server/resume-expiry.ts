/**
 * How a detached peer ends (SPEC.md §13). The sweep (one timer per server) ends the sessions
 * whose window ended or whose mailbox overflowed: `backend.expire` is atomic, so exactly one
 * node ends each and announces the leave. A session the backend no longer knows (ended by
 * another node, or lost with Redis's data) is announced after a wait for that node's leave; with
 * the backend away, the local peers are told once nobody can resume it any more.
 *
 * The other ends of a detached peer (resumed, removed by the server API, an abandoned resume, a
 * failed detach) go through `drop` / `forget` and `announceLeave` here too, so the count of
 * peers detached from this node (signaling_detached_peers) changes in one place.
 */
import { errorMessage } from '../errors.js';
import type { ServerContext } from './context.js';
import type { LocalRoom } from './room-hub.js';
import { type DetachedPeer, LocalLeaves, REPLAY_FILTER_MS } from './resume-state.js';

export class ResumeExpiry {
  /** Detached peers this node detached and still tracks (signaling_detached_peers). */
  private localDetached = 0;
  /**
   * Leaves of lost sessions this node told only its own peers (see `expireOne`, 'gone'): when
   * the owner's leave arrives after all, Resumption.onEnvelope does not deliver it twice.
   */
  readonly localLeaves = new LocalLeaves();

  constructor(private readonly ctx: ServerContext) {}

  /** Peers detached from this node and not yet resumed or ended (signaling_detached_peers). */
  get detachedHere(): number {
    return this.localDetached;
  }

  /** This node has just detached a peer (added to its room as local): counted until dropped. */
  detachedLocally(): void {
    this.localDetached++;
    this.ctx.metrics.detachedPeers.set(this.localDetached);
  }

  /** The sweep (one timer per server): end detached peers whose window ended or overflowed. */
  sweep(): void {
    const now = this.ctx.now();
    for (const room of [...this.ctx.hub.rooms.values()]) {
      const rr = room.resume;
      if (!rr) continue;
      for (const [peerId, f] of rr.replayed)
        if (now - f.since >= REPLAY_FILTER_MS) rr.replayed.delete(peerId);
      if (rr.empty) {
        this.ctx.hub.release(room);
        continue;
      }
      for (const d of [...rr.detached.values()])
        if (!d.expiring && (d.overflowed || d.deadline <= now)) void this.expireOne(room, d);
    }
  }

  /**
   * Ask the backend to end one detached peer's session (at the sweep, or at once on overflow or
   * when a claim found it over) and act on the answer.
   */
  async expireOne(room: LocalRoom, d: DetachedPeer): Promise<void> {
    const { backend, logger, config } = this.ctx;
    d.expiring = true;
    let result: Awaited<ReturnType<typeof backend.expire>>;
    try {
      result = await backend.expire(room.id, d.peerId);
    } catch (err) {
      d.expiring = false;
      // The backend is away. Past the window plus one lease nobody can resume the peer (a
      // claim needs the backend too): tell the local peers, so no ghost outlives that bound.
      if (this.ctx.now() >= d.deadline + config.nodeLeaseMs && this.drop(room, d)) {
        logger.warn({ err: errorMessage(err), roomId: room.id }, 'expire failed; leave is local');
        this.ctx.hub.deliverLeave(room, d.peerId);
        this.ctx.hub.release(room);
      }
      return;
    }
    d.expiring = false;
    switch (result.status) {
      case 'ended':
        this.drop(room, d);
        this.announceLeave(room.id, d.peerId, d.overflowed ? 'resume-overflow' : 'resume-expired');
        // expire() is atomic: only this node ended it, and it says whether the room emptied.
        this.ctx.webhooks.left(
          room.id,
          d.peerId,
          undefined,
          d.overflowed ? 'resume-overflow' : 'resume-expired',
          { removed: true, roomFinished: result.roomFinished },
        );
        this.ctx.hub.release(room);
        return;
      case 'open':
        return;
      case 'attached':
        this.drop(room, d);
        this.ctx.hub.release(room);
        return;
      case 'gone': {
        // Ended by another node (its leave is on the way) or lost by the backend (nothing is:
        // a Redis restart without its data). Wait one more sweep for the leave; then announce it
        // here, to the local peers and the other nodes' (theirs would never hear it otherwise).
        // Only the owner announces to everyone; another node waits two sweeps more for that
        // leave and, if none comes (the owner is gone too), tells its own peers only.
        const now = this.ctx.now();
        const wait = sweepIntervalMs(config.resumeWindowMs) * (d.local ? 1 : 3);
        if (d.goneSince === undefined) d.goneSince = now;
        else if (now - d.goneSince >= wait && this.drop(room, d)) {
          if (d.local) this.announceLeave(room.id, d.peerId, 'resume-expired');
          else {
            this.localLeaves.add(room.id, d.peerId, now);
            this.ctx.hub.deliverLeave(room, d.peerId);
          }
          this.ctx.hub.release(room);
        }
        return;
      }
    }
  }

  /** Forget a detached peer here; true if it was known. */
  drop(room: LocalRoom, d: DetachedPeer | undefined): boolean {
    if (!d || room.resume?.detached.get(d.peerId) !== d) return false;
    room.resume.detached.delete(d.peerId);
    if (d.local) {
      this.localDetached--;
      this.ctx.metrics.detachedPeers.set(this.localDetached);
    }
    return true;
  }

  /** `drop` by peer id. */
  forget(room: LocalRoom, peerId: string): boolean {
    return this.drop(room, room.resume?.detached.get(peerId));
  }

  /**
   * A detached peer's ordinary leave: local peers (when this node has the room), other nodes
   * (SPEC.md §2).
   */
  announceLeave(roomId: string, peerId: string, cause: string): void {
    const { hub, backend, metrics, logger } = this.ctx;
    metrics.disconnects.inc({ cause });
    logger.info({ peerId, roomId, cause }, 'peer left');
    const room = hub.get(roomId);
    if (room) hub.deliverLeave(room, peerId);
    backend.publish(roomId, {
      senderId: peerId,
      data: { type: 'peer-disconnected' },
      originServerId: backend.serverId,
      event: 'leave',
    });
  }
}

/** The sweep period: often enough that a window ends within a second of its deadline. */
export function sweepIntervalMs(windowMs: number): number {
  return Math.max(20, Math.min(1000, Math.floor(windowMs / 4)));
}

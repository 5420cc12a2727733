/**
 * How an admitted peer stops being one (SPEC.md §2 "When a client leaves"): a close from either
 * side, a socket error, heartbeat timeout, backpressure, token expiry or drain. Every path ends
 * in `leave()`, which is idempotent: local room, local peers, other nodes, cluster membership.
 */
import { Close, type CloseEntry } from '../close-codes.js';
import { errorMessage } from '../errors.js';
import type { ServerContext } from './context.js';
import type { Peer, PeerHost } from './peer.js';

export class Departures implements PeerHost {
  readonly backpressureThreshold: number;

  constructor(private readonly ctx: ServerContext) {
    this.backpressureThreshold = ctx.config.backpressureCloseThresholdBytes;
  }

  /** A receiver too far behind is closed, not buffered further (SPEC.md §6). */
  onOverloaded(peer: Peer): void {
    this.ctx.metrics.backpressureCloses.inc();
    this.disconnect(peer, Close.serverOverloaded, 'backpressure');
  }

  /** The server ends the connection: leave now, then send the close frame. */
  disconnect(peer: Peer, entry: CloseEntry, cause: string): void {
    this.leaveGuarded(peer, cause);
    peer.close(entry);
  }

  /**
   * The connection was lost without a close frame from the client (SPEC.md §13: 1006,
   * heartbeat timeout): a resumable peer is detached, any other leaves.
   */
  lost(peer: Peer, cause: string): void {
    if (!this.ctx.resume.canDetach(peer)) return this.leaveGuarded(peer, cause);
    this.ctx.resume
      .detach(peer, cause)
      .catch((err: unknown) => this.ctx.faults.report('detach', err, { roomId: peer.roomId }));
  }

  /**
   * Drain (SPEC.md §9, §13): with sessions that outlive this process a resumable peer is
   * detached (it resumes on another node), any other leaves. Resolves when the backend has it.
   */
  drain(peer: Peer): Promise<void> {
    if (this.ctx.backend.sharedSessions && this.ctx.resume.canDetach(peer))
      return this.ctx.resume.detach(peer, 'shutdown');
    return this.leave(peer, 'shutdown', false);
  }

  /** The server sent a close frame: the socket gets a short grace, not ws's 30 s. */
  onClosing(peer: Peer): void {
    this.ctx.closeGrace.add(peer.ws);
  }

  /**
   * Give back the peer's MAX_CONNECTIONS and MAX_CONNECTIONS_PER_IP slots. Idempotent. Called
   * when the socket has closed, and already when the server refuses it: a refused socket that
   * is still finishing its close must not lock out real clients.
   */
  release(peer: Peer): void {
    const { peers, connectionsPerIp } = this.ctx;
    if (!peers.delete(peer)) return;
    const n = (connectionsPerIp.get(peer.ipKey) ?? 1) - 1;
    if (n <= 0) connectionsPerIp.delete(peer.ipKey);
    else connectionsPerIp.set(peer.ipKey, n);
  }

  /** The socket closed (either side): release its slots, then leave if it was admitted. */
  onClose(peer: Peer, code: number): void {
    try {
      this.released(peer, code);
    } catch (err) {
      this.ctx.faults.report('close', err, { roomId: peer.roomId });
    }
  }

  private released(peer: Peer, code: number): void {
    this.release(peer);
    if (peer.state === 'pending') {
      peer.state = 'left'; // admission still running notices and undoes its join
      peer.pending = undefined;
      return;
    }
    // 1006: no close frame from the client (network loss): resumable. A close frame, whatever
    // its code, is the client leaving.
    if (code === 1006) this.lost(peer, 'error');
    else this.leaveGuarded(peer, 'close');
  }

  /** leave() for callers that do not wait: a failure is reported, never unhandled. */
  leaveGuarded(peer: Peer, cause: string): void {
    this.leave(peer, cause, true).catch((err: unknown) =>
      this.ctx.faults.report('leave', err, { roomId: peer.roomId }),
    );
  }

  /**
   * Remove an admitted peer: local room, peers here and on other nodes, cluster membership.
   * Idempotent. `notifyLocal` is false at shutdown, when every local peer is closing anyway.
   */
  async leave(peer: Peer, cause: string, notifyLocal: boolean): Promise<void> {
    if (peer.state !== 'open') return;
    const { metrics, logger, hub, backend } = this.ctx;
    peer.state = 'left';
    this.ctx.resume.forgetToken(peer);
    metrics.activeConnections.dec();
    metrics.disconnects.inc({ cause });
    logger.info({ peerId: peer.id, roomId: peer.roomId, cause }, 'peer left');
    const room = hub.remove(peer);
    if (room && notifyLocal) hub.deliverLeave(room, peer.id);
    backend.publish(peer.roomId, {
      senderId: peer.id,
      data: { type: 'peer-disconnected' },
      originServerId: backend.serverId,
      event: 'leave',
    });
    try {
      const left = await backend.leave(peer.roomId, peer.id, { cause, subject: peer.subject });
      this.ctx.webhooks.left(peer.roomId, peer.id, peer.subject, cause, left);
    } catch (err) {
      // The redis backend retries the leave (webhooks then hear it with this cause).
      logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend leave failed');
    }
  }
}

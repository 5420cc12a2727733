/**
 * The server's periodic work, one timer per server and never one per socket: heartbeat
 * (SPEC.md §3), token expiry, the cluster-wide limit sync (§6) and the resume sweep (§13).
 */
import { WebSocket } from 'ws';
import { Close } from '../close-codes.js';
import type { ServerContext } from './context.js';
import type { Departures } from './departures.js';
import type { Peer } from './peer.js';
import { sweepIntervalMs } from './resume.js';

export class ServerTimers {
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly departures: Departures,
  ) {}

  start(): void {
    const { config, auth, backend } = this.ctx;
    // One tick per slot of the wheel (heartbeat-wheel.ts): each connection every interval.
    const peers = this.ctx.peers;
    this.heartbeatTimer = setInterval(
      () => this.heartbeat(peers.nextTick()),
      config.heartbeatIntervalMs / peers.slotCount,
    );
    this.heartbeatTimer.unref();
    if (auth) {
      this.expiryTimer = setInterval(() => this.expireTokens(), 1000);
      this.expiryTimer.unref();
    }
    if (this.ctx.resume.enabled) {
      this.resumeTimer = setInterval(
        () => this.ctx.resume.sweep(),
        sweepIntervalMs(config.resumeWindowMs),
      );
      this.resumeTimer.unref();
    }
    if (backend.syncCounters) {
      this.syncTimer = setInterval(
        () =>
          void this.syncLimits().catch((err: unknown) => this.ctx.faults.report('limit-sync', err)),
        config.rateLimitSyncMs,
      );
      this.syncTimer.unref();
    }
  }

  stop(): void {
    clearInterval(this.heartbeatTimer);
    clearInterval(this.expiryTimer);
    clearInterval(this.syncTimer);
    clearInterval(this.resumeTimer);
  }

  /** SPEC.md §3: terminate connections that did not answer the previous ping. */
  private heartbeat(due: Peer[]): void {
    for (const peer of due) {
      if (!peer.alive) {
        this.departures.lost(peer, 'heartbeat');
        peer.ws.terminate();
        continue;
      }
      peer.alive = false;
      if (peer.ws.readyState === WebSocket.OPEN) peer.ws.ping();
    }
  }

  private expireTokens(): void {
    const now = this.ctx.now();
    for (const peer of this.ctx.peers)
      if (peer.state === 'open' && peer.expiresAt !== undefined && peer.expiresAt <= now)
        this.departures.disconnect(peer, Close.tokenExpired, 'token-expired');
  }

  /** Share per-IP/per-room counts with the cluster; on failure the limits stay local. */
  private async syncLimits(): Promise<void> {
    const sync = this.ctx.backend.syncCounters?.bind(this.ctx.backend);
    if (!sync) return;
    const now = this.ctx.now();
    const { conn, ipMessages, roomMessages } = this.ctx.limits;
    await Promise.all(
      [conn, ipMessages, roomMessages].map(async (counter) => {
        const { windowStart, deltas } = counter.drain(now);
        if (deltas.size === 0) return;
        try {
          counter.applyTotals(windowStart, await sync(windowStart, deltas));
        } catch {
          counter.restore(windowStart, deltas);
        }
      }),
    );
  }
}

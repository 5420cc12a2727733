/**
 * The Switchboard server: wires the parts and owns the lifecycle.
 *
 *   listener.ts      HTTP/TLS listener, slowloris defences, HEALTH_PORT   (SPEC.md §8)
 *   admission.ts     guard clauses, auth, atomic join, welcome            (§1)
 *   message-path.ts  the hot path: parse, validate, limit, deliver, publish (§2, §6)
 *   departures.ts    every way a peer leaves                              (§2, §6)
 *   timers.ts        heartbeat, token expiry, limit sync, resume sweep    (§3, §6, §13)
 *   resume.ts        detached peers, mailboxes, resume                    (§13)
 *   room-hub.ts      the local room index and fanout                      (§5)
 *   close-grace.ts   server-initiated closes end within a short grace
 *   faults.ts        error boundaries report here (once per site)
 *
 * Lifecycle: starting → ready → draining → closed, changed only by setState(); graceful
 * shutdown (§9) is `close()`, idempotent.
 */
import { WebSocket, WebSocketServer } from 'ws';
import { createApi } from '../api/index.js';
import type { Backend } from '../backend/backend.js';
import { Close } from '../close-codes.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { Admission } from './admission.js';
import type { Authenticator } from './auth.js';
import { createWindowLimits, type ServerContext, type ServerState } from './context.js';
import { CloseGrace } from './close-grace.js';
import { Departures } from './departures.js';
import { Faults } from './faults.js';
import { PeerRegistry, heartbeatSlots } from './heartbeat-wheel.js';
import type { RouteHost } from './http-routes.js';
import { createIceServersRoute } from './ice-route.js';
import { IceServers } from './ice-servers.js';
import { Listener } from './listener.js';
import { MessagePath } from './message-path.js';
import { RELAY_GRACE_MS, Resumption } from './resume.js';
import { RoomControl } from './room-control.js';
import { RoomHub } from './room-hub.js';
import { SignalingSocket } from './signaling-socket.js';
import { ServerTimers } from './timers.js';
import { Webhooks } from '../webhooks/webhooks.js';

export type { ServerState } from './context.js';

/** How long a backend PING answers /readyz. */
const READY_CACHE_MS = 1000;

export interface ServerOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  backend: Backend;
  auth?: Authenticator | undefined;
  /** Clock, ms since epoch (injected so limits can be tested without waiting). */
  now?: () => number;
  /** Extra HTTP routes on the main port (the demo page). */
  extraRoute?: RouteHost['extraRoute'];
  /** Webhook events (SPEC.md §15); none when absent. */
  webhooks?: Webhooks | undefined;
}

export class SwitchboardServer {
  state: ServerState = 'starting';
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly backend: Backend;
  readonly hub: RoomHub;
  readonly webhooks: Webhooks;
  private readonly ctx: ServerContext;
  readonly resume: Resumption;
  private readonly listener: Listener;
  private readonly wss: WebSocketServer;
  private readonly departures: Departures;
  private readonly messages: MessagePath;
  private readonly timers: ServerTimers;
  private readonly admission: Admission;
  private readonly control: RoomControl;
  private closing: Promise<void> | undefined;
  private pinged: { at: number; up: Promise<boolean> } | undefined;

  constructor(opts: ServerOptions) {
    const { config } = opts;
    this.config = config;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.backend = opts.backend;
    this.hub = new RoomHub(this.backend, this.metrics);
    let resume: Resumption | undefined;
    this.webhooks = opts.webhooks ?? Webhooks.disabled();
    this.ctx = {
      config,
      logger: this.logger,
      metrics: this.metrics,
      backend: this.backend,
      hub: this.hub,
      auth: opts.auth,
      now: opts.now ?? Date.now,
      state: () => this.state,
      peers: new PeerRegistry(heartbeatSlots(config.heartbeatIntervalMs)),
      connectionsPerIp: new Map(),
      limits: createWindowLimits(config, this.backend.syncCounters !== undefined),
      faults: new Faults(opts.logger),
      closeGrace: new CloseGrace(),
      get resume() {
        return resume!;
      },
      webhooks: this.webhooks,
      ice: new IceServers(config, this.metrics, opts.now ?? Date.now),
    };
    this.resume = resume = new Resumption(this.ctx);
    this.departures = new Departures(this.ctx);
    this.messages = new MessagePath(this.ctx, this.departures);
    const admission = new Admission(this.ctx, this.messages, this.departures);
    this.admission = admission;
    this.timers = new ServerTimers(this.ctx, this.departures);
    this.control = new RoomControl(this.ctx, this.departures);

    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: SignalingSocket,
      handleProtocols: (protocols) => admission.selectProtocol(protocols),
    });
    const routes: RouteHost = {
      isAlive: () => this.state !== 'closed',
      isReady: () => this.isReady(),
      registry: this.metrics.registry,
      extraRoute: opts.extraRoute,
      iceServers: createIceServersRoute(this.ctx),
      api: createApi(this.ctx),
    };
    this.listener = new Listener(
      config,
      this.metrics,
      this.ctx.faults,
      routes,
      (req, socket, head) =>
        this.wss.handleUpgrade(req, socket, head, (ws) =>
          admission.admit(ws as SignalingSocket, req),
        ),
    );
  }

  private setState(state: ServerState): void {
    if (this.state === state) return;
    this.logger.debug({ from: this.state, to: state }, 'server state');
    this.state = state;
  }

  async listen(): Promise<void> {
    await this.backend.start({
      onEnvelope: (roomId, envelope) => this.hub.onEnvelope(roomId, envelope),
      onCommand: (roomId, command) => this.control.onCommand(roomId, command),
      onMembersReaped: (roomId, reaped, finished) => this.webhooks.reaped(roomId, reaped, finished),
      onLeaveRetried: (roomId, id, note, left) =>
        this.webhooks.left(roomId, id, note.subject, note.cause, left),
    });
    await this.webhooks.start();
    await this.listener.listen();
    this.timers.start();
    this.ctx.ice.start();
    this.setState('ready');
  }

  get port(): number {
    return this.listener.port;
  }

  get healthPort(): number | undefined {
    return this.listener.healthPort;
  }

  /** Connections held, pending or admitted. */
  get connectionCount(): number {
    return this.ctx.peers.size;
  }

  /** Sockets accepted whose upgrade request has not fully arrived (MAX_PENDING_UPGRADES). */
  get pendingHandshakes(): number {
    return this.listener.handshaking.size;
  }

  /**
   * Re-read TLS_CERT_FILE/TLS_KEY_FILE (the CLI calls this on SIGHUP, e.g. after a certificate
   * renewal). Open connections are untouched; new TLS handshakes use the new pair. Throws when
   * the files cannot be read or do not form a valid pair, keeping the current certificate.
   * Returns false when native TLS is not configured.
   */
  reloadTls(): boolean {
    return this.listener.reloadTls();
  }

  /**
   * /readyz: the lifecycle and the circuit are read on every request; the backend's PING
   * answer is shared for READY_CACHE_MS (and between concurrent requests), so polling the
   * public port cannot turn into a Redis command per request.
   */
  private isReady(): Promise<boolean> {
    if (this.state !== 'ready' || this.backend.circuitOpen) return Promise.resolve(false);
    const now = Date.now();
    if (this.pinged === undefined || now - this.pinged.at >= READY_CACHE_MS)
      this.pinged = { at: now, up: this.backend.ping().catch(() => false) };
    return this.pinged.up;
  }

  /** Graceful shutdown (SPEC.md §9). Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.setState('draining');
    this.timers.stop();
    this.ctx.closeGrace.drain();
    this.ctx.ice.stop();
    const httpClosed = this.listener.stopAccepting();

    // Close every client first, then remove memberships and tell the other nodes.
    const goingAway = { code: this.config.shutdownCloseCode, reason: Close.goingAway.reason };
    const closed: Promise<void>[] = [];
    const leaving = [...this.ctx.peers];
    for (const peer of leaving) {
      if (peer.ws.readyState !== WebSocket.CLOSED)
        closed.push(new Promise((resolve) => peer.ws.once('close', () => resolve())));
      peer.close(goingAway);
    }
    // Resumable peers are detached, not left: they resume on another node (SPEC.md §13).
    const detachedAt = Date.now();
    const left = leaving.map((peer) => this.departures.drain(peer));
    await Promise.allSettled(left);
    await withTimeout(Promise.all(closed), this.config.drainTimeoutMs);
    // Joins still in flight finish (and are undone) while the backend can still remove them.
    await withTimeout(this.admission.settled(), this.config.drainTimeoutMs);
    // Stay on the room channels through the relay grace, so what other nodes sent before they
    // heard of the detaches still reaches the mailboxes (resume.ts, RELAY_GRACE_MS).
    const grace = detachedAt + RELAY_GRACE_MS - Date.now();
    if (this.resume.detachedHere > 0 && grace > 0)
      await new Promise((resolve) => setTimeout(resolve, grace));
    for (const peer of this.ctx.peers) peer.ws.terminate();
    this.ctx.closeGrace.terminateAll();

    this.ctx.auth?.close?.();
    await this.backend
      .close()
      .catch((err: unknown) => this.logger.warn({ err }, 'backend close failed'));
    await this.webhooks.close(this.config.drainTimeoutMs);
    this.wss.close();
    await withTimeout(httpClosed, 1000);
    await this.listener.closeAll();
    this.setState('closed');
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(undefined), ms);
    t.unref();
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      () => {
        clearTimeout(t);
        resolve(undefined);
      },
    );
  });
}

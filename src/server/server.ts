/**
 * The Switchboard server: HTTP + WebSocket upgrade, admission (SPEC.md §1), the message hot
 * path (§2), leaving, heartbeat (§3), limits (§6), and graceful shutdown (§9).
 *
 * Lifecycle: starting → ready → draining → closed, changed only by setState().
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import type { Backend, Envelope } from '../backend/backend.js';
import { Close, type CloseEntry } from '../close-codes.js';
import { errorMessage } from '../errors.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import {
  SCHEMA_ERROR_REPLY,
  UNKNOWN_PEER_REPLY,
  controlMessage,
  parseMessage,
} from '../protocol/message.js';
import { isValidRoomId } from '../protocol/room-id.js';
import type { Authenticator } from './auth.js';
import { clientIp, isSecure } from './client-ip.js';
import { createRequestHandler, type RouteHost } from './http-routes.js';
import { originAllowed } from './origin.js';
import { Peer, type PeerHost } from './peer.js';
import { TokenBucket, WindowCounter } from './rate-limit.js';
import { RoomHub } from './room-hub.js';

export type ServerState = 'starting' | 'ready' | 'draining' | 'closed';

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
}

const SCHEMA_ERROR_BUF = Buffer.from(SCHEMA_ERROR_REPLY);
const UNKNOWN_PEER_BUF = Buffer.from(UNKNOWN_PEER_REPLY);
/** Frames kept per connection while its admission runs; more are dropped (as rate limited). */
const MAX_PENDING_FRAMES = 256;

/**
 * ws closes an oversized frame with 1009 and no reason; SPEC.md §2 wants "Message too big".
 * ws lets a server supply its own WebSocket subclass, so the reason is added here rather than
 * by patching instances.
 */
class SignalingSocket extends WebSocket {
  override close(code?: number, data?: string | Buffer): void {
    if (code === Close.messageTooBig.code && (data === undefined || data.length === 0))
      data = Close.messageTooBig.reason;
    super.close(code, data);
  }
}

export class SwitchboardServer implements PeerHost {
  state: ServerState = 'starting';
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly backend: Backend;
  readonly hub: RoomHub;
  readonly backpressureThreshold: number;
  private readonly auth: Authenticator | undefined;
  private readonly now: () => number;
  private readonly httpServer: http.Server | https.Server;
  private healthServer: http.Server | undefined;
  private readonly wss: WebSocketServer;
  /** Every connection, pending or admitted. */
  private readonly peers = new Set<Peer>();
  private readonly connectionsPerIp = new Map<string, number>();
  /** Sockets accepted but whose request head has not arrived yet (the slowloris cap). */
  private readonly handshaking = new Set<Socket>();
  /** New rooms whose first admission is in flight, so concurrent joins cannot pass MAX_ROOMS. */
  private readonly roomsReserved = new Map<string, number>();
  private readonly connRate: WindowCounter;
  private readonly ipMessages: WindowCounter;
  private readonly roomMessages: WindowCounter;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;

  constructor(opts: ServerOptions) {
    const { config } = opts;
    this.config = config;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
    this.backend = opts.backend;
    this.auth = opts.auth;
    this.now = opts.now ?? Date.now;
    this.backpressureThreshold = config.backpressureCloseThresholdBytes;
    this.hub = new RoomHub(this.backend, this.metrics);
    this.connRate = new WindowCounter(config.rateLimitConnPer10s);
    this.ipMessages = new WindowCounter(config.rateLimitIpMsgsPer10s);
    this.roomMessages = new WindowCounter(config.rateLimitRoomMsgsPer10s);

    const routes: RouteHost = {
      isAlive: () => this.state !== 'closed',
      isReady: () => this.isReady(),
      registry: this.metrics.registry,
      extraRoute: opts.extraRoute,
    };
    const serverOptions: http.ServerOptions = {
      // Slowloris: the whole upgrade request must arrive within the handshake timeout. Node
      // enforces these only every connectionsCheckingInterval (30 s by default), so check
      // often enough for the timeout to mean what it says.
      headersTimeout: config.handshakeTimeoutMs,
      requestTimeout: config.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, config.handshakeTimeoutMs / 4)),
    };
    this.httpServer =
      config.tlsCertFile && config.tlsKeyFile
        ? https.createServer(
            {
              ...serverOptions,
              handshakeTimeout: config.handshakeTimeoutMs,
              cert: readFileSync(config.tlsCertFile),
              key: readFileSync(config.tlsKeyFile),
            },
            createRequestHandler(routes, false),
          )
        : http.createServer(serverOptions, createRequestHandler(routes, false));
    this.httpServer.on('connection', (socket: Socket) => this.onConnection(socket));
    this.httpServer.on('request', (req: http.IncomingMessage) => this.handshakeDone(req.socket));
    this.httpServer.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
      endAndDestroy(socket, `HTTP/1.1 ${clientErrorStatus(err)}\r\nConnection: close\r\n\r\n`),
    );
    if (config.healthPort !== undefined)
      this.healthServer = http.createServer(createRequestHandler(routes, true));

    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: config.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      WebSocket: SignalingSocket,
      handleProtocols: (protocols) => this.selectProtocol(protocols),
    });
  }

  // ---- lifecycle -------------------------------------------------------------------------

  private setState(state: ServerState): void {
    if (this.state === state) return;
    this.logger.debug({ from: this.state, to: state }, 'server state');
    this.state = state;
  }

  async listen(): Promise<void> {
    await this.backend.start({
      onEnvelope: (roomId, envelope) => this.hub.onEnvelope(roomId, envelope),
    });
    await listenOn(this.httpServer, this.config.wsPort, this.config.host);
    if (this.healthServer)
      await listenOn(this.healthServer, this.config.healthPort ?? 0, this.config.host);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), this.config.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
    if (this.auth) {
      this.expiryTimer = setInterval(() => this.expireTokens(), 1000);
      this.expiryTimer.unref();
    }
    if (this.backend.syncCounters) {
      this.syncTimer = setInterval(() => void this.syncLimits(), this.config.rateLimitSyncMs);
      this.syncTimer.unref();
    }
    this.setState('ready');
  }

  get port(): number {
    return portOf(this.httpServer);
  }

  get healthPort(): number | undefined {
    return this.healthServer ? portOf(this.healthServer) : undefined;
  }

  get connectionCount(): number {
    return this.peers.size;
  }

  /**
   * Re-read TLS_CERT_FILE/TLS_KEY_FILE (the CLI calls this on SIGHUP, e.g. after a certificate
   * renewal). Open connections are untouched; new TLS handshakes use the new pair. Throws when
   * the files cannot be read or do not form a valid pair, keeping the current certificate.
   * Returns false when native TLS is not configured.
   */
  reloadTls(): boolean {
    const { tlsCertFile, tlsKeyFile } = this.config;
    if (!(this.httpServer instanceof https.Server) || !tlsCertFile || !tlsKeyFile) return false;
    this.httpServer.setSecureContext({
      cert: readFileSync(tlsCertFile),
      key: readFileSync(tlsKeyFile),
    });
    return true;
  }

  private async isReady(): Promise<boolean> {
    if (this.state !== 'ready' || this.backend.circuitOpen) return false;
    return this.backend.ping();
  }

  /** Graceful shutdown (SPEC.md §9). Idempotent: every call returns the same promise. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.setState('draining');
    clearInterval(this.heartbeatTimer);
    clearInterval(this.expiryTimer);
    clearInterval(this.syncTimer);
    const httpClosed = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    this.httpServer.closeIdleConnections();

    // Close every client first, then remove memberships and tell the other nodes.
    const goingAway = { code: this.config.shutdownCloseCode, reason: Close.goingAway.reason };
    const closed: Promise<void>[] = [];
    const leaving = [...this.peers];
    for (const peer of leaving) {
      if (peer.ws.readyState !== WebSocket.CLOSED)
        closed.push(new Promise((resolve) => peer.ws.once('close', () => resolve())));
      peer.close(goingAway);
    }
    const left = leaving.map((peer) => this.leave(peer, 'shutdown', false));
    await Promise.allSettled(left);
    await withTimeout(Promise.all(closed), this.config.drainTimeoutMs);
    for (const peer of this.peers) peer.ws.terminate();

    this.auth?.close?.();
    await this.backend
      .close()
      .catch((err: unknown) => this.logger.warn({ err }, 'backend close failed'));
    this.wss.close();
    await withTimeout(httpClosed, 1000);
    this.httpServer.closeAllConnections();
    if (this.healthServer) {
      const h = this.healthServer;
      await new Promise<void>((resolve) => h.close(() => resolve()));
      h.closeAllConnections();
    }
    this.setState('closed');
  }

  // ---- admission -------------------------------------------------------------------------

  private selectProtocol(protocols: Set<string>): string | false {
    const required = this.config.subprotocol;
    if (required !== undefined) return protocols.has(required) ? required : false;
    // A token carried as a subprotocol entry is never echoed back as the selected protocol.
    for (const p of protocols) if (!p.startsWith('access_token.')) return p;
    return false;
  }

  /**
   * MAX_PENDING_UPGRADES caps the sockets still in their handshake: accepted (TCP, and for
   * native TLS the TLS handshake) but without a complete request head. A slowloris client
   * holds one slot until HANDSHAKE_TIMEOUT_MS drops it; past the cap, new sockets are refused.
   */
  private onConnection(socket: Socket): void {
    if (this.handshaking.size >= this.config.maxPendingUpgrades) {
      this.metrics.admissionRefusals.inc({ reason: 'pending-upgrades' });
      if (this.httpServer instanceof https.Server) socket.destroy();
      else endAndDestroy(socket, 'HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.handshaking.add(socket);
    socket.once('close', () => this.handshaking.delete(socket));
  }

  /** The request head arrived on this socket (a TLS socket wraps the one counted). */
  private handshakeDone(socket: Duplex): void {
    if (!this.handshaking.delete(socket as Socket))
      this.handshaking.delete((socket as { _parent?: Socket })._parent as Socket);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    this.handshakeDone(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.admit(ws, req));
  }

  /** SPEC.md §1: a straight run of guard clauses, in the contract's order. */
  private admit(ws: WebSocket, req: http.IncomingMessage): void {
    const ip = clientIp(req, this.config.trustProxy);
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const roomIdParam = params.get('roomId');
    const version = params.get('v') === '2' ? 2 : 1;
    const now = this.now();
    const peer = new Peer(
      `client:${randomUUID()}`,
      roomIdParam ?? '',
      ws,
      ip,
      version,
      new TokenBucket(this.config.rateLimitMessagesPer10s, 10_000, now),
      this,
    );
    this.peers.add(peer);
    this.connectionsPerIp.set(ip, (this.connectionsPerIp.get(ip) ?? 0) + 1);
    ws.on('message', (data, isBinary) => this.onFrame(peer, data as Buffer, isBinary));
    ws.on('pong', () => (peer.alive = true));
    ws.on('error', (err) =>
      this.logger.debug({ peerId: peer.id, err: err.message }, 'socket error'),
    );
    ws.on('close', (code) => this.onClose(peer, code));

    const c = this.config;
    if (this.state !== 'ready') return this.refuse(peer, Close.goingAway, 'draining');
    if (this.backend.circuitOpen)
      return this.refuse(peer, Close.serviceUnavailable, 'circuit-open');
    if (!this.connRate.hit(`conn:${ip}`, now))
      return this.refuse(peer, Close.rateLimited, 'rate-limited');
    if (this.peers.size > c.maxConnections)
      return this.refuse(peer, Close.tooManyConnections, 'max-connections');
    if ((this.connectionsPerIp.get(ip) ?? 0) > c.maxConnectionsPerIp)
      return this.refuse(peer, Close.tooManyConnections, 'max-connections-per-ip');
    if (!isValidRoomId(roomIdParam, c.roomIdMaxLength))
      return this.refuse(peer, Close.invalidRoomId, 'invalid-room-id');
    if (!originAllowed(req.headers.origin, c.allowedOrigins, c.allowMissingOrigin))
      return this.refuse(peer, Close.originNotAllowed, 'origin');
    if (c.subprotocol !== undefined && ws.protocol !== c.subprotocol)
      return this.refuse(peer, Close.subprotocolRequired, 'subprotocol');
    if (c.requireWss && !isSecure(req, c.trustProxy))
      return this.refuse(peer, Close.wssRequired, 'wss-required');
    void this.admitAsync(peer, req);
  }

  /** Steps 7–9: authentication, then the atomic join with capacity. */
  private async admitAsync(peer: Peer, req: http.IncomingMessage): Promise<void> {
    if (this.auth) {
      const result = await this.auth.authenticate(req, peer.roomId);
      if (!result.ok)
        return this.refuse(
          peer,
          result.close,
          result.close === Close.forbidden ? 'forbidden' : 'unauthorized',
        );
      peer.expiresAt = result.expiresAt;
    }
    if (peer.state !== 'pending') return; // closed while authenticating
    const roomId = peer.roomId;
    const newRoom = !this.hub.get(roomId);
    if (newRoom) {
      const reserved = this.roomsReserved.get(roomId);
      if (
        reserved === undefined &&
        this.hub.rooms.size + this.roomsReserved.size >= this.config.maxRooms
      )
        return this.refuse(peer, Close.tooManyRooms, 'max-rooms');
      this.roomsReserved.set(roomId, (reserved ?? 0) + 1);
    }
    try {
      await this.join(peer);
    } finally {
      if (newRoom) {
        const n = this.roomsReserved.get(roomId)! - 1;
        if (n === 0) this.roomsReserved.delete(roomId);
        else this.roomsReserved.set(roomId, n);
      }
    }
  }

  private async join(peer: Peer): Promise<void> {
    let members: string[];
    try {
      const joined = await this.backend.join(peer.roomId, peer.id, this.config.roomCapacity, {
        version: peer.version,
      });
      if (!joined.ok) return this.refuse(peer, Close.roomFull, 'room-full');
      members = joined.members;
    } catch (err) {
      this.logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend join failed');
      return this.refuse(peer, Close.internalError, 'backend-error');
    }
    if (peer.state !== 'pending' || this.state !== 'ready') {
      // The client left, or the server began draining, while the join was in flight.
      this.backend.leave(peer.roomId, peer.id).catch(() => undefined);
      if (peer.state === 'pending') this.refuse(peer, Close.goingAway, 'draining');
      return;
    }
    this.open(peer, members);
  }

  private open(peer: Peer, members: string[]): void {
    peer.state = 'open';
    this.metrics.activeConnections.inc();
    const room = this.hub.add(peer);
    if (peer.version === 2) {
      const peers = members.filter((id) => id !== peer.id);
      peer.send(
        Buffer.from(controlMessage('welcome', { peerId: peer.id, roomId: peer.roomId, peers })),
      );
    }
    this.hub.deliverJoin(room, peer.id);
    this.backend.publish(peer.roomId, {
      senderId: peer.id,
      data: { type: 'control', action: 'peer-joined', payload: { peerId: peer.id } },
      originServerId: this.backend.serverId,
      event: 'join',
    });
    this.logger.info(
      { peerId: peer.id, roomId: peer.roomId, ip: peer.ip, v: peer.version },
      'peer joined',
    );
    const pending = peer.pending;
    peer.pending = undefined;
    if (pending) for (const f of pending) this.handleFrame(peer, f.data, f.isBinary);
  }

  private refuse(peer: Peer, entry: CloseEntry, reason: string): void {
    this.metrics.admissionRefusals.inc({ reason });
    this.logger.info({ ip: peer.ip, code: entry.code, reason: entry.reason }, 'connection refused');
    peer.state = 'left';
    peer.pending = undefined;
    peer.close(entry);
  }

  // ---- messages (the hot path) -----------------------------------------------------------

  private onFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    if (peer.state === 'open') return this.handleFrame(peer, data, isBinary);
    if (peer.state === 'pending' && peer.pending) {
      if (peer.pending.length < MAX_PENDING_FRAMES) peer.pending.push({ data, isBinary });
      else this.metrics.rateLimitDrops.inc({ limit: 'pending' });
    }
  }

  /** Parse once, validate once, limit, deliver locally, then publish (never awaited). */
  private handleFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    if (data.length > this.config.messageMaxBytes) return; // SPEC §2: dropped silently
    const now = this.now();
    if (!peer.bucket.take(now)) return this.drop('client');
    if (!this.ipMessages.hit(peer.ipLimitKey, now)) return this.drop('ip');
    if (!this.roomMessages.hit(peer.roomLimitKey, now)) return this.drop('room');

    const parsed = parseMessage(data.toString('utf8'), peer.version === 2);
    if (parsed.kind === 'not-json') return;
    if (parsed.kind === 'schema-error') {
      this.metrics.schemaRejects.inc();
      return peer.send(SCHEMA_ERROR_BUF);
    }
    const { message, to } = parsed;
    if (message.type === 'control' && message.action === 'refresh-token' && this.auth)
      return void this.refreshToken(peer, message.payload);

    const room = this.hub.get(peer.roomId);
    if (!room) return;
    // A binary frame's bytes are forwarded as a text frame only if they are valid UTF-8.
    const raw = parsed.pristine && (!isBinary || isUtf8(data)) ? data : undefined;
    const start = performance.now();
    if (to !== undefined && !room.peers.has(to) && !this.backend.knowsPeer(room.id, to)) {
      return peer.send(UNKNOWN_PEER_BUF);
    }
    this.hub.deliver(room, peer.id, message, raw, to);
    this.metrics.fanoutDuration.observe((performance.now() - start) / 1000);
    this.metrics.messagesForwarded.add();
    if (to === undefined || !room.peers.has(to)) {
      const envelope: Envelope = {
        senderId: peer.id,
        data: message,
        originServerId: this.backend.serverId,
      };
      if (to !== undefined) envelope.to = to;
      this.backend.publish(peer.roomId, envelope);
    }
  }

  private drop(limit: 'client' | 'ip' | 'room'): void {
    this.metrics.rateLimitDrops.inc({ limit });
  }

  private async refreshToken(peer: Peer, payload: unknown): Promise<void> {
    const token = (payload as { token?: unknown } | null)?.token;
    if (!this.auth || typeof token !== 'string') return;
    const result = await this.auth.verifyToken(token, peer.roomId);
    if (result.ok) peer.expiresAt = result.expiresAt;
    else this.disconnect(peer, result.close, 'refresh-refused');
  }

  // ---- leaving ---------------------------------------------------------------------------

  /** PeerHost: a receiver too far behind is closed, not buffered further (SPEC.md §6). */
  onOverloaded(peer: Peer): void {
    this.metrics.backpressureCloses.inc();
    this.disconnect(peer, Close.serverOverloaded, 'backpressure');
  }

  private disconnect(peer: Peer, entry: CloseEntry, cause: string): void {
    void this.leave(peer, cause, true);
    peer.close(entry);
  }

  private onClose(peer: Peer, code: number): void {
    this.peers.delete(peer);
    const n = (this.connectionsPerIp.get(peer.ip) ?? 1) - 1;
    if (n <= 0) this.connectionsPerIp.delete(peer.ip);
    else this.connectionsPerIp.set(peer.ip, n);
    if (peer.state === 'pending') {
      peer.state = 'left'; // admission still running notices and undoes its join
      peer.pending = undefined;
      return;
    }
    void this.leave(peer, code === 1006 ? 'error' : 'close', true);
  }

  /**
   * Remove an admitted peer: local room, peers here and on other nodes, cluster membership.
   * Idempotent. `notifyLocal` is false at shutdown, when every local peer is closing anyway.
   */
  private async leave(peer: Peer, cause: string, notifyLocal: boolean): Promise<void> {
    if (peer.state !== 'open') return;
    peer.state = 'left';
    this.metrics.activeConnections.dec();
    this.metrics.disconnects.inc({ cause });
    this.logger.info({ peerId: peer.id, roomId: peer.roomId, cause }, 'peer left');
    const room = this.hub.remove(peer);
    if (room && notifyLocal) this.hub.deliverLeave(room, peer.id);
    this.backend.publish(peer.roomId, {
      senderId: peer.id,
      data: { type: 'peer-disconnected' },
      originServerId: this.backend.serverId,
      event: 'leave',
    });
    try {
      await this.backend.leave(peer.roomId, peer.id);
    } catch (err) {
      // The node lease expires the entry later (redis backend); nothing else to do here.
      this.logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend leave failed');
    }
  }

  // ---- timers: one per server, never one per socket -------------------------------------

  /** SPEC.md §3: terminate connections that did not answer the previous ping. */
  private heartbeat(): void {
    for (const peer of this.peers) {
      if (!peer.alive) {
        void this.leave(peer, 'heartbeat', true);
        peer.ws.terminate();
        continue;
      }
      peer.alive = false;
      if (peer.ws.readyState === WebSocket.OPEN) peer.ws.ping();
    }
  }

  private expireTokens(): void {
    const now = this.now();
    for (const peer of this.peers)
      if (peer.state === 'open' && peer.expiresAt !== undefined && peer.expiresAt <= now)
        this.disconnect(peer, Close.tokenExpired, 'token-expired');
  }

  /** Share per-IP/per-room counts with the cluster; on failure the limits stay local. */
  private async syncLimits(): Promise<void> {
    const sync = this.backend.syncCounters?.bind(this.backend);
    if (!sync) return;
    const now = this.now();
    await Promise.all(
      [this.connRate, this.ipMessages, this.roomMessages].map(async (counter) => {
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

/** The status line for a request Node's parser refused (it is written before any upgrade). */
function clientErrorStatus(err: NodeJS.ErrnoException): string {
  if (err.code === 'HPE_HEADER_OVERFLOW') return '431 Request Header Fields Too Large';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return '408 Request Timeout';
  return '400 Bad Request';
}

/**
 * Answer and close for good: end() alone leaves the socket half-open for as long as a client
 * that never reads keeps it, which is exactly what a slowloris client does.
 */
function endAndDestroy(socket: Duplex, response: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(response, () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}

function listenOn(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function portOf(server: http.Server): number {
  const addr = server.address();
  return addr && typeof addr === 'object' ? addr.port : 0;
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

/**
 * The listening side: the HTTP or HTTPS server that carries WebSocket upgrades and the HTTP
 * routes, its slowloris defences (MAX_PENDING_UPGRADES, HANDSHAKE_TIMEOUT_MS), and the optional
 * HEALTH_PORT server. Knows nothing of rooms: a complete upgrade request is handed to `onUpgrade`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Faults } from './faults.js';
import { createRequestHandler, type RouteHost } from './http-routes.js';

export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

export class Listener {
  readonly httpServer: http.Server | https.Server;
  readonly healthServer: http.Server | undefined;
  /** Sockets accepted but whose request head has not arrived yet (the slowloris cap). */
  readonly handshaking = new Set<Socket>();
  /**
   * A handshaking socket's 'close' handler: one function per server, the socket as `this`,
   * removed once the head arrives. A closure per socket (and `once`'s wrapper around it)
   * stayed with every upgraded connection for its whole life.
   */
  private readonly onHandshakeClose: (this: Socket) => void;

  constructor(
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly faults: Faults,
    routes: RouteHost,
    onUpgrade: UpgradeHandler,
  ) {
    const handshaking = this.handshaking;
    this.onHandshakeClose = function () {
      handshaking.delete(this);
    };
    const serverOptions: http.ServerOptions = {
      // Slowloris: the whole upgrade request must arrive within the handshake timeout. Node
      // enforces these only every connectionsCheckingInterval (30 s by default), so check
      // often enough for the timeout to mean what it says.
      headersTimeout: config.handshakeTimeoutMs,
      requestTimeout: config.handshakeTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, config.handshakeTimeoutMs / 4)),
    };
    const onRequest = this.guardRequests(
      createRequestHandler(routes, false, config.metricsOnMainPort),
    );
    this.httpServer =
      config.tlsCertFile && config.tlsKeyFile
        ? createTlsServer(
            { ...serverOptions, handshakeTimeout: config.handshakeTimeoutMs },
            config.tlsCertFile,
            config.tlsKeyFile,
            onRequest,
          )
        : http.createServer(serverOptions, onRequest);
    this.httpServer.on('connection', (socket: Socket) => this.onConnection(socket));
    this.httpServer.on('request', (req: http.IncomingMessage) => this.handshakeDone(req.socket));
    this.httpServer.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', destroySelf);
      this.handshakeDone(socket);
      try {
        onUpgrade(req, socket, head);
      } catch (err) {
        // Before or after the 101: either way only this socket is lost.
        this.faults.report('upgrade', err);
        socket.destroy();
      }
    });
    this.httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) =>
      endAndDestroy(socket, `HTTP/1.1 ${clientErrorStatus(err)}\r\nConnection: close\r\n\r\n`),
    );
    if (config.healthPort !== undefined)
      this.healthServer = http.createServer(this.guardRequests(createRequestHandler(routes, true)));
  }

  /** The HTTP routes' error boundary: a throw answers 500 (or drops the response), never more. */
  private guardRequests(handler: http.RequestListener): http.RequestListener {
    return (req, res) => {
      try {
        handler(req, res);
      } catch (err) {
        this.faults.report('http-request', err);
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { connection: 'close' }).end();
      }
    };
  }

  /** Listen; a port or address that cannot be had is a ConfigError naming the setting. */
  async listen(): Promise<void> {
    const { wsPort, healthPort, host } = this.config;
    await listenOn(this.httpServer, wsPort, host).catch((err: unknown) => {
      throw listenError(err, 'WS_PORT', wsPort, host);
    });
    if (this.healthServer)
      await listenOn(this.healthServer, healthPort ?? 0, host).catch((err: unknown) => {
        throw listenError(err, 'HEALTH_PORT', healthPort ?? 0, host);
      });
  }

  get port(): number {
    return portOf(this.httpServer);
  }

  get healthPort(): number | undefined {
    return this.healthServer ? portOf(this.healthServer) : undefined;
  }

  /** Re-read the TLS pair (SIGHUP); false when native TLS is not configured. */
  reloadTls(): boolean {
    const { tlsCertFile, tlsKeyFile } = this.config;
    if (!(this.httpServer instanceof https.Server) || !tlsCertFile || !tlsKeyFile) return false;
    this.httpServer.setSecureContext({
      cert: readFileSync(tlsCertFile),
      key: readFileSync(tlsKeyFile),
    });
    return true;
  }

  /** Stop accepting; resolves when the main server has closed (idle keep-alives are dropped). */
  stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.httpServer.close(() => resolve()));
    this.httpServer.closeIdleConnections();
    return closed;
  }

  /** Drop whatever is still connected, then close the health server. */
  async closeAll(): Promise<void> {
    this.httpServer.closeAllConnections();
    const h = this.healthServer;
    if (h) {
      await new Promise<void>((resolve) => h.close(() => resolve()));
      h.closeAllConnections();
    }
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
    socket.on('close', this.onHandshakeClose);
  }

  /** The request head arrived on this socket (a TLS socket wraps the one counted). */
  private handshakeDone(socket: Duplex): void {
    const counted = this.handshaking.has(socket as Socket)
      ? (socket as Socket)
      : (socket as { _parent?: Socket })._parent;
    if (counted && this.handshaking.delete(counted)) counted.off('close', this.onHandshakeClose);
  }
}

/** An upgraded socket's error handler (one function, not a closure per socket). */
function destroySelf(this: Duplex): void {
  this.destroy();
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
export function endAndDestroy(socket: Duplex, response: string): void {
  if (!socket.writable) return void socket.destroy();
  socket.end(response, () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The native TLS server; unreadable or mismatched PEM files are a ConfigError. */
function createTlsServer(
  options: https.ServerOptions,
  certFile: string,
  keyFile: string,
  onRequest: http.RequestListener,
): https.Server {
  const read = (file: string, setting: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(setting, file, `a readable file (${errorMessage(err)})`);
    }
  };
  const cert = read(certFile, 'TLS_CERT_FILE');
  const key = read(keyFile, 'TLS_KEY_FILE');
  try {
    return https.createServer({ ...options, cert, key }, onRequest);
  } catch (err) {
    throw new ConfigError(
      'TLS_CERT_FILE',
      certFile,
      `a PEM certificate matching the PEM key in TLS_KEY_FILE (${errorMessage(err)})`,
    );
  }
}

function listenError(err: unknown, portSetting: string, port: number, host: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES')
    return new ConfigError(portSetting, String(port), `a port free to listen on (${code})`);
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new ConfigError('HOST', host, `an address of this machine (${code})`);
  return err;
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

/**
 * Admission (SPEC.md §1): a straight run of guard clauses in the contract's order, then
 * authentication and the atomic join. Frames that arrive meanwhile wait in `peer.pending` and
 * are handed to the message path, in order, once the peer is open.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Close, type CloseEntry } from '../close-codes.js';
import type { DetachedMember } from '../backend/backend.js';
import { errorMessage } from '../errors.js';
import { controlMessage } from '../protocol/message.js';
import { isValidRoomId } from '../protocol/room-id.js';
import { clientIp, isSecure } from './client-ip.js';
import type { ServerContext } from './context.js';
import type { Departures } from './departures.js';
import type { MessagePath } from './message-path.js';
import { originAllowed } from './origin.js';
import { Peer } from './peer.js';
import type { Resumed } from './resume.js';
import { RoomResume } from './resume-state.js';
import { ipLimitKey } from './ip-key.js';
import { SUBPROTOCOL_TOKEN_PREFIX } from './jwt-auth.js';
import type { SignalingSocket } from './signaling-socket.js';
import type { RawData, WebSocket } from 'ws';
import { queryOf } from './request-target.js';

export class Admission {
  /** New rooms whose first admission is in flight, so concurrent joins cannot pass MAX_ROOMS. */
  private readonly roomsReserved = new Map<string, number>();
  /** Admissions between the upgrade and open/refuse (shutdown waits for them). */
  private readonly inFlight = new Set<Promise<void>>();

  /**
   * The socket's event handlers, one function each per server with the socket as `this` (its
   * peer in `ws.peer`): closures per socket would hold four functions and their context for
   * the connection's whole life.
   */
  private readonly onMessage: (this: WebSocket, data: RawData, isBinary: boolean) => void;
  private readonly onClose: (this: WebSocket, code: number) => void;
  private readonly onError: (this: WebSocket, err: Error) => void;

  constructor(
    private readonly ctx: ServerContext,
    private readonly messages: MessagePath,
    private readonly departures: Departures,
  ) {
    this.onMessage = function (data, isBinary) {
      messages.onFrame(peerOf(this), data as Buffer, isBinary);
    };
    this.onClose = function (code) {
      departures.onClose(peerOf(this), code);
    };
    this.onError = function (err) {
      ctx.logger.debug({ peerId: peerOf(this).id, err: err.message }, 'socket error');
    };
  }

  /**
   * ws's handleProtocols: the subprotocol to select, or false for none. SUBPROTOCOL, when
   * offered, is selected. Otherwise the first entry offered is echoed, even with SUBPROTOCOL set
   * and not offered: a client (a browser in particular) fails a handshake that selects none of
   * the protocols it offered, and would see 1006 instead of the 1008 "Subprotocol required"
   * admission sends right after (SPEC.md §1 step 5). A token carried as a subprotocol entry is
   * never echoed; a client offering only that gets no protocol selected.
   */
  selectProtocol(protocols: Set<string>): string | false {
    const required = this.ctx.config.subprotocol;
    if (required !== undefined && protocols.has(required)) return required;
    for (const p of protocols) if (!p.startsWith(SUBPROTOCOL_TOKEN_PREFIX)) return p;
    return false;
  }

  /** ws's upgrade callback; its error boundary: a throw costs this socket only. */
  admit(ws: SignalingSocket, req: http.IncomingMessage): void {
    try {
      this.admitSync(ws, req);
    } catch (err) {
      this.ctx.faults.report('admission', err);
      ws.terminate();
    }
  }

  /** Steps 1–6, synchronous; then steps 7–9 in admitAsync. */
  private admitSync(ws: SignalingSocket, req: http.IncomingMessage): void {
    const { ctx } = this;
    const c = ctx.config;
    const ip = clientIp(req, c.trustProxy);
    const ipKey = ipLimitKey(ip, c.ipv6PrefixLength);
    const params = queryOf(req.url);
    const roomIdParam = params.get('roomId');
    const version = params.get('v') === '2' ? 2 : 1;
    const now = ctx.now();
    const peer = new Peer(
      `client:${randomUUID()}`,
      roomIdParam ?? '',
      ws,
      ip,
      version,
      this.departures,
      ipKey,
    );
    const resumeToken = params.get('resume');
    if (
      version === 2 &&
      resumeToken !== null &&
      resumeToken.length > 0 &&
      resumeToken.length <= 256
    )
      peer.resumeToken = resumeToken;
    ctx.peers.add(peer);
    ctx.connectionsPerIp.set(ipKey, (ctx.connectionsPerIp.get(ipKey) ?? 0) + 1);
    ws.peer = peer;
    ws.on('message', this.onMessage);
    ws.on('pong', onPong);
    ws.on('error', this.onError);
    ws.on('close', this.onClose);

    if (ctx.state() !== 'ready') return this.refuse(peer, Close.goingAway, 'draining');
    if (ctx.backend.circuitOpen) return this.refuse(peer, Close.serviceUnavailable, 'circuit-open');
    if (!ctx.limits.conn.hit(ipKey, now))
      return this.refuse(peer, Close.rateLimited, 'rate-limited');
    if (ctx.peers.size > c.maxConnections)
      return this.refuse(peer, Close.tooManyConnections, 'max-connections');
    if ((ctx.connectionsPerIp.get(ipKey) ?? 0) > c.maxConnectionsPerIp)
      return this.refuse(peer, Close.tooManyConnections, 'max-connections-per-ip');
    if (!isValidRoomId(roomIdParam, c.roomIdMaxLength))
      return this.refuse(peer, Close.invalidRoomId, 'invalid-room-id');
    if (!originAllowed(req.headers.origin, c.allowedOrigins, c.allowMissingOrigin))
      return this.refuse(peer, Close.originNotAllowed, 'origin');
    if (c.subprotocol !== undefined && ws.protocol !== c.subprotocol)
      return this.refuse(peer, Close.subprotocolRequired, 'subprotocol');
    if (c.requireWss && !isSecure(req, c.trustProxy))
      return this.refuse(peer, Close.wssRequired, 'wss-required');
    const admitting = this.admitAsync(peer, req)
      .catch((err: unknown) => {
        this.ctx.faults.report('admission', err, { roomId: peer.roomId });
        if (peer.state === 'pending') this.refuse(peer, Close.internalError, 'internal-error');
        else if (peer.state === 'open')
          this.departures.disconnect(peer, Close.internalError, 'internal-error');
      })
      .finally(() => this.inFlight.delete(admitting));
    this.inFlight.add(admitting);
  }

  /**
   * Resolves when every admission in flight has opened or been refused, including undoing a
   * join that completed after draining began. Shutdown awaits this before closing the backend,
   * so no late join leaves a member behind in a backend that can no longer remove it.
   */
  settled(): Promise<void> {
    return Promise.allSettled([...this.inFlight]).then(() => undefined);
  }

  /** Steps 7–9: authentication, then the atomic join with capacity. */
  private async admitAsync(peer: Peer, req: http.IncomingMessage): Promise<void> {
    const auth = this.ctx.auth;
    if (auth) {
      const result = await auth.authenticate(req, peer.roomId);
      if (!result.ok)
        return this.refuse(
          peer,
          result.close,
          result.close === Close.forbidden ? 'forbidden' : 'unauthorized',
        );
      peer.expiresAt = result.expiresAt;
      peer.subject = result.subject;
    }
    if (peer.state !== 'pending') return; // closed while authenticating
    const roomId = peer.roomId;
    const newRoom = !this.ctx.hub.get(roomId);
    if (newRoom) {
      const reserved = this.roomsReserved.get(roomId);
      if (
        reserved === undefined &&
        this.ctx.hub.rooms.size + this.roomsReserved.size >= this.ctx.config.maxRooms
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
    const { backend, config, logger, resume } = this.ctx;
    const token = peer.resumeToken;
    peer.resumeToken = undefined;
    if (token !== undefined && resume.enabled) {
      // SPEC.md §13: a resume that does not succeed is a normal join, never an error.
      try {
        const resumed = await resume.claim(peer, token);
        if (resumed) return this.openResumed(peer, resumed);
      } catch (err) {
        logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend resume failed');
        return this.refuse(peer, Close.internalError, 'backend-error');
      }
      if (peer.state !== 'pending') return;
    }
    let members: string[];
    let detached: DetachedMember[];
    try {
      const joined = await backend.join(peer.roomId, peer.id, config.roomCapacity, {
        version: peer.version,
        subject: peer.subject,
      });
      this.ctx.webhooks.joined(peer.roomId, peer.id, peer.subject, joined);
      if (!joined.ok) return this.refuse(peer, Close.roomFull, 'room-full');
      members = joined.members;
      detached = joined.detached;
    } catch (err) {
      logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend join failed');
      return this.refuse(peer, Close.internalError, 'backend-error');
    }
    if (peer.state !== 'pending' || this.ctx.state() !== 'ready') {
      // The client left, or the server began draining, while the join was in flight.
      if (peer.state === 'pending') this.refuse(peer, Close.goingAway, 'draining');
      return this.undoJoin(peer);
    }
    if (!this.roomSlotFor(peer.roomId)) {
      // The room existed when this join began (so it reserved nothing), but its last member
      // left meanwhile and other rooms took the slots: creating it again would pass MAX_ROOMS.
      this.refuse(peer, Close.tooManyRooms, 'max-rooms');
      return this.undoJoin(peer);
    }
    this.open(peer, members, detached, token !== undefined);
  }

  /** Whether opening a peer of roomId keeps the node within MAX_ROOMS. */
  private roomSlotFor(roomId: string): boolean {
    const { hub, config } = this.ctx;
    if (hub.get(roomId) || this.roomsReserved.has(roomId)) return true;
    return hub.rooms.size + this.roomsReserved.size < config.maxRooms;
  }

  private async undoJoin(peer: Peer): Promise<void> {
    try {
      const note = { cause: 'close', subject: peer.subject };
      const left = await this.ctx.backend.leave(peer.roomId, peer.id, note);
      this.ctx.webhooks.left(peer.roomId, peer.id, peer.subject, 'close', left);
    } catch (err) {
      this.ctx.logger.warn(
        { err: errorMessage(err), roomId: peer.roomId },
        'backend leave failed; the member expires with its lease',
      );
    }
  }

  private open(
    peer: Peer,
    members: string[],
    detached: DetachedMember[],
    triedResume: boolean,
  ): void {
    const { metrics, hub, backend, logger, resume } = this.ctx;
    peer.state = 'open';
    metrics.activeConnections.inc();
    const room = hub.add(peer);
    if (detached.length > 0) {
      const rr = (room.resume ??= new RoomResume());
      for (const d of detached) rr.add(d.peerId, d.deadline, false);
    }
    if (peer.version === 2) {
      const peers = members.filter((id) => id !== peer.id);
      const welcome: Record<string, unknown> = {
        peerId: peer.id,
        roomId: peer.roomId,
        peers,
        ...this.ctx.ice.welcome(peer),
      };
      const resumeToken = resume.issueToken(peer);
      if (resumeToken !== undefined) welcome.resumeToken = resumeToken;
      if (triedResume) welcome.resumed = false;
      peer.send(Buffer.from(controlMessage('welcome', welcome)));
    }
    hub.deliverJoin(room, peer.id);
    backend.publish(peer.roomId, {
      senderId: peer.id,
      data: { type: 'control', action: 'peer-joined', payload: { peerId: peer.id } },
      originServerId: backend.serverId,
      event: 'join',
    });
    logger.info(
      { peerId: peer.id, roomId: peer.roomId, ip: peer.ip, v: peer.version },
      'peer joined',
    );
    this.messages.replayPending(peer);
  }

  /**
   * A resumed peer (SPEC.md §13): the welcome with `resumed: true` is its first frame, then
   * the kept messages, then live traffic; nobody is told it joined (nobody saw it leave).
   */
  private openResumed(peer: Peer, resumed: Resumed): void {
    const { metrics, hub, logger, resume } = this.ctx;
    peer.id = resumed.peerId;
    peer.state = 'open';
    metrics.activeConnections.inc();
    const room = hub.add(peer);
    const welcome = {
      peerId: peer.id,
      roomId: peer.roomId,
      peers: resumed.peers,
      ...this.ctx.ice.welcome(peer),
      resumeToken: resume.issueToken(peer),
      resumed: true,
    };
    peer.send(Buffer.from(controlMessage('welcome', welcome)));
    resumed.replay(peer);
    if (room.resume?.empty) hub.release(room);
    logger.info(
      { peerId: peer.id, roomId: peer.roomId, ip: peer.ip, detachedMs: resumed.detachedMs },
      'peer resumed',
    );
    const pending = peer.pending;
    peer.pending = undefined;
    if (pending) for (const f of pending) this.messages.handleFrame(peer, f.data, f.isBinary);
  }

  private refuse(peer: Peer, entry: CloseEntry, reason: string): void {
    this.ctx.metrics.admissionRefusals.inc({ reason });
    this.ctx.logger.info(
      { ip: peer.ip, code: entry.code, reason: entry.reason },
      'connection refused',
    );
    peer.state = 'left';
    peer.pending = undefined;
    this.departures.release(peer);
    peer.close(entry);
  }
}

/** The peer admit() put on a socket before adding the handlers that read it. */
function peerOf(ws: WebSocket): Peer {
  return (ws as SignalingSocket).peer!;
}

function onPong(this: WebSocket): void {
  peerOf(this).alive = true;
}

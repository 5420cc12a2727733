/**
 * Admission (SPEC.md §1): a straight run of guard clauses in the contract's order, then
 * authentication and the atomic join. Frames that arrive meanwhile wait in `peer.pending` and
 * are handed to the message path, in order, once the peer is open.
 */
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { WebSocket } from 'ws';
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
import { TokenBucket } from './rate-limit.js';
import type { Resumed } from './resume.js';
import { RoomResume } from './resume-state.js';

export class Admission {
  /** New rooms whose first admission is in flight, so concurrent joins cannot pass MAX_ROOMS. */
  private readonly roomsReserved = new Map<string, number>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly messages: MessagePath,
    private readonly departures: Departures,
  ) {}

  /** ws's handleProtocols: the subprotocol to select, or false for none. */
  selectProtocol(protocols: Set<string>): string | false {
    const required = this.ctx.config.subprotocol;
    if (required !== undefined) return protocols.has(required) ? required : false;
    // A token carried as a subprotocol entry is never echoed back as the selected protocol.
    for (const p of protocols) if (!p.startsWith('access_token.')) return p;
    return false;
  }

  /** Steps 1–6, synchronous; then steps 7–9 in admitAsync. */
  admit(ws: WebSocket, req: http.IncomingMessage): void {
    const { ctx } = this;
    const c = ctx.config;
    const ip = clientIp(req, c.trustProxy);
    const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const roomIdParam = params.get('roomId');
    const version = params.get('v') === '2' ? 2 : 1;
    const now = ctx.now();
    const peer = new Peer(
      `client:${randomUUID()}`,
      roomIdParam ?? '',
      ws,
      ip,
      version,
      new TokenBucket(c.rateLimitMessagesPer10s, 10_000, now),
      this.departures,
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
    ctx.connectionsPerIp.set(ip, (ctx.connectionsPerIp.get(ip) ?? 0) + 1);
    ws.on('message', (data, isBinary) => this.messages.onFrame(peer, data as Buffer, isBinary));
    ws.on('pong', () => (peer.alive = true));
    ws.on('error', (err) =>
      ctx.logger.debug({ peerId: peer.id, err: err.message }, 'socket error'),
    );
    ws.on('close', (code) => this.departures.onClose(peer, code));

    if (ctx.state() !== 'ready') return this.refuse(peer, Close.goingAway, 'draining');
    if (ctx.backend.circuitOpen) return this.refuse(peer, Close.serviceUnavailable, 'circuit-open');
    if (!ctx.limits.conn.hit(`conn:${ip}`, now))
      return this.refuse(peer, Close.rateLimited, 'rate-limited');
    if (ctx.peers.size > c.maxConnections)
      return this.refuse(peer, Close.tooManyConnections, 'max-connections');
    if ((ctx.connectionsPerIp.get(ip) ?? 0) > c.maxConnectionsPerIp)
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
      if (!joined.ok) return this.refuse(peer, Close.roomFull, 'room-full');
      members = joined.members;
      detached = joined.detached;
    } catch (err) {
      logger.warn({ err: errorMessage(err), roomId: peer.roomId }, 'backend join failed');
      return this.refuse(peer, Close.internalError, 'backend-error');
    }
    if (peer.state !== 'pending' || this.ctx.state() !== 'ready') {
      // The client left, or the server began draining, while the join was in flight.
      backend.leave(peer.roomId, peer.id).catch(() => undefined);
      if (peer.state === 'pending') this.refuse(peer, Close.goingAway, 'draining');
      return;
    }
    this.open(peer, members, detached, token !== undefined);
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
    const pending = peer.pending;
    peer.pending = undefined;
    if (pending) for (const f of pending) this.messages.handleFrame(peer, f.data, f.isBinary);
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
    peer.close(entry);
  }
}

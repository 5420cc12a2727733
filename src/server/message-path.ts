/**
 * The hot path (SPEC.md §2, §6): one frame from an admitted peer, top to bottom. Parse once,
 * validate once, limit, deliver locally, then publish to the other nodes (never awaited).
 * Nothing here allocates per receiver what can be shared (room-hub.ts frames once per protocol
 * version) and nothing awaits the backend.
 */
import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Envelope } from '../backend/backend.js';
import { Close } from '../close-codes.js';
import { SCHEMA_ERROR_REPLY, UNKNOWN_PEER_REPLY, parseMessage } from '../protocol/message.js';
import type { ServerContext } from './context.js';
import type { Departures } from './departures.js';
import type { Peer } from './peer.js';
import { TokenBucket } from './rate-limit.js';
import type { Resumption } from './resume.js';

const SCHEMA_ERROR_BUF = Buffer.from(SCHEMA_ERROR_REPLY);
const UNKNOWN_PEER_BUF = Buffer.from(UNKNOWN_PEER_REPLY);
/**
 * What a connection may hold while its admission runs (auth, the join): at most this many
 * frames and PENDING_MAX_BYTES in all; more are dropped (counted as rate limited). A frame
 * over MESSAGE_MAX_BYTES would be dropped after admission anyway, so it is dropped on arrival.
 * Without the byte cap one pending socket could hold 256 × MAX_FRAME_BYTES (256 MiB).
 */
const MAX_PENDING_FRAMES = 256;
const PENDING_MAX_BYTES = 1024 * 1024;

export class MessagePath {
  private readonly resume: Resumption;

  constructor(
    private readonly ctx: ServerContext,
    private readonly departures: Departures,
  ) {
    this.resume = ctx.resume;
  }

  /**
   * Every frame of a connection arrives here; before admission it waits in `peer.pending`.
   * The frame handler's error boundary: a throw closes this connection with 1011, nothing more.
   */
  onFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    try {
      if (peer.state === 'open') return this.handleFrame(peer, data, isBinary);
      if (peer.state === 'pending' && peer.pending) this.hold(peer, data, isBinary);
    } catch (err) {
      this.fault(peer, err);
    }
  }

  /** The frames held during admission, in order, once the peer is open. */
  replayPending(peer: Peer): void {
    const pending = peer.pending;
    peer.pending = undefined;
    peer.pendingBytes = 0;
    if (!pending) return;
    try {
      for (const f of pending)
        if (peer.state === 'open') this.handleFrame(peer, f.data, f.isBinary);
    } catch (err) {
      this.fault(peer, err);
    }
  }

  private hold(peer: Peer, data: Buffer, isBinary: boolean): void {
    const pending = peer.pending!;
    if (
      data.length > this.ctx.config.messageMaxBytes ||
      pending.length >= MAX_PENDING_FRAMES ||
      peer.pendingBytes + data.length > Math.max(PENDING_MAX_BYTES, this.ctx.config.messageMaxBytes)
    )
      return this.ctx.metrics.rateLimitDrops.inc({ limit: 'pending' });
    pending.push({ data, isBinary });
    peer.pendingBytes += data.length;
  }

  private fault(peer: Peer, err: unknown): void {
    this.ctx.faults.report('frame', err, { roomId: peer.roomId });
    this.departures.disconnect(peer, Close.internalError, 'internal-error');
  }

  /** Parse once, validate once, limit, deliver locally, then publish (never awaited). */
  handleFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    const { config, metrics, limits, hub, backend } = this.ctx;
    if (data.length > config.messageMaxBytes) return; // SPEC §2: dropped silently
    const now = this.ctx.now();
    // The bucket is made at the first message: one made at admission would be just as full.
    const bucket = (peer.bucket ??= new TokenBucket(config.rateLimitMessagesPer10s, 10_000, now));
    if (!bucket.take(now)) return metrics.rateLimitDrops.inc({ limit: 'client' });
    if (!limits.ipMessages.hit(peer.ipKey, now)) return metrics.rateLimitDrops.inc({ limit: 'ip' });
    if (!limits.roomMessages.hit(peer.roomId, now))
      return metrics.rateLimitDrops.inc({ limit: 'room' });

    const text = data.toString('utf8');
    const parsed = parseMessage(text, peer.version === 2);
    if (parsed.kind === 'not-json') return;
    if (parsed.kind === 'schema-error') {
      metrics.schemaRejects.inc();
      return peer.send(SCHEMA_ERROR_BUF);
    }
    const { message, to } = parsed;
    if (message.type === 'control' && message.action === 'refresh-token' && this.ctx.auth)
      return void this.refreshToken(peer, message.payload).catch((err: unknown) =>
        this.fault(peer, err),
      );

    const room = hub.get(peer.roomId);
    if (!room) return;
    // A binary frame's bytes are forwarded as a text frame only if they are valid UTF-8.
    const raw = parsed.pristine && (!isBinary || isUtf8(data)) ? data : undefined;
    const start = performance.now();
    if (
      to !== undefined &&
      !room.peers.has(to) &&
      !backend.knowsPeer(room.id, to) &&
      room.resume?.detached.has(to) !== true
    ) {
      return peer.send(UNKNOWN_PEER_BUF);
    }
    hub.deliver(room, peer.id, message, raw, to);
    metrics.fanoutDuration.observe((performance.now() - start) / 1000);
    metrics.messagesForwarded.add();
    if (to === undefined || !room.peers.has(to)) {
      const envelope: Envelope = {
        senderId: peer.id,
        data: message,
        originServerId: backend.serverId,
        seq: this.resume.nextSeq(),
      };
      if (to !== undefined) envelope.to = to;
      // Detached receivers (SPEC.md §13): kept before the publish, on the same connection.
      if (room.resume !== undefined) this.resume.keep(room, envelope);
      // A pristine frame's text is the message as JSON: the envelope carries it as is (an
      // offer is then not unescaped and serialized again for the other nodes).
      backend.publish(peer.roomId, envelope, raw !== undefined ? text : undefined);
    }
  }

  /** In-band token refresh: a valid token extends the connection, a bad one ends it. */
  private async refreshToken(peer: Peer, payload: unknown): Promise<void> {
    const token = (payload as { token?: unknown } | null)?.token;
    const auth = this.ctx.auth;
    if (!auth || typeof token !== 'string') return;
    const result = await auth.verifyToken(token, peer.roomId);
    if (result.ok) peer.expiresAt = result.expiresAt;
    else this.departures.disconnect(peer, result.close, 'refresh-refused');
  }
}

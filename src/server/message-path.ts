/**
 * The hot path (SPEC.md §2, §6): one frame from an admitted peer, top to bottom. Parse once,
 * validate once, limit, deliver locally, then publish to the other nodes (never awaited).
 * Nothing here allocates per receiver what can be shared (room-hub.ts frames once per protocol
 * version) and nothing awaits the backend.
 */
import { isUtf8 } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { Envelope } from '../backend/backend.js';
import { SCHEMA_ERROR_REPLY, UNKNOWN_PEER_REPLY, parseMessage } from '../protocol/message.js';
import type { ServerContext } from './context.js';
import type { Departures } from './departures.js';
import type { Peer } from './peer.js';
import type { Resumption } from './resume.js';

const SCHEMA_ERROR_BUF = Buffer.from(SCHEMA_ERROR_REPLY);
const UNKNOWN_PEER_BUF = Buffer.from(UNKNOWN_PEER_REPLY);
/** Frames kept per connection while its admission runs; more are dropped (as rate limited). */
const MAX_PENDING_FRAMES = 256;

export class MessagePath {
  /** Per-node message sequence: with originServerId it identifies an envelope (SPEC.md §13). */
  private seq = 0;
  private readonly resume: Resumption;

  constructor(
    private readonly ctx: ServerContext,
    private readonly departures: Departures,
  ) {
    this.resume = ctx.resume;
  }

  /** Every frame of a connection arrives here; before admission it waits in `peer.pending`. */
  onFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    if (peer.state === 'open') return this.handleFrame(peer, data, isBinary);
    if (peer.state === 'pending' && peer.pending) {
      if (peer.pending.length < MAX_PENDING_FRAMES) peer.pending.push({ data, isBinary });
      else this.ctx.metrics.rateLimitDrops.inc({ limit: 'pending' });
    }
  }

  /** Parse once, validate once, limit, deliver locally, then publish (never awaited). */
  handleFrame(peer: Peer, data: Buffer, isBinary: boolean): void {
    const { config, metrics, limits, hub, backend } = this.ctx;
    if (data.length > config.messageMaxBytes) return; // SPEC §2: dropped silently
    const now = this.ctx.now();
    if (!peer.bucket.take(now)) return metrics.rateLimitDrops.inc({ limit: 'client' });
    if (!limits.ipMessages.hit(peer.ipLimitKey, now))
      return metrics.rateLimitDrops.inc({ limit: 'ip' });
    if (!limits.roomMessages.hit(peer.roomLimitKey, now))
      return metrics.rateLimitDrops.inc({ limit: 'room' });

    const parsed = parseMessage(data.toString('utf8'), peer.version === 2);
    if (parsed.kind === 'not-json') return;
    if (parsed.kind === 'schema-error') {
      metrics.schemaRejects.inc();
      return peer.send(SCHEMA_ERROR_BUF);
    }
    const { message, to } = parsed;
    if (message.type === 'control' && message.action === 'refresh-token' && this.ctx.auth)
      return void this.refreshToken(peer, message.payload);

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
        seq: ++this.seq,
      };
      if (to !== undefined) envelope.to = to;
      // Detached receivers (SPEC.md §13): kept before the publish, on the same connection.
      if (room.resume !== undefined) this.resume.keep(room, envelope);
      backend.publish(peer.roomId, envelope);
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

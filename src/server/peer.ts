/**
 * One WebSocket connection and its per-connection state. Admission and message handling live
 * in admission.ts and message-path.ts; this holds state and the guarded send.
 */
import { WebSocket } from 'ws';
import type { CloseEntry } from '../close-codes.js';
import type { TokenBucket } from './rate-limit.js';

export type PeerState = 'pending' | 'open' | 'left';

export interface PeerHost {
  readonly backpressureThreshold: number;
  /** Called when a send would push the receiver's buffer past the threshold. */
  onOverloaded(peer: Peer): void;
  /** Called when the server has sent this peer a close frame. */
  onClosing(peer: Peer): void;
}

export class Peer {
  state: PeerState = 'pending';
  /** Answered the last heartbeat ping. */
  alive = true;
  /** Frames received while admission was in progress, processed in order once admitted. */
  pending: { data: Buffer; isBinary: boolean }[] | undefined = [];
  /** Bytes held in `pending` (capped in message-path.ts). */
  pendingBytes = 0;
  /** When the connection's token expires (ms since epoch), if auth is on. */
  expiresAt: number | undefined;
  /** Hash of the resume token its last welcome carried (SPEC.md §13); v2 only. */
  resumeTokenHash: string | undefined;
  /** The `resume=` token it connected with, until admission has used it. */
  resumeToken: string | undefined;
  /** The token's `sub`, if auth is on and the token has one (TURN user, server API listing). */
  subject: string | undefined;
  /** Its slot in the heartbeat wheel while the server holds it (heartbeat-wheel.ts). */
  heartbeatSlot: number | undefined = undefined;
  /** Its message rate limit, made at its first message (message-path.ts). */
  bucket: TokenBucket | undefined = undefined;

  constructor(
    /** Replaced by the resumed peer's id when a resume succeeds (SPEC.md §13). */
    public id: string,
    readonly roomId: string,
    readonly ws: WebSocket,
    readonly ip: string,
    readonly version: 1 | 2,
    private readonly host: PeerHost,
    /**
     * What per-IP limits count this peer under (ip-key.ts: an IPv6 address by its prefix); the
     * per-IP and per-room counters are keyed by it and by roomId as they are (rate-limit.ts).
     */
    readonly ipKey: string = ip,
  ) {}

  /** Send a text frame unless the receiver is too far behind (then it is closed instead). */
  send(buf: Buffer): void {
    const ws = this.ws;
    if (this.state !== 'open' || ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount + buf.length > this.host.backpressureThreshold) {
      this.host.onOverloaded(this);
      return;
    }
    ws.send(buf, { binary: false });
  }

  close(entry: CloseEntry | { code: number; reason: string }): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      this.ws.close(entry.code, entry.reason);
      this.host.onClosing(this);
    }
  }
}

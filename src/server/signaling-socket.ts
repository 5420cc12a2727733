/**
 * The server's WebSocket class (ws lets a server supply its own subclass).
 * - ws closes an oversized frame with 1009 and no reason; SPEC.md §2 wants "Message too big",
 *   so the reason is added here rather than by patching instances.
 * - `peer` points back to the connection's Peer, so the socket's event handlers can be one
 *   function per server (the socket is `this`) instead of closures per socket: with 100,000
 *   idle connections, each closure and its context is memory held for the connection's life.
 */
import { WebSocket } from 'ws';
import { Close } from '../close-codes.js';
import type { Peer } from './peer.js';

export class SignalingSocket extends WebSocket {
  peer: Peer | undefined = undefined;

  override close(code?: number, data?: string | Buffer): void {
    if (code === Close.messageTooBig.code && (data === undefined || data.length === 0))
      data = Close.messageTooBig.reason;
    super.close(code, data);
  }
}

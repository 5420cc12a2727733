/**
 * A close the server starts must not hold the socket for long. ws waits up to 30 s for the
 * client's close frame (and a slow receiver's close frame itself may wait behind a megabyte of
 * unread data), so a socket the server refused or closed as overloaded kept its memory and
 * buffers that long. Here such a socket gets CLOSE_GRACE_MS to finish the closing handshake and
 * is then terminated. One timer per server, running only while some socket is closing.
 */
import { WebSocket } from 'ws';

export const CLOSE_GRACE_MS = 2000;

export class CloseGrace {
  /** Sockets closing, with their deadline; insertion order is deadline order. */
  private readonly closing = new Map<WebSocket, number>();
  private timer: NodeJS.Timeout | undefined;
  private draining = false;

  constructor(private readonly graceMs: number = CLOSE_GRACE_MS) {}

  /** The server sent `ws` a close frame: terminate it if it is still open after the grace. */
  add(ws: WebSocket): void {
    if (this.draining || ws.readyState === WebSocket.CLOSED || this.closing.has(ws)) return;
    this.closing.set(ws, Date.now() + this.graceMs);
    ws.once('close', () => this.closing.delete(ws));
    this.timer ??= setInterval(() => this.sweep(), Math.max(10, this.graceMs / 4)).unref();
  }

  get size(): number {
    return this.closing.size;
  }

  /** Shutdown: closes started from now on wait for DRAIN_TIMEOUT_MS instead. */
  drain(): void {
    this.draining = true;
  }

  /** Terminate every socket still closing and stop the timer. */
  terminateAll(): void {
    for (const ws of this.closing.keys()) ws.terminate();
    this.closing.clear();
    this.stopTimer();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [ws, deadline] of this.closing) {
      if (deadline > now) break;
      this.closing.delete(ws);
      ws.terminate();
    }
    if (this.closing.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

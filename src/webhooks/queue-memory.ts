/**
 * In-process delivery queue (memory backend, or a single node): a bounded FIFO per URL.
 * Entries are lost with the process; SIGTERM drains it for up to DRAIN_TIMEOUT_MS.
 */
import type { QueuedEvent } from './events.js';
import type { DeliveryQueue, DropListener, QueueHead } from './queue.js';

export class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly entries: QueuedEvent[] = [];
  /** Attempts made on the current head. */
  private headAttempts = 0;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly max: number,
    private readonly onDropped: DropListener,
  ) {}

  get size(): number {
    return this.entries.length;
  }

  push(event: QueuedEvent): void {
    if (this.closed) return this.onDropped(1);
    this.entries.push(event);
    // The head once attempted (in flight, or waiting for its retry) stays; the bound counts
    // the entries waiting behind it, and the oldest of those go.
    const keep = this.headAttempts > 0 ? 1 : 0;
    const excess = this.entries.length - keep - this.max;
    if (excess > 0) {
      this.entries.splice(keep, excess);
      this.onDropped(excess);
    }
    this.wake?.();
  }

  async next(waitMs: number): Promise<QueueHead | undefined> {
    if (this.entries.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.wake = done;
      });
      this.wake = undefined;
    }
    const head = this.entries[0];
    return head && { event: head, attempts: this.headAttempts };
  }

  async attempting(id: string, n: number): Promise<void> {
    if (this.entries[0]?.id === id) this.headAttempts = n;
  }

  async remove(id: string): Promise<void> {
    if (this.entries[0]?.id !== id) return; // dropped meanwhile
    this.entries.shift();
    this.headAttempts = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
  }
}

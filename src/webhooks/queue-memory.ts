/**
 * In-process delivery queue (memory backend): a bounded FIFO per URL. Entries are lost with
 * the process; SIGTERM gives it up to DRAIN_TIMEOUT_MS to empty.
 */
import type { QueuedEvent } from './events.js';
import type { DeliveryQueue, DropListener, QueueEntry } from './queue.js';

export class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly entries: QueueEntry[] = [];
  private seq = 0;
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
    this.entries.push({ ref: String(++this.seq), event, attempts: 0 });
    if (this.entries.length > this.max) this.dropOldest(this.entries.length - this.max);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Entries being attempted (attempts > 0) stay; the oldest others go. */
  private dropOldest(excess: number): void {
    let dropped = 0;
    for (let i = 0; i < this.entries.length && dropped < excess;) {
      if (this.entries[i]!.attempts > 0) i++;
      else {
        this.entries.splice(i, 1);
        dropped++;
      }
    }
    if (dropped > 0) this.onDropped(dropped);
  }

  async window(limit: number): Promise<QueueEntry[]> {
    return this.entries.slice(0, limit);
  }

  waitForMore(after: string | undefined, waitMs: number): Promise<void> {
    const last = this.entries.at(-1)?.ref;
    if (this.closed || (last !== undefined && last !== after)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.wake = done; // one waiter: the queue's worker
    });
  }

  async attempting(ref: string, n: number): Promise<void> {
    const e = this.entries.find((x) => x.ref === ref);
    if (e) e.attempts = n;
  }

  async remove(ref: string): Promise<void> {
    const i = this.entries.findIndex((x) => x.ref === ref);
    if (i !== -1) this.entries.splice(i, 1);
  }

  async close(): Promise<void> {
    this.closed = true;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * A fake clock for code that takes its timer functions as a dependency (the client SDK's
 * `timers` option): nothing runs until the test advances the clock, so "no retry is scheduled"
 * is a fact to assert, not a wait.
 */
import type { Timers } from '../../client/index.js';

interface Pending {
  at: number;
  ms: number;
  fn: () => void;
}

export class FakeTimers implements Timers {
  now = 0;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();

  setTimeout = (fn: () => void, ms = 0): unknown => {
    const id = ++this.seq;
    this.pending.set(id, { at: this.now + ms, ms, fn });
    return id;
  };

  clearTimeout = (handle: unknown): void => {
    this.pending.delete(handle as number);
  };

  /** Delays of the timers still pending, in ms, in the order they were set. */
  get delays(): number[] {
    return [...this.pending.values()].map((p) => p.ms);
  }

  /** Move the clock forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, Pending] | undefined;
      for (const entry of this.pending) if (!next || entry[1].at < next[1].at) next = entry;
      if (!next || next[1].at > end) break;
      this.pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}

/**
 * Rate limits of SPEC.md §6.
 * - TokenBucket: per client, continuous refill.
 * - WindowCounter: fixed 10 s windows keyed by IP or room; the redis backend adds the other
 *   nodes' counts through `remote` (synced a few times a second, never per message).
 * Written by hand: these are a few lines each on the hot path, and the libraries that exist
 * (rate-limiter-flexible) make a store round trip per hit, which SPEC's hot path forbids.
 */

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(
    private readonly capacity: number,
    windowMs: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
    this.perMs = capacity / windowMs;
  }

  take(now: number): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.perMs);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Sliding-window estimate over fixed windows (the previous window's count weighted by how much
 * of it still overlaps the last `windowMs`), so a burst cannot double up at a window boundary.
 */
export class WindowCounter {
  private windowStart = 0;
  /** Best-known cluster total per key in the current window (this node's hits included). */
  private count = new Map<string, number>();
  /** The previous window's totals. */
  private prev = new Map<string, number>();
  /** Hits on this node not yet reported to the cluster (not kept when nothing syncs). */
  private unsynced = new Map<string, number>();
  private readonly synced: boolean;
  /**
   * The cluster's name of a key is `prefix + key` (e.g. `msg-ip:` + the IP key): the prefix is
   * added to the keys a sync sends and taken off the totals it returns, so the keys counted per
   * hit are strings every caller already holds (an IP key, a room id), never one built per
   * connection and held with it.
   */
  private readonly prefix: string;

  constructor(
    readonly limit: number,
    readonly windowMs = 10_000,
    opts: { prefix?: string; synced?: boolean } = {},
  ) {
    this.prefix = opts.prefix ?? '';
    this.synced = opts.synced ?? true;
  }

  private roll(now: number): void {
    const start = now - (now % this.windowMs);
    if (start === this.windowStart) return;
    this.prev = start === this.windowStart + this.windowMs ? this.count : new Map();
    this.windowStart = start;
    this.count = new Map();
    this.unsynced = new Map();
  }

  /** Count one hit for key; false when the key is over its limit (the hit is not counted). */
  hit(key: string, now: number): boolean {
    this.roll(now);
    const current = this.count.get(key) ?? 0;
    const prev = this.prev.get(key);
    const overlap = prev === undefined ? 0 : prev * (1 - (now - this.windowStart) / this.windowMs);
    if (current + overlap >= this.limit) return false;
    this.count.set(key, current + 1);
    if (this.synced) this.unsynced.set(key, (this.unsynced.get(key) ?? 0) + 1);
    return true;
  }

  /** Take the counts not yet reported, for the cluster sync. */
  drain(now: number): { windowStart: number; deltas: Map<string, number> } {
    this.roll(now);
    const deltas = this.unsynced;
    this.unsynced = new Map();
    // Only keys with hits since the last sync: the sync is proportional to activity. A key
    // this node stopped using is not read back (it needs no total for it); when it is used
    // again, the first sync after (within RATE_LIMIT_SYNC_MS) returns the cluster total with
    // its delta. Until then the node judges by the total it last knew, which is the overshoot
    // already allowed: one sync interval of this node's own hits.
    if (this.prefix === '' || deltas.size === 0) return { windowStart: this.windowStart, deltas };
    const named = new Map<string, number>();
    for (const [key, n] of deltas) named.set(this.prefix + key, n);
    return { windowStart: this.windowStart, deltas: named };
  }

  /** Apply cluster totals returned by a sync of `windowStart` (ignored if the window moved on). */
  applyTotals(windowStart: number, totals: Map<string, number>): void {
    if (windowStart !== this.windowStart) return;
    // The totals include what was drained; hits since then are still in `unsynced`.
    for (const [name, total] of totals) {
      const key = this.keyOf(name);
      this.count.set(key, total + (this.unsynced.get(key) ?? 0));
    }
  }

  /** Put back deltas whose sync failed, so they are reported next time. */
  restore(windowStart: number, deltas: Map<string, number>): void {
    if (windowStart !== this.windowStart) return;
    for (const [name, n] of deltas) {
      const key = this.keyOf(name);
      this.unsynced.set(key, (this.unsynced.get(key) ?? 0) + n);
    }
  }

  /** A key as counted here, from its cluster name. */
  private keyOf(name: string): string {
    return this.prefix === '' ? name : name.slice(this.prefix.length);
  }

  /** Keys tracked in the current window (bounded by the active IPs/rooms of two windows). */
  get size(): number {
    return this.count.size;
  }
}

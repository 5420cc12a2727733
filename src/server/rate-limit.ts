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
  /**
   * Per key, its counts: one Map lookup per hit, where the current, previous and unsynced
   * counts in three maps took three lookups and two stores (Map lookups and stores were 3.5 %
   * of Switchboard's user-space samples under perf at 17,000 msg/s, issue 11). A key with
   * nothing to carry is dropped when the window rolls, so the map holds the keys of two
   * windows at most, as the three maps did.
   */
  private slots = new Map<string, Slot>();
  /** Slots with hits not yet reported to the cluster, in the order of their first such hit. */
  private dirty: Slot[] = [];
  /** Whether anything syncs these counts (the redis backend); if not, nothing is kept for it. */
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
    // Once per window, O(keys of the window that ends): this window's counts become the
    // previous ones if the new window follows it directly; otherwise nothing is carried.
    const next = start === this.windowStart + this.windowMs;
    for (const [key, slot] of this.slots) {
      if (!next || slot.count === 0) this.slots.delete(key);
      else {
        slot.prev = slot.count;
        slot.count = 0;
        slot.unsynced = 0;
      }
    }
    this.windowStart = start;
    this.dirty = [];
  }

  private slot(key: string): Slot {
    let slot = this.slots.get(key);
    if (slot === undefined) this.slots.set(key, (slot = { key, count: 0, prev: 0, unsynced: 0 }));
    return slot;
  }

  /** Count one hit for key; false when the key is over its limit (the hit is not counted). */
  hit(key: string, now: number): boolean {
    this.roll(now);
    const slot = this.slot(key);
    const prev = slot.prev;
    const overlap = prev === 0 ? 0 : prev * (1 - (now - this.windowStart) / this.windowMs);
    if (slot.count + overlap >= this.limit) return false;
    slot.count++;
    if (this.synced && slot.unsynced++ === 0) this.dirty.push(slot);
    return true;
  }

  /** Take the counts not yet reported (keyed by cluster name), for the cluster sync. */
  drain(now: number): { windowStart: number; deltas: Map<string, number> } {
    this.roll(now);
    const deltas = new Map<string, number>();
    for (const slot of this.dirty) {
      deltas.set(this.prefix + slot.key, slot.unsynced);
      slot.unsynced = 0;
    }
    this.dirty = [];
    // Only keys with hits since the last sync: the sync is proportional to activity. A key
    // this node stopped using is not read back (it needs no total for it); when it is used
    // again, the first sync after (within RATE_LIMIT_SYNC_MS) returns the cluster total with
    // its delta. Until then the node judges by the total it last knew, which is the overshoot
    // already allowed: one sync interval of this node's own hits.
    return { windowStart: this.windowStart, deltas };
  }

  /** Apply cluster totals returned by a sync of `windowStart` (ignored if the window moved on). */
  applyTotals(windowStart: number, totals: Map<string, number>): void {
    if (windowStart !== this.windowStart) return;
    // The totals include what was drained; hits since then are still unsynced.
    for (const [name, total] of totals) {
      const slot = this.slot(this.keyOf(name));
      slot.count = total + slot.unsynced;
    }
  }

  /** Put back deltas whose sync failed, so they are reported next time. */
  restore(windowStart: number, deltas: Map<string, number>): void {
    if (windowStart !== this.windowStart) return;
    for (const [name, n] of deltas) {
      const slot = this.slot(this.keyOf(name));
      if (slot.unsynced === 0) this.dirty.push(slot);
      slot.unsynced += n;
    }
  }

  /** A key as counted here, from its cluster name. */
  private keyOf(name: string): string {
    return this.prefix === '' ? name : name.slice(this.prefix.length);
  }

  /** Keys tracked (bounded by the active IPs/rooms of two windows). */
  get size(): number {
    return this.slots.size;
  }
}

/** One key's counts in a WindowCounter. */
interface Slot {
  readonly key: string;
  /** Best-known cluster total in the current window (this node's hits included). */
  count: number;
  /** The previous window's total. */
  prev: number;
  /** Hits on this node not yet reported to the cluster. */
  unsynced: number;
}

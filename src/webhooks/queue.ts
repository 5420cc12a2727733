/**
 * The contract of a per-URL delivery queue (SPEC.md §15). One queue per webhook URL; the
 * delivery worker (delivery.ts) reads the oldest entries, attempts each until it is delivered
 * or finally fails, then removes it. Entries of one room are attempted one at a time, in
 * queue order; entries of different rooms concurrently. `queue-memory.ts` keeps entries in
 * this process; `queue-redis.ts` in Redis, so they survive the node that queued them.
 */
import type { QueuedEvent } from './events.js';

export interface QueueEntry {
  /** The entry's handle in its queue (not the webhook-id: an event is queued once per URL). */
  ref: string;
  event: QueuedEvent;
  /** Attempts already made (by any node), 0 for a fresh entry. */
  attempts: number;
}

export interface DeliveryQueue {
  /**
   * Append an event. Never waits and never throws: signaling calls it. Past the bound the
   * oldest entries not yet attempted are dropped and reported through `onDropped`.
   */
  push(event: QueuedEvent): void;
  /**
   * The oldest `limit` entries, oldest first; undefined when this node is not the one
   * delivering for the URL (Redis), after waiting up to `waitMs` for that to change.
   */
  window(limit: number, waitMs: number): Promise<QueueEntry[] | undefined>;
  /**
   * Resolve when entries newer than `after` (a ref from the last window; undefined: any) may
   * exist, or after about `waitMs`.
   */
  waitForMore(after: string | undefined, waitMs: number): Promise<void>;
  /** Record that attempt `n` of an entry starts (a node taking over continues the count). */
  attempting(ref: string, n: number): Promise<void>;
  /** Remove the entry: delivered, or finally failed. Idempotent. */
  remove(ref: string): Promise<void>;
  /** Entries waiting (memory only; undefined where counting costs a round trip). */
  readonly size: number | undefined;
  /** Wait for queued writes (Redis), stop any waiting, release resources. Idempotent. */
  close(): Promise<void>;
}

export type DropListener = (count: number) => void;

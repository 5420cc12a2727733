/**
 * The contract of a per-URL delivery queue (SPEC.md §15). One queue per webhook URL; the
 * delivery worker (delivery.ts) takes the oldest entry, attempts it until it is delivered or
 * finally fails, then removes it: deliveries to one URL leave in emission order, one at a
 * time. `queue-memory.ts` keeps entries in this process; `queue-redis.ts` in Redis, so entries
 * survive the node that queued them.
 */
import type { QueuedEvent } from './events.js';

export interface QueueHead {
  event: QueuedEvent;
  /** Attempts already made (by any node), 0 for a fresh entry. */
  attempts: number;
}

export interface DeliveryQueue {
  /**
   * Append an event. Never waits and never throws: signaling calls it. Past the bound the
   * oldest waiting entries are dropped (never the head once attempted) and reported through
   * `onDropped`.
   */
  push(event: QueuedEvent): void;
  /**
   * The oldest entry, waiting at most about `waitMs` for one; undefined when there is none
   * yet, or when this node is not the one delivering for the URL (Redis).
   */
  next(waitMs: number): Promise<QueueHead | undefined>;
  /** Record that attempt `n` of the head entry starts (so a node taking over continues the count). */
  attempting(id: string, n: number): Promise<void>;
  /** Remove the entry: delivered, or finally failed. Idempotent (it may have been dropped). */
  remove(id: string): Promise<void>;
  /** Entries waiting (memory only; undefined where counting costs a round trip). */
  readonly size: number | undefined;
  /** Wait for queued writes (Redis), stop waiting in next(), release resources. Idempotent. */
  close(): Promise<void>;
}

export type DropListener = (count: number) => void;

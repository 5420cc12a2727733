/**
 * When and how soon to reconnect, as plain functions (after ioredis' `retryStrategy`), so the
 * policy is testable without sockets.
 */
import { Close } from '../src/close-codes.js';

/**
 * Close codes after which reconnecting makes sense (SPEC.md §1, §6, §9): the server went away
 * or restarts (1001, and 1012 for operators who set SHUTDOWN_CLOSE_CODE to it), the connection
 * dropped (1006), an internal or backend error (1011), overload or rate limiting (1013).
 * Policy refusals (1008) and "Room is full" (1000) would be refused again: no retry.
 */
const RETRYABLE = new Set<number>([
  Close.goingAway.code,
  1006, // abnormal closure: never sent on the wire, reported locally when a connection drops
  Close.internalError.code,
  1012, // service restart
  Close.serviceUnavailable.code,
]);

export function isRetryable(code: number): boolean {
  return RETRYABLE.has(code);
}

export interface BackoffOptions {
  /** First delay before jitter, ms. @default 250 */
  initialDelayMs: number;
  /** Upper bound of a delay, ms. @default 10000 */
  maxDelayMs: number;
  /** Growth per attempt. @default 2 */
  factor: number;
  /** Attempts before giving up (Infinity: never). @default Infinity */
  maxRetries: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  maxRetries: Infinity,
};

/**
 * Delay before reconnect attempt `attempt` (0-based), or null to give up. Exponential growth
 * capped at maxDelayMs, with "equal jitter" (half fixed, half random) so that clients dropped
 * together by one server restart do not come back in lockstep, yet never retry at once.
 */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number | null {
  if (attempt >= opts.maxRetries) return null;
  const ceiling = Math.min(opts.maxDelayMs, opts.initialDelayMs * opts.factor ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * The delivery worker of one webhook URL (SPEC.md §15): takes the oldest queued event, POSTs
 * it signed, and removes it once delivered (2xx) or finally failed. Timeout, connection error,
 * 408, 429 and 5xx are retried with exponential backoff and full jitter, up to
 * WEBHOOK_MAX_ATTEMPTS attempts; any other status is final. One delivery in flight per URL
 * and per cluster, so a receiver sees a URL's events in emission order; a dead receiver
 * therefore holds the queue, which stays bounded (the oldest are dropped, counted).
 */
import type { Counter } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { QueuedEvent } from './events.js';
import type { DeliveryQueue, QueueHead } from './queue.js';
import type { WebhookSigner } from './signer.js';

export type DeliveryResult = 'ok' | 'retry' | 'failed' | 'dropped';

export interface DeliverySettings {
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** How long next() may wait for an entry before the loop looks at its state again. */
const IDLE_WAIT_MS = 2000;

/** Delay before attempt `attempt + 1`: base·2^(attempt−1), capped, full jitter in [½, 1]. */
export function backoffMs(
  attempt: number,
  base: number,
  max: number,
  random = Math.random,
): number {
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** SPEC.md §15: which answers are worth another attempt. */
export function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

type Outcome = { ok: true; status: number } | { ok: false; status: number | string };

export class DeliveryWorker {
  /** What logs name the URL by: its origin (a path or query may carry a token). */
  private readonly label: string;
  private running: Promise<void> | undefined;
  private stopping = false;
  private readonly stopController = new AbortController();
  /** Resolves a backoff sleep early when stopping. */
  private wakeSleep: (() => void) | undefined;

  constructor(
    readonly url: string,
    private readonly queue: DeliveryQueue,
    private readonly signer: WebhookSigner,
    private readonly settings: DeliverySettings,
    private readonly logger: Logger,
    private readonly counter: Counter<'result'>,
    private readonly now: () => number = Date.now,
  ) {
    this.label = new URL(url).origin;
  }

  start(): void {
    this.running ??= this.loop();
  }

  push(event: QueuedEvent): void {
    this.queue.push(event);
  }

  /**
   * Stop within about `drainMs`: a memory queue keeps delivering until it is empty (its
   * events are lost with the process); then no new attempt starts, the one in flight may
   * finish, and whatever is left is aborted (its entry stays queued: with Redis another node
   * delivers it).
   */
  async stop(drainMs: number): Promise<void> {
    const deadline = this.now() + drainMs;
    if (this.queue.size !== undefined)
      while ((this.queue.size ?? 0) > 0 && this.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    this.stopping = true;
    this.wakeSleep?.();
    await this.queue.close();
    const abort = setTimeout(() => this.stopController.abort(), Math.max(0, deadline - this.now()));
    await this.running;
    clearTimeout(abort);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let head: QueueHead | undefined;
      try {
        head = await this.queue.next(IDLE_WAIT_MS);
      } catch (err) {
        // Redis unreachable: wait a little, the queue reconnects by itself.
        this.logger.debug({ err: errorMessage(err), url: this.label }, 'webhook queue read failed');
        await this.sleep(500);
        continue;
      }
      if (!head || this.stopping) continue;
      await this.attempt(head);
    }
  }

  /** One attempt of the head entry, and what follows from it. Never throws. */
  private async attempt(head: QueueHead): Promise<void> {
    const { event } = head;
    const n = head.attempts + 1;
    try {
      if (n > this.settings.maxAttempts) {
        // A node died after the last attempt, before removing the entry.
        await this.queue.remove(event.id);
        return this.failed(event.id, 'attempts exhausted', head.attempts);
      }
      await this.queue.attempting(event.id, n);
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'webhook queue write failed');
      return this.sleep(500);
    }
    const outcome = await this.post(event.id, event.body);
    if (this.stopping && !outcome.ok) return; // aborted by stop(): stays queued
    try {
      if (outcome.ok) {
        this.counter.inc({ result: 'ok' });
        await this.queue.remove(event.id);
        return;
      }
      const again = typeof outcome.status === 'string' || retryable(outcome.status);
      if (again && n < this.settings.maxAttempts) {
        this.counter.inc({ result: 'retry' });
        const { retryBaseMs, retryMaxMs } = this.settings;
        return this.sleep(backoffMs(n, retryBaseMs, retryMaxMs));
      }
      await this.queue.remove(event.id);
      this.failed(event.id, outcome.status, n);
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'webhook queue write failed');
      await this.sleep(500);
    }
  }

  private failed(id: string, status: number | string, attempts: number): void {
    this.counter.inc({ result: 'failed' });
    this.logger.warn({ eventId: id, status, attempts, url: this.label }, 'webhook delivery failed');
  }

  private async post(id: string, body: string): Promise<Outcome> {
    const headers = this.signer.headers(id, Math.floor(this.now() / 1000), body);
    const signal = AbortSignal.any([
      this.stopController.signal,
      AbortSignal.timeout(this.settings.timeoutMs),
    ]);
    try {
      // Redirects are not followed: a webhook endpoint answers for itself (a 3xx is final).
      const res = await fetch(this.url, {
        method: 'POST',
        headers,
        body,
        signal,
        redirect: 'manual',
      });
      // Read (and discard) the answer so the connection returns to the keep-alive pool.
      await res.arrayBuffer().catch(() => undefined);
      return res.status >= 200 && res.status < 300
        ? { ok: true, status: res.status }
        : { ok: false, status: res.status };
    } catch (err) {
      const name = (err as { name?: string }).name;
      return { ok: false, status: name === 'TimeoutError' ? 'timeout' : 'connection-error' };
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeSleep = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeSleep = done;
    });
  }
}

/**
 * The delivery worker of one webhook URL (SPEC.md §15). It reads the oldest queued entries
 * and attempts up to WEBHOOK_CONCURRENCY of them at once, never two of one room: a room's
 * events reach the receiver one at a time, in the order they were queued (as LiveKit orders
 * its webhooks per room), while a slow receiver still sees many rooms in parallel.
 *
 * An entry is POSTed signed until it is delivered (2xx) or finally fails, then removed.
 * Timeout, connection error, 408, 429 and 5xx are retried with exponential backoff and full
 * jitter, up to WEBHOOK_MAX_ATTEMPTS attempts; any other status is final.
 */
import http from 'node:http';
import https from 'node:https';
import type { Counter } from 'prom-client';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { QueuedEvent } from './events.js';
import type { DeliveryQueue, QueueEntry } from './queue.js';
import type { WebhookSigner } from './signer.js';

export type DeliveryResult = 'ok' | 'retry' | 'failed' | 'dropped';

export interface DeliverySettings {
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Entries attempted at once (of different rooms). */
  concurrency: number;
}

/** How long a wait for entries (or for the lead) lasts before the loop looks again. */
const IDLE_WAIT_MS = 2000;
/** Entries read per look: enough to find rooms with nothing in flight behind busy ones. */
const WINDOW_FACTOR = 8;

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

type Outcome = { ok: true } | { ok: false; status: number | 'timeout' | 'connection-error' };

export class DeliveryWorker {
  /** What logs name the URL by: its origin (a path or query may carry a token). */
  private readonly label: string;
  private readonly target: URL;
  private readonly agent: http.Agent;
  private running: Promise<void> | undefined;
  private stopping = false;
  /** Requests in flight, destroyed when stop() gives up on them. */
  private readonly requests = new Set<http.ClientRequest>();
  /** Backoff sleeps in progress, ended at once by stop(). */
  private readonly sleepers = new Set<() => void>();
  /** Entries being attempted (or waiting for their retry), by ref → their room. */
  private readonly inFlight = new Map<string, string>();
  /** Resolved (and replaced) whenever an attempt task ends: the loop may start another. */
  private slot = deferred();

  constructor(
    readonly url: string,
    private readonly queue: DeliveryQueue,
    private readonly signer: WebhookSigner,
    private readonly settings: DeliverySettings,
    private readonly logger: Logger,
    private readonly counter: Counter<'result'>,
    private readonly now: () => number = Date.now,
  ) {
    this.target = new URL(url);
    this.label = this.target.origin;
    const Agent = this.target.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: settings.concurrency });
  }

  start(): void {
    this.running ??= this.loop();
  }

  push(event: QueuedEvent): void {
    this.queue.push(event);
  }

  /**
   * Stop within about `drainMs`: a memory queue keeps delivering until it is empty (its
   * events are lost with the process); then no new attempt starts, those in flight may
   * finish, and whatever is left is aborted (its entry stays queued: with Redis another node
   * delivers it).
   */
  async stop(drainMs: number): Promise<void> {
    const deadline = this.now() + drainMs;
    if (this.queue.size !== undefined)
      while ((this.queue.size ?? 0) > 0 && this.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    this.stopping = true;
    for (const wake of this.sleepers) wake();
    this.freeSlot();
    await this.queue.close();
    const abort = setTimeout(
      () => {
        for (const req of this.requests) req.destroy();
      },
      Math.max(0, deadline - this.now()),
    );
    await this.running;
    clearTimeout(abort);
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    const { concurrency } = this.settings;
    const tasks = new Set<Promise<void>>();
    while (!this.stopping) {
      if (this.inFlight.size >= concurrency) {
        await this.nextSlot();
        continue;
      }
      let window: QueueEntry[] | undefined;
      try {
        window = await this.queue.window(concurrency * WINDOW_FACTOR, IDLE_WAIT_MS);
      } catch (err) {
        // Redis unreachable: wait a little, the queue reconnects by itself.
        this.logger.debug({ err: errorMessage(err), url: this.label }, 'webhook queue read failed');
        await this.sleep(500);
        continue;
      }
      if (!window || this.stopping) continue; // not the delivering node (Redis), or stopping
      // Oldest first; a room with an entry in flight (or skipped here) waits its turn.
      const blocked = new Set(this.inFlight.values());
      let started = 0;
      for (const entry of window) {
        if (this.inFlight.size >= concurrency) break;
        if (this.inFlight.has(entry.ref)) continue;
        if (blocked.has(entry.event.key)) continue;
        blocked.add(entry.event.key);
        this.inFlight.set(entry.ref, entry.event.key);
        started++;
        const task = this.deliver(entry).finally(() => {
          this.inFlight.delete(entry.ref);
          tasks.delete(task);
          this.freeSlot();
        });
        tasks.add(task);
      }
      if (started > 0) continue;
      // Nothing to start: every entry read waits behind one in flight, or there is none.
      if (window.length >= concurrency * WINDOW_FACTOR || this.inFlight.size > 0) {
        // A full window: newer entries exist but wait for a slot; otherwise wait for either.
        if (window.length >= concurrency * WINDOW_FACTOR) await this.nextSlot();
        else await Promise.race([this.nextSlot(), this.more(window.at(-1)?.ref)]);
      } else {
        await this.more(window.at(-1)?.ref);
      }
    }
    await Promise.allSettled([...tasks]);
  }

  private nextSlot(): Promise<void> {
    return this.stopping ? Promise.resolve() : this.slot.promise;
  }

  private freeSlot(): void {
    const freed = this.slot;
    this.slot = deferred();
    freed.resolve();
  }

  private async more(after: string | undefined): Promise<void> {
    try {
      await this.queue.waitForMore(after, IDLE_WAIT_MS);
    } catch {
      await this.sleep(500);
    }
  }

  /** Attempt one entry until it is delivered or finally fails. Never throws. */
  private async deliver(entry: QueueEntry): Promise<void> {
    const { event, ref } = entry;
    for (let n = entry.attempts + 1; !this.stopping; n++) {
      try {
        if (n > this.settings.maxAttempts) {
          // A node died after the last attempt, before removing the entry.
          await this.queue.remove(ref);
          return this.failed(event.id, 'attempts exhausted', n - 1);
        }
        await this.queue.attempting(ref, n);
      } catch (err) {
        this.logger.debug({ err: errorMessage(err) }, 'webhook queue write failed');
        return this.sleep(500); // the entry stays; the loop reads it again
      }
      const outcome = await this.post(event.id, event.body);
      if (this.stopping && !outcome.ok) return; // aborted by stop(): stays queued
      try {
        if (outcome.ok) {
          this.counter.inc({ result: 'ok' });
          return await this.queue.remove(ref);
        }
        const { status } = outcome;
        if ((typeof status === 'string' || retryable(status)) && n < this.settings.maxAttempts) {
          this.counter.inc({ result: 'retry' });
          await this.sleep(backoffMs(n, this.settings.retryBaseMs, this.settings.retryMaxMs));
          continue;
        }
        await this.queue.remove(ref);
        return this.failed(event.id, status, n);
      } catch (err) {
        this.logger.debug({ err: errorMessage(err) }, 'webhook queue write failed');
        return this.sleep(500);
      }
    }
  }

  private failed(id: string, status: number | string, attempts: number): void {
    this.counter.inc({ result: 'failed' });
    this.logger.warn({ eventId: id, status, attempts, url: this.label }, 'webhook delivery failed');
  }

  /**
   * One signed POST. node:http rather than fetch (less CPU per request), and a plain timer
   * rather than AbortSignal.any over a long-lived signal (which Node 20 keeps references to).
   */
  private post(id: string, body: string): Promise<Outcome> {
    const headers = {
      ...this.signer.headers(id, Math.floor(this.now() / 1000), body),
      'content-length': String(Buffer.byteLength(body)),
    };
    const request = this.target.protocol === 'https:' ? https.request : http.request;
    return new Promise((resolve) => {
      let timedOut = false;
      const req = request(this.target, { method: 'POST', headers, agent: this.agent }, (res) => {
        const status = res.statusCode ?? 0;
        // Drain (and discard) the answer so the connection returns to the keep-alive pool.
        res.resume();
        res.once('end', () =>
          settle(status >= 200 && status < 300 ? { ok: true } : { ok: false, status }),
        );
        // Cut off mid-answer (timeout, stop, the receiver gone): 'close' without 'end'.
        res.once('close', () =>
          settle({ ok: false, status: timedOut ? 'timeout' : 'connection-error' }),
        );
        res.once('error', () => undefined);
      });
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, this.settings.timeoutMs);
      let settled = false;
      const settle = (o: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.requests.delete(req);
        resolve(o);
      };
      this.requests.add(req);
      req.once('error', () =>
        settle({ ok: false, status: timedOut ? 'timeout' : 'connection-error' }),
      );
      req.once('close', () =>
        settle({ ok: false, status: timedOut ? 'timeout' : 'connection-error' }),
      );
      req.end(body);
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Webhooks (SPEC.md §15): what the server calls when membership changes, and the per-URL
 * delivery behind it. The server never waits on it: every method here returns at once (an
 * event is built, serialized once and appended to each URL's queue).
 *
 * Once per cluster: the events follow from the atomic results of the backend's join, leave
 * and reaping (JoinResult.roomStarted, LeaveResult, BackendHandler.onMembersReaped), which
 * exactly one node sees per change; that node emits.
 */
import { Counter } from 'prom-client';
import type { JoinResult, LeaveResult, ReapedMember } from '../backend/backend.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { DeliveryWorker, type DeliveryResult } from './delivery.js';
import { buildEvent, type LeaveCause, type WebhookEvent } from './events.js';
import { MemoryDeliveryQueue } from './queue-memory.js';
import type { RedisQueues } from './queue-redis.js';
import { WebhookSigner, parseSecret } from './signer.js';

export interface WebhooksOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Stamped as `data.node`; the backend's server id. */
  serverId: string;
  /** Queue in Redis (pending deliveries survive this node) rather than in memory. */
  redis: boolean;
  now?: () => number;
}

export class Webhooks {
  private readonly workers: DeliveryWorker[] = [];
  private redisQueues: RedisQueues | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly serverId: string,
    private readonly now: () => number,
  ) {}

  /** No URL configured: every call is a no-op. */
  static disabled(): Webhooks {
    return new Webhooks('', Date.now);
  }

  static async create(opts: WebhooksOptions): Promise<Webhooks> {
    const { config, logger } = opts;
    const webhooks = new Webhooks(opts.serverId, opts.now ?? Date.now);
    if (config.webhookUrls.length === 0) return webhooks;
    const key = parseSecret(config.webhookSecret ?? '');
    if (!key) throw new Error('WEBHOOK_SECRET is not whsec_ + base64'); // validated by config
    const signer = new WebhookSigner(key);
    const counter = new Counter({
      name: 'signaling_webhook_deliveries_total',
      help: 'Webhook delivery outcomes: ok (2xx), retry (an attempt to be repeated), failed (given up), dropped (queue overflow)',
      labelNames: ['result'],
      registers: [opts.metrics.registry],
    });
    for (const result of ['ok', 'retry', 'failed', 'dropped'] satisfies DeliveryResult[])
      counter.inc({ result }, 0);
    const onDropped = (n: number) => counter.inc({ result: 'dropped' }, n);
    if (opts.redis) {
      const { RedisQueues } = await import('./queue-redis.js');
      webhooks.redisQueues = new RedisQueues(config, opts.serverId, logger);
    }
    for (const url of config.webhookUrls) {
      const queue = webhooks.redisQueues
        ? webhooks.redisQueues.queue(url, config.webhookQueueMax, onDropped)
        : new MemoryDeliveryQueue(config.webhookQueueMax, onDropped);
      const settings = {
        timeoutMs: config.webhookTimeoutMs,
        maxAttempts: config.webhookMaxAttempts,
        retryBaseMs: config.webhookRetryBaseMs,
        retryMaxMs: config.webhookRetryMaxMs,
        concurrency: config.webhookConcurrency,
      };
      webhooks.workers.push(
        new DeliveryWorker(url, queue, signer, settings, logger, counter, opts.now),
      );
    }
    return webhooks;
  }

  get enabled(): boolean {
    return this.workers.length > 0;
  }

  /** Connect (Redis) and start delivering. Rejects if Redis cannot be reached. */
  async start(): Promise<void> {
    if (this.started || !this.enabled) return;
    this.started = true;
    await this.redisQueues?.start();
    for (const w of this.workers) w.start();
  }

  /** Queue one event for every URL. Never waits, never throws. */
  emit(event: WebhookEvent): void {
    if (!this.enabled || this.closing) return;
    const queued = buildEvent(event, this.now());
    for (const w of this.workers) w.push(queued);
  }

  /** After a backend join: room.started (if this join started it), then peer.joined. */
  joined(roomId: string, peerId: string, subject: string | undefined, result: JoinResult): void {
    if (!this.enabled || !result.ok) return;
    const node = this.serverId;
    if (result.roomStarted) this.emit({ type: 'room.started', data: { roomId, node } });
    this.emit({ type: 'peer.joined', data: { roomId, peerId, subject, node } });
  }

  /** After a backend leave: peer.left (if this leave removed it), then room.finished. */
  left(
    roomId: string,
    peerId: string,
    subject: string | undefined,
    cause: LeaveCause,
    result: LeaveResult,
  ): void {
    if (!this.enabled || !result.removed) return;
    const node = this.serverId;
    this.emit({ type: 'peer.left', data: { roomId, peerId, cause, subject, node } });
    if (result.roomFinished) this.emit({ type: 'room.finished', data: { roomId, node } });
  }

  /** Members of a dead node this node reaped (BackendHandler.onMembersReaped). */
  reaped(roomId: string, reaped: ReapedMember[], roomFinished: boolean): void {
    if (!this.enabled) return;
    for (const { peerId, serverId } of reaped)
      this.emit({ type: 'peer.left', data: { roomId, peerId, cause: 'reaped', node: serverId } });
    if (roomFinished) this.emit({ type: 'room.finished', data: { roomId, node: this.serverId } });
  }

  /** A detached peer came back (SPEC.md §13); call from the node that resumed it. */
  resumed(roomId: string, peerId: string, subject: string | undefined): void {
    this.emit({ type: 'peer.resumed', data: { roomId, peerId, subject, node: this.serverId } });
  }

  /**
   * Stop delivering. Memory queues get up to `drainMs` to empty; Redis queues keep their
   * entries for the other nodes (the appends in flight land first). Idempotent.
   */
  close(drainMs: number): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.workers.map((w) => w.stop(drainMs)));
      await this.redisQueues?.close();
    })();
    return this.closing;
  }
}

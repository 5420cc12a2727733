/**
 * Delivery queues in Redis (SPEC.md §15: pending deliveries survive the node that queued
 * them). Per URL: a stream of queued events (bounded, the dropped ones counted: push.lua), a
 * leader key naming the one node that delivers for the URL, and a hash of the attempt counts
 * of the entries being attempted.
 *
 * Every node appends (push.lua); one node per URL delivers (window.lua reads the oldest
 * entries) and removes an entry only once it is delivered or finally failed. The leader
 * extends its lease every NODE_LEASE_MS / 3; when it dies (SIGKILL), its lease runs out and
 * another node takes over within about NODE_LEASE_MS + NODE_LEASE_MS / 3, starting with the
 * entries the dead node was attempting: at least once, the same webhook-id, the attempt count
 * carried on. A node that shuts down gracefully gives the lease up at once.
 *
 * Chosen over a consumer group with XAUTOCLAIM because a room's deliveries are ordered: with
 * one reader at a time the stream itself is the pending list, the reader knows which rooms
 * have an entry in flight, and nothing needs claiming.
 *
 * Background traffic: one leader script per URL and node every NODE_LEASE_MS / 3, plus a
 * blocking XREAD that the leader re-issues every 2 s while idle.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { retryStrategy } from '../backend/redis-connection.js';
import type { QueuedEvent } from './events.js';
import type { DeliveryQueue, DropListener, QueueEntry } from './queue.js';

interface WebhookScripts {
  whPush(
    queue: string,
    attempts: string,
    max: number,
    id: string,
    key: string,
    body: string,
  ): Promise<number>;
  whWindow(
    queue: string,
    leader: string,
    attempts: string,
    serverId: string,
    limit: number,
  ): Promise<(string | number)[]>;
  whLeader(leader: string, serverId: string, leaseMs: number, take: '0' | '1'): Promise<number>;
  whAttempt(
    queue: string,
    attempts: string,
    entryId: string,
    n: number,
    expiryMs: number,
  ): Promise<number>;
  whRemove(queue: string, attempts: string, entryId: string): Promise<number>;
}

const SCRIPTS: [keyof WebhookScripts, string, number][] = [
  ['whPush', 'push.lua', 2],
  ['whWindow', 'window.lua', 3],
  ['whLeader', 'leader.lua', 1],
  ['whAttempt', 'attempt.lua', 2],
  ['whRemove', 'remove.lua', 2],
];

/** The attempt count of a head outlives a long outage of every node, not forever. */
const ATTEMPTS_TTL_MS = 24 * 3600 * 1000;

type Client = Redis | Cluster;

function connect(config: Config, name: string, blocking: boolean): Client {
  const options: RedisOptions = {
    lazyConnect: true,
    connectionName: name,
    retryStrategy,
    // Appends fail at once while Redis is away (counted as dropped) instead of piling up.
    enableOfflineQueue: false,
    // A blocking read waits up to IDLE_WAIT_MS; the other commands answer quickly.
    commandTimeout: blocking ? undefined : 2000,
    maxRetriesPerRequest: blocking ? 0 : 1,
  };
  if (config.redisClusterNodes.length === 0)
    return new Redis(config.redisUrl ?? 'redis://127.0.0.1:6379', options);
  const auth: RedisOptions = {};
  if (config.redisUrl !== undefined) {
    const u = new URL(config.redisUrl);
    if (u.username) auth.username = decodeURIComponent(u.username);
    if (u.password) auth.password = decodeURIComponent(u.password);
    if (u.protocol === 'rediss:') auth.tls = {};
  }
  const nodes = config.redisClusterNodes.map((hostPort) => {
    const i = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
  });
  const { lazyConnect, enableOfflineQueue, ...redisOptions } = options;
  return new Cluster(nodes, {
    lazyConnect,
    enableOfflineQueue,
    clusterRetryStrategy: retryStrategy,
    redisOptions: { ...redisOptions, ...auth },
  });
}

/** The Redis side shared by the URLs of one node: connections, scripts, the leader timer. */
export class RedisQueues {
  private readonly commands: Client;
  private readonly scripts: WebhookScripts;
  private readonly queues: RedisDeliveryQueue[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly config: Config,
    readonly serverId: string,
    private readonly logger: Logger,
  ) {
    this.commands = connect(config, `${serverId}:webhooks`, false);
    this.commands.on('error', (err: Error) =>
      logger.debug({ err: err.message }, 'webhook redis error'),
    );
    for (const [name, file, numberOfKeys] of SCRIPTS) {
      const lua = readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
      this.commands.defineCommand(name, { numberOfKeys, lua });
    }
    this.scripts = this.commands as unknown as WebhookScripts;
  }

  queue(url: string, max: number, onDropped: DropListener): RedisDeliveryQueue {
    const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
    const base = `${this.config.redisKeyPrefix}webhook:{${hash}}`;
    // Its own connection for the blocking read: blocking commands on one connection queue
    // behind each other.
    const reader = connect(this.config, `${this.serverId}:webhooks-read`, true);
    reader.on('error', (err: Error) =>
      this.logger.debug({ err: err.message }, 'webhook redis error'),
    );
    const q = new RedisDeliveryQueue(this, reader, base, max, onDropped);
    this.queues.push(q);
    return q;
  }

  async start(): Promise<void> {
    await Promise.all([this.commands.connect(), ...this.queues.map((q) => q.reader.connect())]);
    this.commands.on('ready', () => void this.tick());
    await this.tick();
    this.timer = setInterval(
      () => void this.tick(),
      Math.max(50, Math.floor(this.config.nodeLeaseMs / 3)),
    );
    this.timer.unref();
  }

  /** Take or keep the lead of each URL. */
  private async tick(): Promise<void> {
    if (this.closed) return;
    await Promise.all(
      this.queues.map((q) =>
        this.scripts.whLeader(q.keys.leader, this.serverId, this.config.nodeLeaseMs, '1').then(
          (lead) => q.setLeader(lead === 1),
          (err: unknown) => {
            q.setLeader(false);
            this.logger.debug({ err: errorMessage(err) }, 'webhook leader refresh failed');
          },
        ),
      ),
    );
  }

  get cmd(): WebhookScripts & Client {
    return this.scripts as WebhookScripts & Client;
  }

  /** After every queue closed: give up the leads, disconnect. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await Promise.allSettled(
      this.queues.map((q) =>
        this.scripts.whLeader(q.keys.leader, this.serverId, this.config.nodeLeaseMs, '0'),
      ),
    );
    await this.commands.quit().catch(() => undefined);
    this.commands.disconnect();
  }
}

export class RedisDeliveryQueue implements DeliveryQueue {
  readonly keys: { queue: string; leader: string; attempts: string };
  readonly size = undefined;
  private leader = false;
  private wakeLeader: (() => void) | undefined;
  private readonly writes = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly redis: RedisQueues,
    readonly reader: Client,
    base: string,
    private readonly max: number,
    private readonly onDropped: DropListener,
  ) {
    this.keys = { queue: `${base}:queue`, leader: `${base}:leader`, attempts: `${base}:attempts` };
  }

  setLeader(lead: boolean): void {
    this.leader = lead;
    if (lead) this.wakeLeader?.();
  }

  push(event: QueuedEvent): void {
    if (this.closed) return this.onDropped(1);
    const { queue, attempts } = this.keys;
    const write = this.redis.cmd
      .whPush(queue, attempts, this.max, event.id, event.key, event.body)
      .then(
        (dropped) => {
          if (dropped > 0) this.onDropped(dropped);
        },
        () => this.onDropped(1),
      );
    this.writes.add(write);
    void write.finally(() => this.writes.delete(write));
  }

  async window(limit: number, waitMs: number): Promise<QueueEntry[] | undefined> {
    if (this.closed) return undefined;
    if (!this.leader) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.wakeLeader = undefined;
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.wakeLeader = done;
      });
      return undefined;
    }
    const { queue, leader, attempts } = this.keys;
    const reply = await this.redis.cmd.whWindow(
      queue,
      leader,
      attempts,
      this.redis.serverId,
      limit,
    );
    if (reply[0] === 0) {
      this.leader = false;
      return undefined;
    }
    const entries: QueueEntry[] = [];
    for (let i = 1; i + 4 < reply.length; i += 5)
      entries.push({
        ref: String(reply[i]),
        event: { id: String(reply[i + 1]), key: String(reply[i + 2]), body: String(reply[i + 3]) },
        attempts: Number(reply[i + 4]),
      });
    return entries;
  }

  /** A blocking read on this queue's own connection: returns on an append after `after`. */
  async waitForMore(after: string | undefined, waitMs: number): Promise<void> {
    if (this.closed) return;
    await this.reader.xread('BLOCK', waitMs, 'STREAMS', this.keys.queue, after ?? '0-0');
  }

  async attempting(ref: string, n: number): Promise<void> {
    const { queue, attempts } = this.keys;
    await this.redis.cmd.whAttempt(queue, attempts, ref, n, ATTEMPTS_TTL_MS);
  }

  async remove(ref: string): Promise<void> {
    await this.redis.cmd.whRemove(this.keys.queue, this.keys.attempts, ref);
  }

  /** Let the appends in flight land (so no event emitted before shutdown is lost). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeLeader?.();
    this.reader.disconnect(); // ends a blocking read at once
    await Promise.allSettled([...this.writes]);
  }
}

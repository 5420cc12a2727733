/**
 * Redis backend (SPEC.md §5–§9): room membership in Redis through Lua scripts, cross-node
 * delivery over pub/sub, node liveness by per-room leases, the circuit breaker, and the
 * distributed limit counters. Key and channel layout: redis-keys.ts; connections (single Redis
 * or Cluster with sharded pub/sub): redis-connection.ts; the scripts: lua/*.lua.
 *
 * Liveness: every member has a lease in `{P room:ROOM}:lease` that its node extends every
 * NODE_LEASE_MS / 3 (lease.lua, one pipelined call per local room). A node that dies stops
 * extending; its members are reaped when their lease has expired by the next lease tick of any
 * node with members in the room, or by the next join (join.lua). So a crashed node's members
 * are gone, and their peers told, at most NODE_LEASE_MS + NODE_LEASE_MS / 3 after the crash
 * (plus one round trip): 13.3 s with the default 10 s. The same refresh re-adds members that
 * Redis lost (a restart without persistence), so membership is rebuilt within NODE_LEASE_MS / 3.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import { CircuitOpenError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type {
  Backend,
  BackendHandler,
  ClaimResult,
  DetachedMember,
  Envelope,
  ExpireResult,
  JoinResult,
} from './backend.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { createRedisConnection, type RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RemoteMembers } from './remote-members.js';

/** Rate-limit counters outlive their 10 s window by the next one (it weighs the previous). */
const COUNTER_EXPIRY_MS = 30_000;

export interface RedisBackendOptions {
  now?: () => number;
}

export class RedisBackend implements Backend {
  readonly kind = 'redis' as const;
  readonly serverId = `server:${randomUUID()}`;
  readonly sharedSessions = true;
  private readonly conn: RedisConnection;
  private readonly keys: RedisKeys;
  private readonly breaker: CircuitBreaker;
  private readonly now: () => number;
  private handler: BackendHandler | undefined;
  /** channel → room, for the rooms this node subscribes (broadcast and direct channel). */
  private readonly channels = new Map<string, string>();
  /** Members of this node's rooms on other nodes, known without a lookup. */
  private readonly remote: RemoteMembers;
  /** When the command connection last became ready; reaping waits one lease after it. */
  private connectedSince: number | undefined;
  private everConnected = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private leaseRunning = false;
  private closed = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    opts: RedisBackendOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.keys = new RedisKeys(config.redisKeyPrefix);
    this.remote = new RemoteMembers(this.serverId);
    this.conn = createRedisConnection(config, this.serverId);
    this.breaker = new CircuitBreaker({
      threshold: config.cbErrorThreshold,
      openMs: config.cbOpenMs,
      now: this.now,
      onChange: (state) => this.onCircuit(state),
    });
  }

  get circuitOpen(): boolean {
    return this.breaker.isOpen;
  }

  async start(handler: BackendHandler): Promise<void> {
    this.handler = handler;
    this.conn.onMessage(this.onMessage);
    this.conn.onError((err) => this.logger.debug({ err: err.message }, 'redis error'));
    const commands = this.conn.commands;
    commands.on('ready', () => this.onReady());
    commands.on('close', () => {
      this.connectedSince = undefined;
      this.metrics.redisUp.set(0);
    });
    try {
      await this.conn.connect();
    } catch (err) {
      this.conn.disconnect();
      throw err;
    }
    this.onReady();
    this.logger.info({ serverId: this.serverId, cluster: this.conn.cluster }, 'redis connected');
    this.leaseTimer = setInterval(
      () => void this.leaseTick(),
      Math.max(50, Math.floor(this.config.nodeLeaseMs / 3)),
    );
    this.leaseTimer.unref();
  }

  private onReady(): void {
    if (this.connectedSince !== undefined) return;
    this.connectedSince = this.now();
    this.metrics.redisUp.set(1);
    // After a reconnect, re-register at once: Redis may have restarted without its data.
    if (this.everConnected) {
      this.logger.info('redis reconnected');
      void this.leaseTick();
    }
    this.everConnected = true;
  }

  // ---- membership ------------------------------------------------------------------------

  async join(roomId: string, clientId: string, capacity: number): Promise<JoinResult> {
    const [ok, flat, reaped, detached] = await this.op('join', () =>
      this.conn.scripts.sbJoin(
        ...this.keys.roomKeys(roomId),
        this.keys.windows(roomId),
        clientId,
        capacity,
        this.config.roomTtlSeconds,
        this.serverId,
        this.config.nodeLeaseMs,
        this.reapFlag(),
      ),
    );
    if (reaped.length > 0) this.onReaped(roomId, reaped);
    if (ok !== 1) return { ok: false, reason: 'full' };
    return {
      ok: true,
      members: this.remote.joined(roomId, flat),
      detached: detachedMembers(detached),
    };
  }

  async leave(roomId: string, clientId: string): Promise<void> {
    this.remote.left(roomId);
    await this.op('leave', () =>
      this.conn.scripts.sbLeave(
        ...this.keys.roomKeys(roomId),
        clientId,
        this.config.roomTtlSeconds,
      ),
    );
  }

  async members(roomId: string): Promise<string[]> {
    return this.op('members', () => this.conn.commands.smembers(this.keys.room(roomId)));
  }

  knowsPeer(roomId: string, peerId: string): boolean {
    return this.remote.knows(roomId, peerId);
  }

  // ---- resume (SPEC.md §13; scripts detach.lua, keep.lua, claim.lua, expire.lua) ----------

  async detach(
    roomId: string,
    peerId: string,
    tokenHash: string,
    windowMs: number,
    mailboxBytes: number,
  ): Promise<number> {
    const k = this.keys;
    const deadline = await this.op('detach', () =>
      this.conn.scripts.sbDetach(
        ...k.sessionKeys(roomId),
        k.session(roomId, tokenHash),
        k.mailbox(roomId, peerId),
        peerId,
        windowMs,
        mailboxBytes,
        tokenHash,
        this.config.roomTtlSeconds,
      ),
    );
    if (deadline < 0) throw new Error('not a member');
    return deadline;
  }

  /** One script call for every detached receiver of the envelope; queued before the publish. */
  keep(
    roomId: string,
    peerIds: readonly string[],
    payload: string,
    onOverflow: (peerId: string) => void,
  ): void {
    if (this.closed || !this.breaker.tryAcquire()) {
      this.metrics.redisPublishFailures.inc();
      return;
    }
    const k = this.keys;
    const keys = [k.detached(roomId), k.windows(roomId)];
    for (const id of peerIds) keys.push(k.mailbox(roomId, id));
    this.conn.scripts.sbKeep(keys.length, ...keys, payload, ...peerIds).then((overflowed) => {
      this.breaker.success();
      for (const id of overflowed) onOverflow(id);
    }, this.publishFailed);
  }

  async claim(
    roomId: string,
    tokenHash: string,
    graceMs: number,
    namedPeer?: string,
  ): Promise<ClaimResult> {
    const k = this.keys;
    const [status, id, mailbox, flat, detachedMs, detached] = await this.op('claim', () =>
      this.conn.scripts.sbClaim(
        ...k.sessionKeys(roomId),
        k.session(roomId, tokenHash),
        k.mailboxPrefix(roomId),
        this.serverId,
        this.config.nodeLeaseMs,
        tokenHash,
        graceMs,
        namedPeer ?? '',
      ),
    );
    if (status === 0) return id ? { result: 'unknown', attachedTo: id } : { result: 'unknown' };
    if (id === undefined) return { result: 'unknown' };
    if (status === -3) return { result: 'early', peerId: id, waitMs: detachedMs ?? graceMs };
    if (status === -1) return { result: 'expired', peerId: id };
    if (status === -2) return { result: 'overflow', peerId: id };
    return {
      result: 'resumed',
      peerId: id,
      mailbox: mailbox ?? [],
      members: this.remote.joined(roomId, flat ?? []),
      detachedMs: detachedMs ?? 0,
      detached: detachedMembers(detached ?? []),
    };
  }

  async expire(roomId: string, peerId: string): Promise<ExpireResult> {
    const k = this.keys;
    const status = await this.op('expire', () =>
      this.conn.scripts.sbExpire(...k.sessionKeys(roomId), k.mailbox(roomId, peerId), peerId),
    );
    this.remote.forget(roomId, peerId);
    return (['ended', 'open', 'attached', 'gone'] as const)[status] ?? 'gone';
  }

  // ---- pub/sub ---------------------------------------------------------------------------

  /** The promise of a room's SUBSCRIBE, while it is subscribed (a resume waits for it). */
  private readonly subscribing = new Map<string, Promise<void>>();

  subscribe(roomId: string): Promise<void> {
    const channels = [this.keys.room(roomId), this.keys.direct(roomId, this.serverId)];
    const active = this.subscribing.get(roomId);
    if (active) return active;
    for (const c of channels) this.channels.set(c, roomId);
    this.remote.subscribed(roomId);
    const done = this.conn.subscribe(channels).then(
      () => void this.reconcile(roomId),
      (err: unknown) => this.logger.warn({ err: errorMessage(err), roomId }, 'subscribe failed'),
    );
    this.subscribing.set(roomId, done);
    return done;
  }

  unsubscribe(roomId: string): void {
    const channels = [this.keys.room(roomId), this.keys.direct(roomId, this.serverId)];
    if (!this.channels.has(channels[0]!)) return;
    this.subscribing.delete(roomId);
    for (const c of channels) this.channels.delete(c);
    this.remote.unsubscribed(roomId);
    this.conn
      .unsubscribe(channels)
      .catch((err: unknown) =>
        this.logger.warn({ err: errorMessage(err), roomId }, 'unsubscribe failed'),
      );
  }

  /**
   * Fire and forget: the publishes of one event-loop turn leave in one write. A directed
   * message goes to its target's node channel when the owner is known, else to the room.
   * While the circuit is open nothing is sent: forwarding is local-only.
   */
  publish(roomId: string, envelope: Envelope): void {
    if (this.closed || !this.breaker.tryAcquire()) {
      this.metrics.redisPublishFailures.inc();
      return;
    }
    let channel: string | undefined;
    if (envelope.to !== undefined) {
      // A detached target's owner is '': the room channel reaches whichever node resumes it.
      const owner = this.remote.ownerOf(roomId, envelope.to);
      if (owner) channel = this.keys.direct(roomId, owner);
    }
    this.conn
      .publish(channel ?? this.keys.room(roomId), JSON.stringify(envelope))
      .then(this.published, this.publishFailed);
  }

  private readonly published = (): void => this.breaker.success();

  private readonly publishFailed = (err: unknown): void => {
    this.metrics.redisPublishFailures.inc();
    this.breaker.failure();
    this.logger.debug({ err: errorMessage(err) }, 'publish failed');
  };

  private readonly onMessage = (channel: string, message: string): void => {
    const roomId = this.channels.get(channel);
    if (roomId === undefined) return;
    let envelope: unknown;
    try {
      envelope = JSON.parse(message);
    } catch {
      return;
    }
    if (!isEnvelope(envelope) || envelope.originServerId === this.serverId) return;
    if (!this.remote.track(roomId, envelope)) return;
    this.deliver(roomId, envelope);
  };

  private deliver(roomId: string, envelope: Envelope): void {
    try {
      this.handler?.onEnvelope(roomId, envelope);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), roomId }, 'envelope handler failed');
    }
  }

  /** Once the room's SUBSCRIBE is active: tell local peers the joins and leaves they missed. */
  private async reconcile(roomId: string): Promise<void> {
    let snapshot: Record<string, string> | undefined;
    try {
      snapshot = await this.op('reconcile', () =>
        this.conn.commands.hgetall(this.keys.owners(roomId)),
      );
    } catch {
      // later envelopes keep the map usable
    }
    const { joined, left } = this.remote.reconcile(roomId, snapshot);
    for (const [id, owner] of joined) this.deliver(roomId, joinEnvelope(id, owner));
    for (const id of left) this.deliver(roomId, leaveEnvelope(id, this.serverId));
  }

  // ---- liveness --------------------------------------------------------------------------

  /**
   * Reap only after one full lease of connection: after Redis comes back, every live node
   * re-extends its leases within NODE_LEASE_MS / 3, so a lease that expired while Redis was
   * unreachable to all is not mistaken for a crash.
   */
  private reapFlag(): '0' | '1' {
    const since = this.connectedSince;
    return since !== undefined && this.now() - since >= this.config.nodeLeaseMs ? '1' : '0';
  }

  /** Extend this node's leases, re-register lost members, reap expired ones. */
  private async leaseTick(): Promise<void> {
    if (this.leaseRunning || !this.handler || this.closed) return;
    this.leaseRunning = true;
    try {
      const reap = this.reapFlag();
      const jobs: Promise<void>[] = [];
      for (const [roomId, ids] of this.handler.localMembers()) {
        const clientIds = [...ids];
        if (clientIds.length === 0) continue;
        const job = this.op('lease', () =>
          this.conn.scripts.sbLease(
            ...this.keys.roomKeys(roomId),
            this.serverId,
            this.config.nodeLeaseMs,
            this.config.roomTtlSeconds,
            reap,
            ...clientIds,
          ),
        ).then(
          ([added, reaped]) => {
            if (added.length > 0) this.onReregistered(roomId, added);
            if (reaped.length > 0) this.onReaped(roomId, reaped);
          },
          () => undefined, // counted by the breaker; the next tick retries
        );
        jobs.push(job);
      }
      await Promise.all(jobs);
    } finally {
      this.leaseRunning = false;
    }
  }

  /** Members Redis had lost are back: announce them (receivers drop joins they know). */
  private onReregistered(roomId: string, added: string[]): void {
    this.logger.info({ roomId, count: added.length }, 're-registered members lost by redis');
    for (const id of added) this.publish(roomId, joinEnvelope(id, this.serverId));
  }

  /** Members of a crashed node were removed by this node: tell local and remote peers. */
  private onReaped(roomId: string, flat: string[]): void {
    for (let i = 0; i < flat.length; i += 2) {
      const id = flat[i]!;
      // This node's own member (its lease lapsed while this node was cut off): if it is still
      // connected, the next lease refresh re-registers it; nobody is told it left.
      if (flat[i + 1] === this.serverId) continue;
      this.metrics.reapedMembers.inc();
      this.remote.forget(roomId, id);
      const envelope = leaveEnvelope(id, this.serverId);
      this.deliver(roomId, envelope);
      this.publish(roomId, envelope);
      this.logger.info({ roomId, peerId: id, owner: flat[i + 1] }, 'reaped member of dead node');
    }
  }

  // ---- limits ----------------------------------------------------------------------------

  async syncCounters(
    windowStart: number,
    deltas: Map<string, number>,
  ): Promise<Map<string, number>> {
    const entries = [...deltas];
    const totals = await this.op('sync-counters', () =>
      Promise.all(
        entries.map(([key, n]) =>
          this.conn.scripts.sbCounter(this.keys.counter(windowStart, key), n, COUNTER_EXPIRY_MS),
        ),
      ),
    );
    return new Map(entries.map(([key], i) => [key, totals[i]!]));
  }

  // ---- health ----------------------------------------------------------------------------

  async ping(): Promise<boolean> {
    let up: boolean;
    try {
      up = (await this.op('ping', () => this.conn.commands.ping())) === 'PONG';
    } catch {
      up = false;
    }
    this.metrics.redisUp.set(up ? 1 : 0);
    return up;
  }

  /**
   * Every awaited Redis operation: refused at once while the circuit is open, timed into the
   * operation histogram, and its outcome reported to the breaker.
   */
  private async op<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (!this.breaker.tryAcquire()) throw new CircuitOpenError();
    const end = this.metrics.redisOperationDuration.startTimer({ operation });
    try {
      const value = await fn();
      this.breaker.success();
      return value;
    } catch (err) {
      this.breaker.failure();
      throw err;
    } finally {
      end();
    }
  }

  private onCircuit(state: CircuitState): void {
    this.metrics.circuitBreakerOpen.set(state === 'open' ? 1 : 0);
    if (state === 'open')
      this.logger.warn({ openMs: this.config.cbOpenMs }, 'redis circuit breaker open');
    else this.logger.info({ state }, 'redis circuit breaker ' + state);
  }

  /** Stop the lease refresh and disconnect; pending publishes are written first. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.leaseTimer);
    this.breaker.dispose();
    const quit = this.conn.quit();
    const timer = setTimeout(() => this.conn.disconnect(), 2000);
    await quit;
    clearTimeout(timer);
    this.metrics.redisUp.set(0);
  }
}

/** {id1, deadline1, ...} of join.lua / claim.lua. */
function detachedMembers(flat: string[]): DetachedMember[] {
  const out: DetachedMember[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    out.push({ peerId: flat[i]!, deadline: Number(flat[i + 1]) });
  return out;
}

function joinEnvelope(id: string, serverId: string): Envelope {
  return {
    senderId: id,
    data: { type: 'control', action: 'peer-joined', payload: { peerId: id } },
    originServerId: serverId,
    event: 'join',
  };
}

function leaveEnvelope(id: string, serverId: string): Envelope {
  return {
    senderId: id,
    data: { type: 'peer-disconnected' },
    originServerId: serverId,
    event: 'leave',
  };
}

/** Redis is trusted, but a malformed payload on a room channel must not crash a node. */
function isEnvelope(v: unknown): v is Envelope {
  if (v === null || typeof v !== 'object') return false;
  const e = v as Record<string, unknown>;
  const data = e.data as Record<string, unknown> | null | undefined;
  return (
    typeof e.senderId === 'string' &&
    typeof e.originServerId === 'string' &&
    data !== null &&
    typeof data === 'object' &&
    typeof data.type === 'string' &&
    (e.event === undefined ||
      e.event === 'join' ||
      e.event === 'leave' ||
      e.event === 'detach' ||
      e.event === 'resume' ||
      e.event === 'takeover') &&
    (e.hash === undefined || typeof e.hash === 'string') &&
    (e.to === undefined || typeof e.to === 'string') &&
    (e.seq === undefined || typeof e.seq === 'number') &&
    (e.deadline === undefined || typeof e.deadline === 'number') &&
    (e.kept === undefined || (Array.isArray(e.kept) && e.kept.every((x) => typeof x === 'string')))
  );
}

/**
 * Redis backend (SPEC.md §5–§9): room membership in Redis through Lua scripts, the circuit
 * breaker, and the distributed limit counters, here; cross-node delivery over pub/sub (batched
 * per room and event-loop turn, reconciled after outages) in redis-pubsub.ts; node liveness per
 * node in redis-liveness.ts; resume sessions in redis-sessions.ts; the server API's reads in
 * redis-api.ts. Key and channel layout: redis-keys.ts; connections (single Redis or Cluster
 * with sharded pub/sub): redis-connection.ts; the scripts: lua/*.lua; the channel payloads:
 * envelope-codec.ts.
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
  Envelope,
  ExpireResult,
  JoinResult,
  LeaveNote,
  LeaveResult,
  MemberInfo,
  RoomCommand,
  RoomListQuery,
  RoomMember,
  RoomPage,
} from './backend.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';
import { EnvelopeCodec } from './envelope-codec.js';
import { decodeRecord, encodeRecord } from './member-record.js';
import { createRedisConnection, type RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisApi } from './redis-api.js';
import { NodeLiveness } from './redis-liveness.js';
import { RemoteMembers } from './remote-members.js';
import { RoomChannels, joinEnvelope, leaveEnvelope } from './redis-pubsub.js';
import { RedisSessions, detachedMembers } from './redis-sessions.js';

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
  private readonly codec: EnvelopeCodec;
  private readonly liveness: NodeLiveness;
  /** The server API's reads and commands (redis-api.ts). */
  private readonly api: RedisApi;
  /** This node's own channel (server API commands for its members). */
  private readonly nodeChannel: string;
  private readonly now: () => number;
  private handler: BackendHandler | undefined;
  /** Members of this node's rooms on other nodes, known without a lookup. */
  private readonly remote: RemoteMembers;
  /** Room channels: subscriptions, batched publishes, the receive path (redis-pubsub.ts). */
  private readonly channels: RoomChannels;
  /** Resume sessions (redis-sessions.ts). */
  private readonly sessions: RedisSessions;
  /** When the command connection last became ready; reaping waits one lease after it. */
  private connectedSince: number | undefined;
  private everConnected = false;
  private leaseTimer: NodeJS.Timeout | undefined;
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
    this.codec = new EnvelopeCodec(this.serverId);
    this.conn = createRedisConnection(config, this.serverId);
    this.breaker = new CircuitBreaker({
      threshold: config.cbErrorThreshold,
      openMs: config.cbOpenMs,
      now: this.now,
      onChange: (state) => this.onCircuit(state),
    });
    this.liveness = new NodeLiveness(
      this.serverId,
      this.conn,
      this.keys,
      config,
      logger,
      {
        op: (name, fn) => this.op(name, fn),
        reapAllowed: () => this.reapAllowed(),
        onReaped: (roomId, ids, dead, finished) => this.onReaped(roomId, ids, dead, finished),
        onReregistered: (roomId, ids) => this.onReregistered(roomId, ids),
        onLeaveRetried: (roomId, id, note, result) => this.onLeaveRetried(roomId, id, note, result),
      },
      this.now,
    );
    this.nodeChannel = this.keys.nodeChannel(this.serverId);
    this.channels = new RoomChannels({
      serverId: this.serverId,
      conn: this.conn,
      keys: this.keys,
      codec: this.codec,
      breaker: this.breaker,
      remote: this.remote,
      metrics,
      logger,
      nodeChannel: this.nodeChannel,
      leaseMs: config.nodeLeaseMs,
      cbOpenMs: config.cbOpenMs,
      host: {
        op: (name, fn) => this.op(name, fn),
        deliver: (roomId, envelope) => this.deliver(roomId, envelope),
        onNodeMessage: (message) => {
          const received = this.api.decodeNodeCommand(message);
          if (received) this.onCommand(received.roomId, received.command);
        },
      },
    });
    this.sessions = new RedisSessions({
      serverId: this.serverId,
      conn: this.conn,
      keys: this.keys,
      config,
      breaker: this.breaker,
      metrics,
      liveness: this.liveness,
      remote: this.remote,
      op: (name, fn) => this.op(name, fn),
      publishFailed: this.channels.publishFailed,
      isClosed: () => this.closed,
    });
    this.api = new RedisApi({
      serverId: this.serverId,
      conn: this.conn,
      keys: this.keys,
      codec: this.codec,
      roomIdMaxLength: config.roomIdMaxLength,
      op: (name, fn) => this.op(name, fn),
      local: (roomId, command) => this.onCommand(roomId, command),
      onUnreachable: (node, roomId) =>
        logger.warn({ node, roomId }, 'api command for a node that does not listen (reaped later)'),
    });
  }

  get circuitOpen(): boolean {
    return this.breaker.isOpen;
  }

  async start(handler: BackendHandler): Promise<void> {
    this.handler = handler;
    this.conn.onMessage(this.channels.onMessage);
    this.conn.onResubscribed(this.channels.resubscribed);
    this.conn.onError((err) => this.logger.debug({ err: err.message }, 'redis error'));
    this.conn.onReconnect(() => {
      this.logger.info('redis reconnected');
      this.liveness.requestRebuild();
      void this.liveness.tick();
    });
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
    await this.conn.subscribe([this.nodeChannel]);
    await this.liveness.tick(); // the node lease exists before the first member joins
    this.leaseTimer = setInterval(
      () => void this.liveness.tick(),
      Math.max(50, Math.floor(this.config.nodeLeaseMs / 3)),
    );
    this.leaseTimer.unref();
  }

  private onReady(): void {
    if (this.connectedSince !== undefined) return;
    this.connectedSince = this.now();
    this.metrics.redisUp.set(1);
    this.everConnected = true;
  }

  // ---- membership ------------------------------------------------------------------------

  async join(
    roomId: string,
    clientId: string,
    capacity: number,
    info: MemberInfo = { version: 1 },
  ): Promise<JoinResult> {
    const record = encodeRecord({
      node: this.serverId,
      joinedAt: Date.now(),
      v: info.version,
      subject: info.subject,
    });
    let joined = false;
    try {
      // Entering the room: its index entry goes in the join script on a single Redis (one
      // command), beside it in the same write on a Cluster (another slot).
      const k = this.keys;
      const keys = [k.room(roomId), k.members(roomId), k.windows(roomId)];
      let index: Promise<unknown> | undefined;
      let indexKey: string | undefined;
      if (this.conn.cluster) index = this.liveness.beforeJoin(roomId);
      else if ((indexKey = this.liveness.indexInScript(roomId)) !== undefined) keys.push(indexKey);
      const script = this.op('join', () =>
        this.conn.scripts.sbJoin(
          keys.length,
          ...keys,
          clientId,
          capacity,
          this.config.roomTtlSeconds,
          record,
          roomId,
        ),
      );
      if (indexKey !== undefined) script.catch(() => this.liveness.indexFailed(roomId));
      const [[ok, flat, detached, started]] = await Promise.all([script, index]);
      if (ok !== 1) return { ok: false, reason: 'full' };
      joined = true;
      for (let i = 1; i < flat.length; i += 2) flat[i] = decodeRecord(flat[i])?.node ?? '';
      return {
        ok: true,
        members: this.remote.joined(roomId, flat),
        detached: detachedMembers(detached ?? []),
        roomStarted: started === 1,
      };
    } finally {
      this.liveness.afterJoin(roomId, clientId, joined ? record : undefined);
    }
  }

  async leave(roomId: string, clientId: string, note?: LeaveNote): Promise<LeaveResult> {
    this.remote.left(roomId);
    // The node's last member of the room: the index entry goes with the leave, as on a join.
    const keys = this.keys.roomKeys(roomId) as string[];
    let unindex: (() => Promise<unknown>) | undefined;
    if (this.conn.cluster) unindex = this.liveness.leaving(roomId, clientId);
    else {
      const indexKey = this.liveness.leavingInScript(roomId, clientId);
      if (indexKey !== undefined) keys.push(indexKey);
    }
    const script = this.op('leave', () =>
      this.conn.scripts.sbLeave(keys.length, ...keys, clientId, this.config.roomTtlSeconds, roomId),
    );
    // On a failure the member stays registered: the liveness tick retries the leave.
    script.catch(() => this.liveness.leaveFailed(roomId, clientId, note));
    const [[removed, remaining]] = await Promise.all([script, unindex?.()]);
    return { removed: removed === 1, roomFinished: removed === 1 && remaining === 0 };
  }

  async members(roomId: string): Promise<string[]> {
    return this.op('members', () => this.conn.commands.smembers(this.keys.room(roomId)));
  }

  knowsPeer(roomId: string, peerId: string): boolean {
    return this.remote.knows(roomId, peerId);
  }

  // ---- resume (SPEC.md §13; redis-sessions.ts) ------------------------------------------

  detach(
    roomId: string,
    peerId: string,
    tokenHash: string,
    windowMs: number,
    mailboxBytes: number,
  ): Promise<number> {
    return this.sessions.detach(roomId, peerId, tokenHash, windowMs, mailboxBytes);
  }

  keep(
    roomId: string,
    peerIds: readonly string[],
    payload: string,
    onOverflow: (peerId: string) => void,
  ): void {
    this.sessions.keep(roomId, peerIds, payload, onOverflow);
  }

  claim(
    roomId: string,
    tokenHash: string,
    graceMs: number,
    namedPeer?: string,
  ): Promise<ClaimResult> {
    return this.sessions.claim(roomId, tokenHash, graceMs, namedPeer);
  }

  expire(roomId: string, peerId: string, now = false): Promise<ExpireResult> {
    return this.sessions.expire(roomId, peerId, now);
  }

  // ---- pub/sub (redis-pubsub.ts) -----------------------------------------------------------

  subscribe(roomId: string): Promise<void> {
    return this.channels.subscribe(roomId);
  }

  unsubscribe(roomId: string): void {
    this.channels.unsubscribe(roomId);
  }

  publish(roomId: string, envelope: Envelope, dataJson?: string): void {
    this.channels.publish(roomId, envelope, dataJson);
  }

  private deliver(roomId: string, envelope: Envelope): void {
    try {
      this.handler?.onEnvelope(roomId, envelope);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), roomId }, 'envelope handler failed');
    }
  }

  private onCommand(roomId: string, command: RoomCommand): void {
    try {
      this.handler?.onCommand?.(roomId, command);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), roomId }, 'command handler failed');
    }
  }

  // ---- server API (redis-api.ts) ---------------------------------------------------------

  listRooms(query: RoomListQuery): Promise<RoomPage> {
    return this.api.listRooms(query);
  }

  roomMembers(roomId: string): Promise<RoomMember[]> {
    return this.api.roomMembers(roomId);
  }

  commandPeer(roomId: string, peerId: string, command: RoomCommand): Promise<boolean> {
    return this.api.commandPeer(roomId, peerId, command);
  }

  commandRoom(roomId: string, command: RoomCommand): Promise<boolean> {
    return this.api.commandRoom(roomId, command);
  }

  // ---- liveness (redis-liveness.ts) ------------------------------------------------------

  /**
   * Reap only after one full lease of connection: after Redis comes back, every live node
   * re-extends its lease within NODE_LEASE_MS / 3, so a lease that expired while Redis was
   * unreachable to all is not mistaken for a crash.
   */
  private reapAllowed(): boolean {
    const since = this.connectedSince;
    return since !== undefined && this.now() - since >= this.config.nodeLeaseMs;
  }

  /** Members Redis had lost are back: announce them (receivers drop joins they know). */
  private onReregistered(roomId: string, added: string[]): void {
    this.logger.info({ roomId, count: added.length }, 're-registered members lost by redis');
    for (const id of added) this.publish(roomId, joinEnvelope(id, this.serverId));
  }

  /**
   * Members of a crashed node were removed by this node: tell local and remote peers, and the
   * handler (webhooks) — the one place reaping is reported. `roomFinished`: the reap script
   * left the room without members.
   */
  private onReaped(roomId: string, ids: string[], deadNode: string, roomFinished: boolean): void {
    for (const id of ids) {
      this.metrics.reapedMembers.inc();
      this.remote.forget(roomId, id);
      const envelope = leaveEnvelope(id, this.serverId);
      this.deliver(roomId, envelope);
      this.publish(roomId, envelope);
    }
    this.logger.info({ roomId, count: ids.length, node: deadNode }, 'reaped members of dead node');
    const reaped = ids.map((peerId) => ({ peerId, serverId: deadNode }));
    try {
      this.handler?.onMembersReaped?.(roomId, reaped, roomFinished);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), roomId }, 'reaped handler failed');
    }
  }

  /** A failed leave succeeded on retry: report it as the original leave would have been. */
  private onLeaveRetried(
    roomId: string,
    clientId: string,
    note: LeaveNote,
    result: LeaveResult,
  ): void {
    try {
      this.handler?.onLeaveRetried?.(roomId, clientId, note, result);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), roomId }, 'leave retry handler failed');
    }
  }

  // ---- limits ----------------------------------------------------------------------------

  /** One script call for every key that saw traffic (the keys of a window share a slot). */
  async syncCounters(
    windowStart: number,
    deltas: Map<string, number>,
  ): Promise<Map<string, number>> {
    const keys: string[] = [];
    const counts: number[] = [];
    for (const [key, n] of deltas) {
      keys.push(this.keys.counter(windowStart, key));
      counts.push(n);
    }
    const totals = await this.op('sync-counters', () =>
      this.conn.counters(keys, counts, COUNTER_EXPIRY_MS),
    );
    const out = new Map<string, number>();
    let i = 0;
    for (const key of deltas.keys()) out.set(key, Number(totals[i++]));
    return out;
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
    this.liveness.stop();
    this.breaker.dispose();
    this.channels.close();
    // Nothing of this node is left to reap: its lease and index go (best effort, not awaited
    // on their own; quit writes them before closing).
    if (this.conn.commands.status === 'ready') {
      this.conn.commands.zrem(this.keys.nodes(), this.serverId).catch(() => undefined);
      this.conn.commands.del(this.keys.nodeRooms(this.serverId)).catch(() => undefined);
    }
    const quit = this.conn.quit();
    const timer = setTimeout(() => this.conn.disconnect(), 2000);
    await quit;
    clearTimeout(timer);
    this.metrics.redisUp.set(0);
  }
}

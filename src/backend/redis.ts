/**
 * Redis backend (SPEC.md §5–§9): room membership in Redis through Lua scripts, cross-node
 * delivery over pub/sub (batched per room and event-loop turn), node liveness per node
 * (redis-liveness.ts), the circuit breaker, and the distributed limit counters. Key and channel
 * layout: redis-keys.ts; connections (single Redis or Cluster with sharded pub/sub):
 * redis-connection.ts; the scripts: lua/*.lua; the channel payloads: envelope-codec.ts.
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

/** Rate-limit counters outlive their 10 s window by the next one (it weighs the previous). */
const COUNTER_EXPIRY_MS = 30_000;

export interface RedisBackendOptions {
  now?: () => number;
}

/** The envelopes of one channel queued in this turn, in order (one PUBLISH at the flush). */
interface Segment {
  channel: string;
  parts: string[];
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
  /** channel → room, for the rooms this node subscribes (broadcast and direct channel). */
  private readonly channels = new Map<string, string>();
  /** Members of this node's rooms on other nodes, known without a lookup. */
  private readonly remote: RemoteMembers;
  /** This turn's publishes, in order; consecutive envelopes for one channel share a segment. */
  private segments: Segment[] = [];
  /** The last segment of each room in this turn. */
  private lastSegment = new Map<string, Segment>();
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
    this.conn.onMessage(this.onMessage);
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

  // ---- resume (SPEC.md §13; scripts detach.lua, keep.lua, claim.lua, expire.lua) ----------

  async detach(
    roomId: string,
    peerId: string,
    tokenHash: string,
    windowMs: number,
    mailboxBytes: number,
  ): Promise<number> {
    const k = this.keys;
    // No longer this node's member to re-register (its record names no node from now on).
    const unindex = this.liveness.leaving(roomId, peerId);
    const script = this.op('detach', () =>
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
    unindex?.().catch(() => undefined);
    const deadline = await script;
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
    // Indexed like a join: if this node dies, the reaper finds the resumed member.
    let record: string | undefined;
    let claimedId: string | undefined;
    const index = this.liveness.beforeJoin(roomId);
    let reply: Awaited<ReturnType<typeof this.conn.scripts.sbClaim>>;
    try {
      const script = this.op('claim', () =>
        this.conn.scripts.sbClaim(
          ...k.sessionKeys(roomId),
          k.session(roomId, tokenHash),
          k.mailboxPrefix(roomId),
          this.serverId,
          tokenHash,
          graceMs,
          namedPeer ?? '',
        ),
      );
      [reply] = await Promise.all([script, index]);
      if (reply[0] === 1 && reply[1] !== undefined) {
        claimedId = reply[1];
        const flat = reply[3] ?? [];
        for (let i = 0; i < flat.length; i += 2) if (flat[i] === claimedId) record = flat[i + 1];
      }
    } finally {
      this.liveness.afterJoin(roomId, claimedId ?? '', claimedId ? record : undefined);
    }
    const [status, id, mailbox, flat, detachedMs, detached] = reply;
    if (flat) for (let i = 1; i < flat.length; i += 2) flat[i] = decodeRecord(flat[i])?.node ?? '';
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

  async expire(roomId: string, peerId: string, now = false): Promise<ExpireResult> {
    const k = this.keys;
    const [status, remaining] = await this.op('expire', () =>
      this.conn.scripts.sbExpire(
        ...k.sessionKeys(roomId),
        k.mailbox(roomId, peerId),
        peerId,
        now ? '1' : '0',
      ),
    );
    const result = (['ended', 'open', 'attached', 'gone'] as const)[status] ?? 'gone';
    // An attached member (the API asked, or it resumed) is still where the node knows it.
    if (result !== 'attached') this.remote.forget(roomId, peerId);
    return { status: result, roomFinished: result === 'ended' && remaining === 0 };
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
   * Fire and forget. The envelopes of one event-loop turn are queued and flushed when the
   * turn's I/O is done (setImmediate): consecutive envelopes of a room for one channel go out
   * as one PUBLISH of a JSON array (SPEC.md §5), all of the turn's publishes in one write. A
   * directed message goes to its target's node channel when the owner is known, else to the
   * room; it starts a new segment, so per-sender order holds across the two channels. While
   * the circuit is open nothing is sent: forwarding is local-only.
   */
  publish(roomId: string, envelope: Envelope, dataJson?: string): void {
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
    channel ??= this.keys.room(roomId);
    const part = this.codec.encode(envelope, dataJson);
    const last = this.lastSegment.get(roomId);
    if (last !== undefined && last.channel === channel) {
      last.parts.push(part);
      return;
    }
    if (this.segments.length === 0) setImmediate(this.flush);
    const segment = { channel, parts: [part] };
    this.segments.push(segment);
    this.lastSegment.set(roomId, segment);
  }

  private readonly flush = (): void => {
    const segments = this.segments;
    this.segments = [];
    this.lastSegment = new Map();
    const replies = this.conn.publish(
      segments.map((s) => [s.channel, EnvelopeCodec.join(s.parts)]),
      this.breaker.state !== 'closed',
    );
    for (const reply of replies) reply.then(this.published, this.publishFailed);
  };

  private readonly published = (): void => this.breaker.success();

  private readonly publishFailed = (err: unknown): void => {
    this.metrics.redisPublishFailures.inc();
    this.breaker.failure();
    this.logger.debug({ err: errorMessage(err) }, 'publish failed');
  };

  /**
   * One PUBLISH received: its own echo is dropped unparsed; its envelopes delivered in order.
   * Also the channel handler's error boundary: a payload that makes it throw is dropped.
   */
  private readonly onMessage = (channel: string, message: string): void => {
    try {
      if (channel === this.nodeChannel) {
        const received = this.api.decodeNodeCommand(message);
        if (received) this.onCommand(received.roomId, received.command);
        return;
      }
      const roomId = this.channels.get(channel);
      if (roomId === undefined || this.codec.isOwn(message)) return;
      for (const envelope of this.codec.decode(message))
        if (this.remote.track(roomId, envelope)) this.deliver(roomId, envelope);
    } catch (err) {
      this.logger.error({ err: errorMessage(err), channel }, 'channel message handler failed');
    }
  };

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

  /** Once the room's SUBSCRIBE is active: tell local peers the joins and leaves they missed. */
  private async reconcile(roomId: string): Promise<void> {
    let snapshot: Record<string, string> | undefined;
    try {
      const records = await this.op('reconcile', () => {
        this.conn.joinTurn(); // in the turn's write, with the joins and publishes issued beside it
        return this.conn.commands.hgetall(this.keys.members(roomId));
      });
      snapshot = {};
      for (const [id, text] of Object.entries(records))
        snapshot[id] = decodeRecord(text)?.node ?? '';
    } catch {
      // later envelopes keep the map usable
    }
    const { joined, left } = this.remote.reconcile(roomId, snapshot);
    for (const [id, owner] of joined) this.deliver(roomId, joinEnvelope(id, owner));
    for (const id of left) this.deliver(roomId, leaveEnvelope(id, this.serverId));
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
    if (this.segments.length > 0) this.flush();
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

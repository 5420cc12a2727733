/**
 * The room channels of the redis backend (SPEC.md §5): SUBSCRIBE per room this node has members
 * in, the publishes of one event-loop turn batched per room and channel, the receive path (own
 * echo dropped unparsed, envelopes tracked in `RemoteMembers` and delivered in order), and the
 * reconciliation of a room's membership with Redis when a subscription could have missed
 * envelopes: right after a room's first SUBSCRIBE, and after a subscriber connection comes
 * back from an outage (on a Cluster, any shard's).
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Envelope } from './backend.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { EnvelopeCodec } from './envelope-codec.js';
import { decodeRecord } from './member-record.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import type { RemoteMembers } from './remote-members.js';

/** Rooms whose members hash is read per batch when every room is reconciled after an outage. */
const RECONCILE_BATCH = 500;
/** How much earlier than its delay by Date.now() a round's timer may fire. */
const TIMER_SLACK_MS = 20;
/** Rounds of an outage's reconciliation beyond those its rules need, for reads refused. */
const MAX_RETRY_ROUNDS = 20;

/** The envelopes of one channel queued in this turn, in order (one PUBLISH at the flush). */
interface Segment {
  channel: string;
  parts: string[];
}

export interface ChannelsHost {
  /** Run one awaited Redis operation through the circuit breaker. */
  op<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** Hand an envelope to the local peers of a room (the backend handler). */
  deliver(roomId: string, envelope: Envelope): void;
  /** A payload on this node's own channel (server API commands). */
  onNodeMessage(message: string): void;
}

export interface ChannelsDeps {
  serverId: string;
  conn: RedisConnection;
  keys: RedisKeys;
  codec: EnvelopeCodec;
  breaker: CircuitBreaker;
  remote: RemoteMembers;
  metrics: Metrics;
  logger: Logger;
  /** This node's own channel. */
  nodeChannel: string;
  /** NODE_LEASE_MS: between the rounds of an outage's reconciliation. */
  leaseMs: number;
  /** CB_OPEN_MS: how long another node may be kept from re-registering its members. */
  cbOpenMs: number;
  host: ChannelsHost;
}

export class RoomChannels {
  /** channel → room, for the rooms this node subscribes (broadcast and direct channel). */
  private readonly channels = new Map<string, string>();
  /** The promise of a room's SUBSCRIBE, while it is subscribed (a resume waits for it). */
  private readonly subscribing = new Map<string, Promise<void>>();
  /** This turn's publishes, in order; consecutive envelopes for one channel share a segment. */
  private segments: Segment[] = [];
  /** The last segment of each room in this turn. */
  private lastSegment = new Map<string, Segment>();
  /**
   * Joins and leaves told since the last "rooms reconciled" line: an outage superseded by a
   * newer one (the subscriber reconnected again) hands its counts on to the next line.
   */
  private told = { joined: 0, left: 0 };
  /** Bumped at each resubscription: a confirmation of an older one is dropped. */
  private outage = 0;
  /** The next round of an outage's reconciliation (one timer per server, not per room). */
  private roundTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly d: ChannelsDeps) {}

  subscribe(roomId: string): Promise<void> {
    const channels = [this.d.keys.room(roomId), this.d.keys.direct(roomId, this.d.serverId)];
    const active = this.subscribing.get(roomId);
    if (active) return active;
    for (const c of channels) this.channels.set(c, roomId);
    this.d.remote.subscribed(roomId);
    const done = this.d.conn.subscribe(channels).then(
      () => void this.reconcile(roomId),
      (err: unknown) => this.d.logger.warn({ err: errorMessage(err), roomId }, 'subscribe failed'),
    );
    this.subscribing.set(roomId, done);
    return done;
  }

  unsubscribe(roomId: string): void {
    const channels = [this.d.keys.room(roomId), this.d.keys.direct(roomId, this.d.serverId)];
    if (!this.channels.has(channels[0]!)) return;
    this.subscribing.delete(roomId);
    for (const c of channels) this.channels.delete(c);
    this.d.remote.unsubscribed(roomId);
    this.d.conn
      .unsubscribe(channels)
      .catch((err: unknown) =>
        this.d.logger.warn({ err: errorMessage(err), roomId }, 'unsubscribe failed'),
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
    if (this.closed || !this.d.breaker.tryAcquire()) {
      this.d.metrics.redisPublishFailures.inc();
      return;
    }
    let channel: string | undefined;
    if (envelope.to !== undefined) {
      // A detached target's owner is '': the room channel reaches whichever node resumes it.
      const owner = this.d.remote.ownerOf(roomId, envelope.to);
      if (owner) channel = this.d.keys.direct(roomId, owner);
    }
    channel ??= this.d.keys.room(roomId);
    const part = this.d.codec.encode(envelope, dataJson);
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

  /** Closing: the queued publishes are written now, nothing is queued or reconciled after. */
  close(): void {
    this.closed = true;
    clearTimeout(this.roundTimer);
    if (this.segments.length > 0) this.flush();
  }

  private readonly flush = (): void => {
    const segments = this.segments;
    if (segments.length === 0) return;
    this.segments = [];
    this.lastSegment = new Map();
    const replies = this.d.conn.publish(
      segments.map((s) => [s.channel, EnvelopeCodec.join(s.parts)]),
      this.d.breaker.state !== 'closed',
    );
    for (const reply of replies) reply.then(this.published, this.publishFailed);
  };

  private readonly published = (): void => this.d.breaker.success();

  /** A publish (or a resume keep) that failed: counted, and reported to the breaker. */
  readonly publishFailed = (err: unknown): void => {
    this.d.metrics.redisPublishFailures.inc();
    this.d.breaker.failure();
    this.d.logger.debug({ err: errorMessage(err) }, 'publish failed');
  };

  /**
   * One PUBLISH received: its own echo is dropped unparsed; its envelopes delivered in order.
   * Also the channel handler's error boundary: a payload that makes it throw is dropped.
   */
  readonly onMessage = (channel: string, message: string): void => {
    try {
      if (channel === this.d.nodeChannel) return this.d.host.onNodeMessage(message);
      const roomId = this.channels.get(channel);
      if (roomId === undefined || this.d.codec.isOwn(message)) return;
      for (const envelope of this.d.codec.decode(message))
        if (this.d.remote.track(roomId, envelope)) this.d.host.deliver(roomId, envelope);
    } catch (err) {
      this.d.logger.error({ err: errorMessage(err), channel }, 'channel message handler failed');
    }
  };

  /** Once the room's SUBSCRIBE is active: tell local peers the joins and leaves they missed. */
  private async reconcile(roomId: string): Promise<void> {
    const snapshot = await this.snapshot(roomId);
    const { joined, left } = this.d.remote.reconcile(roomId, snapshot);
    this.announce(roomId, joined, left);
  }

  /**
   * A subscriber connection is back (on a Cluster: a shard's, coalesced): whatever was
   * published on the room channels meanwhile is lost (pub/sub keeps nothing). Every room is
   * read again, in batches, in rounds one lease apart, each room's first read once its
   * subscription is known active (at once on a single Redis, where a PING proved it; on a
   * Cluster an SSUBSCRIBE of its channels answered, `confirm`):
   * - a member Redis has and this node lacks is told joined at once;
   * - a member this node has and Redis lacks is a suspect. After a restart without data every
   *   member is missing until its node registers it again, which a node does right after the
   *   tick that puts its lease back (that tick, or the next if it is busy), once its circuit
   *   lets it (so within CB_OPEN_MS + a lease). So a suspect is told gone when two reads a
   *   lease apart lack it while its node's lease is in place at both, or when it stays missing
   *   for CB_OPEN_MS + NODE_LEASE_MS (its node is gone too: nobody would ever reap it, its room
   *   index went with the data).
   * A subscription not confirmed (its shard still away) is tried again next round. A read
   * refused because the circuit is not closed yet (the subscriber is often back before the
   * command connection has had its trial) is tried again as soon as the circuit closes, not a
   * lease later; a suspect is still only read again once a lease has passed since its last
   * read. Work per outage, not per message; one timer per server.
   */
  readonly resubscribed = (): void => {
    if (this.closed) return;
    const outage = ++this.outage;
    clearTimeout(this.roundTimer);
    const unread = new Set(this.d.remote.resubscribed());
    this.d.logger.info({ rooms: unread.size }, 'redis subscriber back: reconciling rooms');
    /** room → suspect → its node, when it was first missed, reads in a row that missed it
     * while its node's lease was in place. */
    const watch = new Map<string, Map<string, { owner: string; since: number; live: number }>>();
    /** room → when its suspects were last read (the start of that round). */
    const readAt = new Map<string, number>();
    const { leaseMs, cbOpenMs } = this.d;
    const maxRounds = Math.ceil((cbOpenMs + leaseMs) / leaseMs) + MAX_RETRY_ROUNDS;
    let rounds = 0;
    let running = false;
    const current = () => outage === this.outage && !this.closed;
    const round = async (): Promise<void> => {
      running = true;
      try {
        await roundOnce();
      } finally {
        running = false;
      }
    };
    const roundOnce = async (): Promise<void> => {
      const now = Date.now();
      // A round run early (the circuit closed) reads only the suspects a lease old. (A timer
      // may fire a millisecond before Date.now() says its delay has passed.)
      const due = [...watch.keys()].filter(
        (roomId) => now - readAt.get(roomId)! >= leaseMs - TIMER_SLACK_MS,
      );
      const owners = new Set<string>();
      for (const roomId of due) for (const w of watch.get(roomId)!.values()) owners.add(w.owner);
      const live = await this.liveNodes(owners);
      await this.eachBatch(due, async (roomId) => {
        const snapshot = await this.snapshot(roomId);
        const room = watch.get(roomId);
        if (!snapshot || !room || !current()) return;
        readAt.set(roomId, now);
        const absent = new Set(this.d.remote.stillAbsent(roomId, snapshot, room.keys()));
        const left: string[] = [];
        for (const [id, w] of room) {
          if (absent.has(id)) {
            w.live = live.has(w.owner) ? w.live + 1 : 0;
            if (w.live < 2 && now - w.since < cbOpenMs + leaseMs) continue;
            left.push(id);
          }
          room.delete(id);
        }
        this.d.remote.gone(roomId, left);
        this.told.left += left.length;
        this.announce(roomId, [], left);
        if (room.size === 0) {
          watch.delete(roomId);
          readAt.delete(roomId);
          this.d.remote.settled(roomId);
        }
      });
      const fresh: { owner: string; live: number }[] = [];
      let unconfirmed = 0;
      await this.eachBatch([...unread], async (roomId) => {
        if (!current()) return; // superseded: not confirmed again for nothing
        const subscription = await this.confirm(roomId);
        if (subscription === 'unconfirmed') unconfirmed++;
        if (subscription !== 'active') return;
        const snapshot = await this.snapshot(roomId);
        if (!snapshot || !current()) return;
        unread.delete(roomId);
        const { joined, suspects } = this.d.remote.reconcileAfterOutage(roomId, snapshot);
        this.told.joined += joined.length;
        this.announce(roomId, joined, []);
        if (suspects.length === 0) return;
        const room = new Map(suspects.map(([id, owner]) => [id, { owner, since: now, live: 0 }]));
        watch.set(roomId, room);
        readAt.set(roomId, now);
        fresh.push(...room.values());
      });
      // The first read of a suspect counts too if its node's lease is in place.
      const liveNow = await this.liveNodes(new Set(fresh.map((w) => w.owner)));
      for (const w of fresh) if (liveNow.has(w.owner)) w.live = 1;
      if (!current()) return;
      if (unconfirmed > 0)
        this.d.logger.info({ rooms: unconfirmed }, 'subscriptions not confirmed: tried next round');
      if (unread.size === 0 && watch.size === 0) {
        this.d.logger.info(
          { ...this.told, rounds: rounds + 1 },
          'rooms reconciled after the outage',
        );
        this.told = { joined: 0, left: 0 };
        return;
      }
      if (++rounds >= maxRounds) {
        this.d.logger.warn({ rooms: unread.size + watch.size }, 'reconciliation gave up');
        for (const roomId of watch.keys()) this.d.remote.settled(roomId);
        return;
      }
      clearTimeout(this.roundTimer);
      this.roundTimer = setTimeout(() => void round(), leaseMs);
      this.roundTimer.unref();
      // Rooms left unread while the circuit is not closed: read them when it closes.
      if (unread.size > unconfirmed && this.d.breaker.state !== 'closed') {
        this.d.logger.info(
          { rooms: unread.size - unconfirmed },
          'circuit not closed: rooms read when it closes',
        );
        const scheduled = rounds;
        this.d.breaker.onceClosed(() =>
          setImmediate(() => {
            // Not if a later round ran or is running meanwhile (it reads them itself).
            if (scheduled !== rounds || running || !current()) return;
            clearTimeout(this.roundTimer);
            void round();
          }),
        );
      }
    };
    void round();
  };

  /**
   * Before a room's first read after an outage: is its subscription known active again? On a
   * Cluster ioredis only says it sent the SSUBSCRIBEs (`RedisConnection.confirmSubscribed`).
   * 'active' too for a room unsubscribed meanwhile (its read finds nothing to tell); 'refused'
   * while the circuit is open (its read would be).
   */
  private async confirm(roomId: string): Promise<'active' | 'refused' | 'unconfirmed'> {
    const channels = [this.d.keys.room(roomId), this.d.keys.direct(roomId, this.d.serverId)];
    // Checked in the turn the SSUBSCRIBE is issued: one issued after the room's SUNSUBSCRIBE
    // would subscribe it again.
    if (!this.channels.has(channels[0]!)) return 'active';
    if (this.d.breaker.isOpen) return 'refused';
    try {
      await this.d.conn.confirmSubscribed(channels);
      return 'active';
    } catch (err) {
      this.d.logger.debug({ err: errorMessage(err), roomId }, 'subscription not confirmed');
      return 'unconfirmed';
    }
  }

  /** Which of these nodes have a lease in Redis (an unreadable one counts as not). */
  private async liveNodes(nodes: Set<string>): Promise<Set<string>> {
    const live = new Set<string>();
    await Promise.all(
      [...nodes].map(async (node) => {
        try {
          const score = await this.d.host.op('reconcile', () => {
            this.d.conn.joinTurn();
            return this.d.conn.commands.zscore(this.d.keys.nodes(), node);
          });
          if (score !== null) live.add(node);
        } catch {
          // unknown: not live this round
        }
      }),
    );
    return live;
  }

  private async eachBatch(rooms: string[], fn: (roomId: string) => Promise<void>): Promise<void> {
    for (let i = 0; i < rooms.length && !this.closed; i += RECONCILE_BATCH)
      await Promise.all(rooms.slice(i, i + RECONCILE_BATCH).map(fn));
  }

  /** The room's members hash as client id → node ('' for detached); undefined if unreadable. */
  private async snapshot(roomId: string): Promise<Record<string, string> | undefined> {
    try {
      const records = await this.d.host.op('reconcile', () => {
        this.d.conn.joinTurn(); // in the turn's write, with the joins and publishes beside it
        return this.d.conn.commands.hgetall(this.d.keys.members(roomId));
      });
      const snapshot: Record<string, string> = {};
      for (const [id, text] of Object.entries(records))
        snapshot[id] = decodeRecord(text)?.node ?? '';
      return snapshot;
    } catch {
      return undefined; // later envelopes keep the map usable
    }
  }

  private announce(roomId: string, joined: [string, string][], left: string[]): void {
    for (const [id, owner] of joined) this.d.host.deliver(roomId, joinEnvelope(id, owner));
    for (const id of left) this.d.host.deliver(roomId, leaveEnvelope(id, this.d.serverId));
  }
}

export function joinEnvelope(id: string, serverId: string): Envelope {
  return {
    senderId: id,
    data: { type: 'control', action: 'peer-joined', payload: { peerId: id } },
    originServerId: serverId,
    event: 'join',
  };
}

export function leaveEnvelope(id: string, serverId: string): Envelope {
  return {
    senderId: id,
    data: { type: 'peer-disconnected' },
    originServerId: serverId,
    event: 'leave',
  };
}

/**
 * Node liveness for the redis backend, per node rather than per member or room:
 * - one lease per node in the sorted set `P nodes`, extended once per NODE_LEASE_MS / 3 by one
 *   script call (node.lua), whatever the number of rooms and members;
 * - member → node ownership in each room's member records, and per node an index of the rooms
 *   it has members in (`P node:SERVER:rooms`), written when the node enters a room and
 *   removed when it leaves it (not per member);
 * - reaping by node: the same script call reports nodes whose lease expired and claims them;
 *   the claimant walks the dead node's room index and removes its members room by room
 *   (reap.lua, atomic per room, so each removed member is announced once), then deletes the
 *   node's lease and index.
 * So a crashed node's members are gone at most NODE_LEASE_MS + NODE_LEASE_MS / 3 after the
 * crash, plus the reaping round trips.
 *
 * Re-registration (register.lua) from this node's own registry of its members, never from
 * Redis: when Redis says this node's lease is gone (Redis lost its data, or a reaper took this
 * node for dead while it was cut off), and when a command connection reconnects (a single Redis
 * or one Cluster master may have restarted empty). The same script refreshes the TTL of
 * long-lived rooms in a slow sweep (each room once per ROOM_TTL_SECONDS / 2, spread over time):
 * the only per-room background work left, at 1 / 1,800 s per room with the default TTL.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { LeaveNote, LeaveResult } from './backend.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Dead nodes claimed per tick; the rest are claimed on the next ticks. */
const MAX_CLAIMS = 8;
/** SSCAN batch of a dead node's room index, and the bound on rounds per dead node. */
const SCAN_COUNT = 500;
const MAX_SCAN_ROUNDS = 10_000;
/** Rooms per re-registration batch, and TTL-sweep rooms per tick. */
const BATCH_ROOMS = 500;

export interface LivenessHost {
  /** Run one awaited Redis operation through the circuit breaker. */
  op<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** May this node reap now (it has been connected for a full lease)? */
  reapAllowed(): boolean;
  /** Members of a dead node were removed by this node: tell local and remote peers. */
  onReaped(roomId: string, ids: string[], deadNode: string, roomFinished: boolean): void;
  /** Members of this node that Redis had lost are back. */
  onReregistered(roomId: string, ids: string[]): void;
  /** A failed leave given a note succeeded on retry; `result` is the retry's own. */
  onLeaveRetried(roomId: string, clientId: string, note: LeaveNote, result: LeaveResult): void;
}

export class NodeLiveness {
  /** This node's members as registered in Redis: room → client id → member record (JSON). */
  private readonly local = new Map<string, Map<string, string>>();
  /** room → when this node last refreshed its keys' TTL; insertion order is refresh order. */
  private readonly refreshed = new Map<string, number>();
  /** Rooms this node has put in its room index since the index was last (re)built. */
  private readonly indexed = new Set<string>();
  /** Joins in flight per room (the room stays indexed while any is). */
  private readonly joining = new Map<string, number>();
  /** Leaves whose script failed (Redis away): retried by the tick, so no ghost stays behind. */
  /** room → client id → its leave's note (reported when the retry succeeds). */
  private readonly failedLeaves = new Map<string, Map<string, LeaveNote | undefined>>();
  private rebuildPending = false;
  /** A lease call is in flight. */
  private leasing = false;
  /** A tick came due while the lease call was in flight: lease again as soon as it ends. */
  private leaseDue = false;
  private stopped = false;
  /** Re-registration, retries, the sweep or reaping is running. */
  private busy = false;

  constructor(
    private readonly serverId: string,
    private readonly conn: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly host: LivenessHost,
    private readonly now: () => number,
  ) {}

  /** Rooms with members of this node (for tests and metrics). */
  get roomCount(): number {
    return this.local.size;
  }

  // ---- the join and leave paths ------------------------------------------------------

  /**
   * Before a join script: index the room if it is not yet. The SADD goes out in the same write
   * as the join (nothing is awaited in between), so it costs no round trip.
   */
  beforeJoin(roomId: string): Promise<unknown> | undefined {
    this.joining.set(roomId, (this.joining.get(roomId) ?? 0) + 1);
    if (this.indexed.has(roomId)) return undefined;
    this.indexed.add(roomId);
    this.conn.joinTurn();
    return this.conn.commands.sadd(this.keys.nodeRooms(this.serverId), roomId).catch((err) => {
      // Retried by the next tick's rebuild; the join itself reports the failure.
      this.indexed.delete(roomId);
      this.rebuildPending = true;
      throw err;
    });
  }

  /**
   * Before a join script on a single Redis: the room index key when the script is to index the
   * room (it is not indexed yet), else undefined. The index then goes with the join, in the
   * same call (the index is in another slot, so on a Cluster `beforeJoin` sends its own SADD).
   */
  indexInScript(roomId: string): string | undefined {
    this.joining.set(roomId, (this.joining.get(roomId) ?? 0) + 1);
    if (this.indexed.has(roomId)) return undefined;
    this.indexed.add(roomId);
    return this.keys.nodeRooms(this.serverId);
  }

  /**
   * A join script given the index key failed. The entry and the join are one call, so they
   * happened together or not at all (after a timeout, an entry of a room without this node's
   * members is harmless: a reaper finds none of them there); the next join of the room carries
   * the key again. Only another join of the room already in flight without the key, or a member
   * here, may lack its entry now: then the next tick rebuilds the index.
   */
  indexFailed(roomId: string): void {
    this.indexed.delete(roomId);
    if ((this.joining.get(roomId) ?? 0) > 1 || this.local.has(roomId)) this.rebuildPending = true;
  }

  /** The join script ran (successfully or not). */
  afterJoin(roomId: string, clientId: string, record: string | undefined): void {
    const n = (this.joining.get(roomId) ?? 1) - 1;
    if (n > 0) this.joining.set(roomId, n);
    else this.joining.delete(roomId);
    if (record !== undefined) {
      let room = this.local.get(roomId);
      if (!room) this.local.set(roomId, (room = new Map()));
      room.set(clientId, record);
      this.touch(roomId);
    } else this.maybeUnindex(roomId);
  }

  /**
   * Before the leave script: the member is no longer this node's to re-register. Returns the
   * room index update to issue right after the leave script, in the same write (on a single
   * Redis, applied after it), when this node has no member left in the room.
   */
  leaving(roomId: string, clientId: string): (() => Promise<unknown>) | undefined {
    this.forgetMember(roomId, clientId);
    return this.local.has(roomId) ? undefined : this.unindex(roomId);
  }

  /**
   * `leaving` for a leave script on a single Redis: the room index key when the script is to
   * take the room out of the index (this node has no member left there), else undefined.
   */
  leavingInScript(roomId: string, clientId: string): string | undefined {
    this.forgetMember(roomId, clientId);
    return this.takeUnindex(roomId) ? this.keys.nodeRooms(this.serverId) : undefined;
  }

  private forgetMember(roomId: string, clientId: string): void {
    const room = this.local.get(roomId);
    if (room?.delete(clientId) && room.size === 0) {
      this.local.delete(roomId);
      this.refreshed.delete(roomId);
    }
  }

  /** The leave script failed: retry it on the ticks until it succeeds. */
  leaveFailed(roomId: string, clientId: string, note?: LeaveNote): void {
    let ids = this.failedLeaves.get(roomId);
    if (!ids) this.failedLeaves.set(roomId, (ids = new Map()));
    ids.set(clientId, note);
  }

  private maybeUnindex(roomId: string): void {
    this.unindex(roomId)?.().catch(() => undefined);
  }

  /** Whether the room is to leave the index now (then it counts as out of it). */
  private takeUnindex(roomId: string): boolean {
    if (this.local.has(roomId) || this.joining.has(roomId) || this.failedLeaves.has(roomId))
      return false;
    return this.indexed.delete(roomId);
  }

  private unindex(roomId: string): (() => Promise<unknown>) | undefined {
    if (!this.takeUnindex(roomId)) return undefined;
    return () => {
      this.conn.joinTurn();
      return this.conn.commands.srem(this.keys.nodeRooms(this.serverId), roomId);
    };
  }

  private touch(roomId: string): void {
    this.refreshed.delete(roomId);
    this.refreshed.set(roomId, this.now());
  }

  // ---- the tick: one call per node per interval ------------------------------------------

  /** No more ticks (the backend is closing). */
  stop(): void {
    this.stopped = true;
  }

  /** Redis may have lost this node's keys: re-register everything on the next tick. */
  requestRebuild(): void {
    this.rebuildPending = true;
  }

  /**
   * The lease call runs on every tick; a tick that comes due while the previous lease call is
   * still in flight runs the moment that call ends, instead of being skipped to the next
   * period (so one slow call delays the next by its overrun only, and the reaping bound holds
   * as NODE_LEASE_MS + max(NODE_LEASE_MS / 3, one lease call)). The slower
   * work — re-registration, failed leaves, the TTL sweep, reaping — runs one at a time beside
   * it, so a long reap never delays this node's own lease. Dead nodes are claimed only when
   * this node is free to reap them.
   */
  async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.leasing) {
      this.leaseDue = true;
      return;
    }
    this.leasing = true;
    this.leaseDue = false;
    let present: number;
    let claimed: string[];
    try {
      [present, claimed] = await this.host.op('node-lease', () =>
        this.conn.scripts.sbNode(
          this.keys.nodes(),
          this.serverId,
          this.config.nodeLeaseMs,
          this.host.reapAllowed() && !this.busy ? '1' : '0',
          MAX_CLAIMS,
        ),
      );
    } catch {
      return; // counted by the breaker; the next tick retries
    } finally {
      this.leasing = false;
      if (this.leaseDue) void this.tick();
    }
    if (present === 0 && this.local.size > 0) {
      this.logger.warn('node lease was gone from redis: re-registering members');
      this.rebuildPending = true;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      if (this.rebuildPending) await this.rebuild();
      if (this.failedLeaves.size > 0) await this.retryLeaves();
      await this.sweep();
      for (const dead of claimed) await this.reapNode(dead);
    } catch {
      // counted by the breaker; the next tick retries (a claim lapses and is taken again)
    } finally {
      this.busy = false;
    }
  }

  /** Put every member and room of this node back (idempotent). */
  private async rebuild(): Promise<void> {
    this.rebuildPending = false;
    this.indexed.clear();
    const rooms = [...this.local.keys()];
    try {
      for (let i = 0; i < rooms.length; i += BATCH_ROOMS) {
        const batch = rooms.slice(i, i + BATCH_ROOMS);
        this.conn.joinTurn();
        const index = this.host.op('index', () =>
          this.conn.commands.sadd(this.keys.nodeRooms(this.serverId), ...batch),
        );
        await Promise.all([index, ...batch.map((r) => this.register(r))]);
        for (const r of batch) this.indexed.add(r);
      }
    } catch (err) {
      this.rebuildPending = true;
      throw err;
    }
    // Rooms entered while the rebuild ran were indexed by their own join.
  }

  /** Re-register this node's members of one room and refresh its TTL. */
  private async register(roomId: string): Promise<void> {
    const room = this.local.get(roomId);
    if (!room) return;
    const pairs: string[] = [];
    for (const [id, record] of room) pairs.push(id, record);
    this.touch(roomId);
    const added = await this.host.op('register', () =>
      this.conn.scripts.sbRegister(
        ...this.keys.roomKeys(roomId),
        this.config.roomTtlSeconds,
        ...pairs,
      ),
    );
    if (added.length > 0) this.host.onReregistered(roomId, added);
  }

  /**
   * Retry failed leaves (bounded per tick): the rooms are put back in the index first, so a
   * crash before the retry succeeds still gets the members reaped.
   */
  private async retryLeaves(): Promise<void> {
    const rooms = [...this.failedLeaves.keys()].slice(0, BATCH_ROOMS);
    this.conn.joinTurn();
    await this.host.op('index', () =>
      this.conn.commands.sadd(this.keys.nodeRooms(this.serverId), ...rooms),
    );
    for (const r of rooms) this.indexed.add(r);
    await Promise.all(
      rooms.map(async (roomId) => {
        for (const [id, note] of this.failedLeaves.get(roomId) ?? []) {
          if (this.local.get(roomId)?.has(id)) continue; // it joined again meanwhile
          const [removed, remaining] = await this.host.op('leave', () =>
            this.conn.scripts.sbLeave(
              2,
              ...this.keys.roomKeys(roomId),
              id,
              this.config.roomTtlSeconds,
              roomId,
            ),
          );
          // Atomic like the first try: removed only if nobody (a reaper) removed it meanwhile.
          const result = { removed: removed === 1, roomFinished: removed === 1 && remaining === 0 };
          if (note) this.host.onLeaveRetried(roomId, id, note, result);
        }
        this.failedLeaves.delete(roomId);
        this.maybeUnindex(roomId);
      }),
    );
  }

  /** Refresh the TTL of rooms last refreshed half a TTL ago (oldest first, bounded per tick). */
  private async sweep(): Promise<void> {
    const due = this.now() - (this.config.roomTtlSeconds * 1000) / 2;
    const rooms: string[] = [];
    for (const [roomId, at] of this.refreshed) {
      if (at > due || rooms.length >= BATCH_ROOMS) break;
      rooms.push(roomId);
    }
    if (rooms.length > 0) await Promise.all(rooms.map((r) => this.register(r)));
  }

  /** Remove a dead node's members, room by room, then its lease and index. */
  private async reapNode(dead: string): Promise<void> {
    const index = this.keys.nodeRooms(dead);
    let cursor = '0';
    let rounds = 0;
    do {
      const [next, rooms] = await this.host.op('reap-scan', () =>
        this.conn.commands.sscan(index, cursor, 'COUNT', SCAN_COUNT),
      );
      cursor = next;
      await Promise.all(
        rooms.map(async (roomId) => {
          const [ids, remaining] = await this.host.op('reap', () =>
            this.conn.scripts.sbReap(
              ...this.keys.roomKeys(roomId),
              dead,
              this.config.roomTtlSeconds,
            ),
          );
          if (ids.length > 0) this.host.onReaped(roomId, ids, dead, remaining === 0);
        }),
      );
    } while (cursor !== '0' && ++rounds < MAX_SCAN_ROUNDS);
    if (cursor !== '0') return; // claimed again after a lease, and resumed
    await this.host.op('reap-done', () =>
      Promise.all([
        this.conn.commands.zrem(this.keys.nodes(), dead),
        this.conn.commands.del(index),
      ]),
    );
    this.logger.info({ node: dead }, 'reaped dead node');
  }
}

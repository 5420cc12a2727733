/**
 * Resume sessions in Redis (SPEC.md §13; docs/resume.md): detach a member, keep what is sent to
 * detached members, claim a session on resume, end it at the end of its window. Each is one
 * script call (detach.lua, keep.lua, claim.lua, expire.lua); the claim indexes the room like a
 * join, so a node that dies after a resume has its resumed member reaped.
 */
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { ClaimResult, DetachedMember, ExpireResult } from './backend.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { decodeRecord } from './member-record.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import type { NodeLiveness } from './redis-liveness.js';
import type { RemoteMembers } from './remote-members.js';

export interface SessionsDeps {
  serverId: string;
  conn: RedisConnection;
  keys: RedisKeys;
  config: Config;
  breaker: CircuitBreaker;
  metrics: Metrics;
  liveness: NodeLiveness;
  remote: RemoteMembers;
  /** Run one awaited Redis operation through the circuit breaker. */
  op<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** A fire-and-forget call failed (counted like a publish). */
  publishFailed(err: unknown): void;
  isClosed(): boolean;
}

export class RedisSessions {
  constructor(private readonly d: SessionsDeps) {}

  async detach(
    roomId: string,
    peerId: string,
    tokenHash: string,
    windowMs: number,
    mailboxBytes: number,
  ): Promise<number> {
    const k = this.d.keys;
    // No longer this node's member to re-register (its record names no node from now on).
    const unindex = this.d.liveness.leaving(roomId, peerId);
    const script = this.d.op('detach', () =>
      this.d.conn.scripts.sbDetach(
        ...k.sessionKeys(roomId),
        k.session(roomId, tokenHash),
        k.mailbox(roomId, peerId),
        peerId,
        windowMs,
        mailboxBytes,
        tokenHash,
        this.d.config.roomTtlSeconds,
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
    if (this.d.isClosed() || !this.d.breaker.tryAcquire()) {
      this.d.metrics.redisPublishFailures.inc();
      return;
    }
    const k = this.d.keys;
    const keys = [k.detached(roomId), k.windows(roomId)];
    for (const id of peerIds) keys.push(k.mailbox(roomId, id));
    this.d.conn.scripts.sbKeep(keys.length, ...keys, payload, ...peerIds).then((overflowed) => {
      this.d.breaker.success();
      for (const id of overflowed) onOverflow(id);
    }, this.d.publishFailed);
  }

  async claim(
    roomId: string,
    tokenHash: string,
    graceMs: number,
    namedPeer?: string,
  ): Promise<ClaimResult> {
    const k = this.d.keys;
    // Indexed like a join: if this node dies, the reaper finds the resumed member.
    let record: string | undefined;
    let claimedId: string | undefined;
    const index = this.d.liveness.beforeJoin(roomId);
    let reply: Awaited<ReturnType<typeof this.d.conn.scripts.sbClaim>>;
    try {
      const script = this.d.op('claim', () =>
        this.d.conn.scripts.sbClaim(
          ...k.sessionKeys(roomId),
          k.session(roomId, tokenHash),
          k.mailboxPrefix(roomId),
          this.d.serverId,
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
      this.d.liveness.afterJoin(roomId, claimedId ?? '', claimedId ? record : undefined);
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
      members: this.d.remote.joined(roomId, flat ?? []),
      detachedMs: detachedMs ?? 0,
      detached: detachedMembers(detached ?? []),
    };
  }

  async expire(roomId: string, peerId: string, now = false): Promise<ExpireResult> {
    const k = this.d.keys;
    const [status, remaining] = await this.d.op('expire', () =>
      this.d.conn.scripts.sbExpire(
        ...k.sessionKeys(roomId),
        k.mailbox(roomId, peerId),
        peerId,
        now ? '1' : '0',
      ),
    );
    const result = (['ended', 'open', 'attached', 'gone'] as const)[status] ?? 'gone';
    // An attached member (the API asked, or it resumed) is still where the node knows it.
    if (result !== 'attached') this.d.remote.forget(roomId, peerId);
    return { status: result, roomFinished: result === 'ended' && remaining === 0 };
  }
}

/** {id1, deadline1, ...} of join.lua / claim.lua. */
export function detachedMembers(flat: string[]): DetachedMember[] {
  const out: DetachedMember[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    out.push({ peerId: flat[i]!, deadline: Number(flat[i + 1]) });
  return out;
}

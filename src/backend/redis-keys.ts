/**
 * Redis key and channel layout (SPEC.md §5). Everything of one room lives in one cluster hash
 * slot: the set `P room:ROOM` has no hash tag, so its slot is that of its whole name, and the
 * other keys and channels tag exactly that name (`{P room:ROOM}:…`), which Redis Cluster hashes
 * to the same slot. So one Lua script can touch them all, and a room's channels live on the
 * shard that holds its keys (sharded pub/sub keeps per-sender order across them).
 */

export class RedisKeys {
  constructor(readonly prefix: string) {
    // A brace in the prefix would change which part of a key Redis Cluster hashes.
    if (/[{}]/.test(prefix)) throw new Error('REDIS_KEY_PREFIX must not contain { or }');
  }

  /** Membership set (SPEC.md §5), and the room's broadcast channel (same name). */
  room(roomId: string): string {
    return `${this.prefix}room:${roomId}`;
  }

  /** Sorted set client id → lease expiry (ms, Redis clock). */
  lease(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:lease`;
  }

  /** Hash client id → server id of the node the client is connected to. */
  owners(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:owners`;
  }

  /** Detached members (SPEC.md §13): hash client id → mailbox bytes used, -1 overflowed. */
  detached(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:detached`;
  }

  /** Detached members: hash client id → "deadline detachedAt cap tokenHash". */
  windows(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:windows`;
  }

  /** A resume session: the hash of its token → the detached client id. */
  session(roomId: string, tokenHash: string): string {
    return `{${this.prefix}room:${roomId}}:resume:${tokenHash}`;
  }

  /** What the room sent a detached member, in order. */
  mailbox(roomId: string, clientId: string): string {
    return this.mailboxPrefix(roomId) + clientId;
  }

  mailboxPrefix(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:mailbox:`;
  }

  /** The five keys the resume scripts start with, in their KEYS order. */
  sessionKeys(roomId: string): [string, string, string, string, string] {
    return [
      this.room(roomId),
      this.lease(roomId),
      this.owners(roomId),
      this.detached(roomId),
      this.windows(roomId),
    ];
  }

  /** The three keys the Lua scripts take, in their KEYS order. */
  roomKeys(roomId: string): [string, string, string] {
    return [this.room(roomId), this.lease(roomId), this.owners(roomId)];
  }

  /**
   * Channel for directed (v2 `to`) messages to the members of one node in one room: only that
   * node subscribes it, so a directed message costs one publish that one node receives.
   */
  direct(roomId: string, serverId: string): string {
    return `{${this.prefix}room:${roomId}}:to:${serverId}`;
  }

  /** Distributed rate-limit counter of one window (SPEC.md §6). */
  counter(windowStart: number, key: string): string {
    return `${this.prefix}rl:${windowStart}:${key}`;
  }
}

/**
 * Redis key and channel layout (SPEC.md §5; the full table is in README.md, "Redis data
 * model"). Everything of one room lives in one cluster hash slot: the set `P room:ROOM` has no
 * hash tag, so its slot is that of its whole name, and the other keys and channels tag exactly
 * that name (`{P room:ROOM}:…`), which Redis Cluster hashes to the same slot. So one Lua script
 * can touch them all, and a room's channels live on the shard that holds its keys (sharded
 * pub/sub keeps per-sender order across them). Node liveness is per node: one sorted set of
 * node leases and one room index per node, touched once per interval and per room the node
 * enters or leaves, never per member or message.
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

  /**
   * Hash client id → member record, JSON `{"node","joinedAt","v","subject"?}` (MemberRecord):
   * the node the client is connected to, when it joined (ms, that node's clock), its protocol
   * version and, with auth, the token's subject.
   */
  members(roomId: string): string {
    return `{${this.prefix}room:${roomId}}:members`;
  }

  /** The two keys the room scripts take, in their KEYS order. */
  roomKeys(roomId: string): [string, string] {
    return [this.room(roomId), this.members(roomId)];
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

  /** The four keys the resume scripts start with, in their KEYS order. */
  sessionKeys(roomId: string): [string, string, string, string] {
    return [this.room(roomId), this.members(roomId), this.detached(roomId), this.windows(roomId)];
  }

  /** Sorted set server id → node lease expiry (ms, Redis clock): one entry per live node. */
  nodes(): string {
    return `${this.prefix}nodes`;
  }

  /** Set of the rooms a node has (or recently had) members in: what a reaper walks. */
  nodeRooms(serverId: string): string {
    return `${this.prefix}node:${serverId}:rooms`;
  }

  /**
   * Channel for directed (v2 `to`) messages to the members of one node in one room: only that
   * node subscribes it, so a directed message costs one publish that one node receives.
   */
  direct(roomId: string, serverId: string): string {
    return `{${this.prefix}room:${roomId}}:to:${serverId}`;
  }

  /**
   * A node's own channel: server API commands (remove a member, a message to one member) for
   * the members of that node, whatever the room. Each node subscribes its own, from start.
   */
  nodeChannel(serverId: string): string {
    return `${this.prefix}node:${serverId}:commands`;
  }

  /** SCAN pattern of the membership sets of rooms whose id starts with roomPrefix. */
  roomPattern(roomPrefix: string): string {
    // Room ids (and so prefixes) hold no glob character; REDIS_KEY_PREFIX may.
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}room:${roomPrefix}*`;
  }

  /**
   * Distributed rate-limit counter of one window (SPEC.md §6). The window is the hash tag, so
   * every counter of a window is in one slot and one script call syncs them all.
   */
  counter(windowStart: number, key: string): string {
    return `{${this.prefix}rl:${windowStart}}:${key}`;
  }
}

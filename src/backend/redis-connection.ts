/**
 * The Redis connections of one node, behind one small interface for a single Redis and for a
 * Redis Cluster:
 * - `commands`: scripts, counters, publishes. Without an offline queue: while Redis is away a
 *   command fails at once, so the circuit breaker sees it and nothing piles up in memory to be
 *   replayed late. Publishes issued in one event-loop turn go out in one write (see
 *   `coalescePerTurn`; on a Cluster one write per master, `cluster-turn.ts`); ioredis' own
 *   auto-pipelining is off, for the reason given there.
 * - subscriptions: a dedicated subscriber connection (SUBSCRIBE) for a single Redis; the
 *   cluster's sharded subscribers (SSUBSCRIBE, one connection per master) for a Cluster. Both
 *   resubscribe by themselves after a reconnect; `onResubscribed` and `confirmSubscribed` say
 *   when what was published meanwhile may be lost and when a room's subscription is back.
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';
import { clusterTurn } from './cluster-turn.js';
import { ReplySkippingPublisher } from './reply-skip.js';

/** A command that does not answer within this is a failure (a hung Redis opens the breaker). */
const COMMAND_TIMEOUT_MS = 2000;

/** Reconnect quickly at first, then every 2 s at most (ioredis' retryStrategy contract). */
export function retryStrategy(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2000);
}

/**
 * A Cluster's resubscriptions are told once ioredis' `subscribersReady` events have been quiet
 * this long, or RESUBSCRIBED_MAX_WAIT_MS after the first of a burst (so the rooms of the other
 * shards are not kept waiting by one that stays away). ioredis emits the event after every
 * reset of its sharded subscribers (one replaced after its connection dropped, or the slots
 * moved), and while a shard stays unreachable it replaces that subscriber over and over,
 * emitting it each time whether or not the new connection came up: measured with ioredis 6.0,
 * about 75 a second while a master was down or refused connections.
 */
const RESUBSCRIBED_QUIET_MS = 500;
const RESUBSCRIBED_MAX_WAIT_MS = 5000;

/** claim.lua: { status, id, mailbox, members, detachedMs, detached }. */
export type ClaimReply = [number, string?, string[]?, string[]?, number?, string[]?];

/** The Lua scripts of lua/, as ioredis custom commands (EVALSHA with a NOSCRIPT fallback). */
export interface Scripts {
  /**
   * join.lua, variadic (3 keys, or 4 with this node's room index on a single Redis): numKeys,
   * room, members, windows[, index], clientId, capacity, ttl, record, roomId.
   */
  sbJoin(
    numKeys: number,
    ...keysAndArgs: (string | number)[]
  ): Promise<[ok: number, members: string[], detached?: string[], started?: number]>;
  /** leave.lua, variadic: numKeys, room, members[, index], clientId, ttl, roomId. */
  sbLeave(
    numKeys: number,
    ...keysAndArgs: (string | number)[]
  ): Promise<[removed: number, remaining: number]>;
  /** pairs: client id, member record, ... */
  sbRegister(room: string, members: string, ttl: number, ...pairs: string[]): Promise<string[]>;
  sbReap(
    room: string,
    members: string,
    deadNode: string,
    ttl: number,
  ): Promise<[removed: string[], remaining: number]>;
  sbNode(
    nodes: string,
    serverId: string,
    leaseMs: number,
    reap: string,
    maxClaims: number,
  ): Promise<[number, string[]]>;
  /** detach.lua: KEYS room, members, detached, windows, session, mailbox. */
  sbDetach(...keysAndArgs: (string | number)[]): Promise<number>;
  /** keep.lua, variadic: numKeys first (ioredis' form for scripts without a fixed key count). */
  sbKeep(numKeys: number, ...keysAndArgs: string[]): Promise<string[]>;
  /** claim.lua: KEYS room, members, detached, windows, session. */
  sbClaim(...keysAndArgs: (string | number)[]): Promise<ClaimReply>;
  /** expire.lua: KEYS room, members, detached, windows, mailbox. */
  sbExpire(...keysAndArgs: string[]): Promise<[status: number, remaining: number]>;
}

const SCRIPTS: [name: keyof Scripts, file: string, keys: number | undefined][] = [
  ['sbJoin', 'join.lua', undefined],
  ['sbLeave', 'leave.lua', undefined],
  ['sbRegister', 'register.lua', 2],
  ['sbReap', 'reap.lua', 2],
  ['sbNode', 'node.lua', 1],
  ['sbDetach', 'detach.lua', 6],
  ['sbKeep', 'keep.lua', undefined],
  ['sbClaim', 'claim.lua', 5],
  ['sbExpire', 'expire.lua', 5],
];

/** counter.lua takes a variable number of keys, so it is called through EVALSHA directly. */
export interface CounterScript {
  /** Add `deltas` to `keys` (one slot), each expiring after `expiryMs`; resolve to the totals. */
  (keys: string[], deltas: number[], expiryMs: number): Promise<number[]>;
}

export interface RedisConnection {
  readonly cluster: boolean;
  readonly commands: Redis | Cluster;
  readonly scripts: Scripts;
  readonly counters: CounterScript;
  /**
   * Join the current event-loop turn's write before issuing a plain command on `commands`
   * (scripts and publishes do it themselves); on a Cluster, one write per master.
   */
  joinTurn(): void;
  connect(): Promise<void>;
  subscribe(channels: string[]): Promise<unknown>;
  unsubscribe(channels: string[]): Promise<unknown>;
  /**
   * The publishes of one flush, in order, in one write where the connection allows it. The
   * promises are those of the publishes sent with their reply: on a single Redis most are not
   * (reply-skip.ts); `checked` (the circuit is not closed) asks for every reply.
   */
  publish(batch: [channel: string, message: string][], checked: boolean): Promise<unknown>[];
  onMessage(listener: (channel: string, message: string) => void): void;
  /**
   * A command connection became ready again after it had been ready before (single Redis: the
   * one connection; Cluster: any master's). The server behind it may have restarted without its
   * data, so the node re-registers its members.
   */
  onReconnect(listener: () => void): void;
  /**
   * The subscriptions were restored after a subscriber connection had been lost: what was
   * published meanwhile is lost. Single Redis: the subscriber connection is ready again and a
   * PING behind ioredis' resubscription has answered, so every SUBSCRIBE is active again.
   * Cluster: ioredis replaced a shard's sharded subscriber (or the slots moved) and has sent the
   * SSUBSCRIBEs (`subscribersReady`), which does not say they are active, nor that the new
   * connection stayed up; so each room is confirmed with `confirmSubscribed` before it is read.
   */
  onResubscribed(listener: () => void): void;
  /**
   * Resolves once the subscription of these channels (one room's: one slot) is known active
   * after an `onResubscribed`; rejects when that is not known yet (try again later). Single
   * Redis: at once (the PING proved it). Cluster: a second SSUBSCRIBE of the channels, answered
   * on the shard's subscriber connection.
   */
  confirmSubscribed(channels: string[]): Promise<void>;
  /** Errors of any of the connections (ioredis reports them as events, and reconnects). */
  onError(listener: (err: Error) => void): void;
  /** Graceful: pending commands (the last publishes) are written before the connections close. */
  quit(): Promise<void>;
  disconnect(): void;
}

export function createRedisConnection(config: Config, name: string): RedisConnection {
  const base: RedisOptions = {
    lazyConnect: true,
    enableAutoPipelining: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectionName: name,
    maxRetriesPerRequest: 1,
    // A command sent but not answered when a connection drops is not sent again after the
    // reconnect: by then its caller has had its failure (the command timeout), and Redis may
    // have run it already, so a PUBLISH would arrive twice and a join script could admit a
    // client that was told it was refused. ioredis resends them by default, however long the
    // outage (each reconnect attempt starts a new queue, so its "max retries" flush misses
    // them). The subscriber turns it back on: a resent SUBSCRIBE is harmless.
    autoResendUnfulfilledCommands: false,
  };
  return config.redisClusterNodes.length > 0
    ? clusterConnection(config, base)
    : singleConnection(config.redisUrl ?? 'redis://127.0.0.1:6379', base);
}

function defineScripts(client: Redis | Cluster): Scripts {
  for (const [name, file, numberOfKeys] of SCRIPTS)
    client.defineCommand(
      name,
      numberOfKeys === undefined ? { lua: readLua(file) } : { numberOfKeys, lua: readLua(file) },
    );
  return client as unknown as Scripts;
}

function readLua(file: string): string {
  return readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
}

function defineCounter(client: Redis | Cluster, coalesce?: () => void): CounterScript {
  // No numberOfKeys: the caller passes it, since a sync carries as many keys as saw traffic.
  client.defineCommand('sbCounter', { lua: readLua('counter.lua') });
  const call = (
    client as unknown as Record<string, (...a: unknown[]) => Promise<number[]>>
  ).sbCounter!.bind(client);
  return (keys, deltas, expiryMs) => {
    coalesce?.();
    return call(keys.length, ...keys, expiryMs, ...deltas);
  };
}

/**
 * Corks the command connection's socket on the first publish or script call of an event-loop
 * turn and uncorks it when the turn's I/O callbacks are done (setImmediate runs right after the
 * poll phase), so what one turn issues leaves in one writev, as auto-pipelining would batch it:
 * the publishes of a busy turn, the lease refresh's one script call per local room, the limit
 * sync's one call per key.
 * ioredis' enableAutoPipelining is not used because, measured at 1,000 publishes/s (ioredis 5.11
 * and 6.0 alike), it keeps each pipeline's objects alive long enough to be promoted: about 2 MB
 * reached the old generation per scavenge, and scavenges took 10–30 ms (about 2 ms with this),
 * which stalled every socket of the node (docs/performance.md, "Profile evidence").
 */
function coalescePerTurn(client: Redis): () => void {
  let corked: Redis['stream'] | undefined;
  const uncork = () => {
    const s = corked;
    corked = undefined;
    s?.uncork();
  };
  return () => {
    if (corked !== undefined || client.status !== 'ready') return;
    corked = client.stream;
    corked.cork();
    setImmediate(uncork);
  };
}

/** The scripts, each call first joining the turn's write (`coalescePerTurn`). */
function coalescedScripts(scripts: Scripts, coalesce: () => void): Scripts {
  const wrapped = {} as Record<keyof Scripts, (...args: unknown[]) => Promise<unknown>>;
  for (const [name] of SCRIPTS) {
    const call = (scripts[name] as (...args: unknown[]) => Promise<unknown>).bind(scripts);
    wrapped[name] = (...args) => {
      coalesce();
      return call(...args);
    };
  }
  return wrapped as unknown as Scripts;
}

/** Calls listener on every 'ready' of client but its first. */
function onReadyAgain(client: Redis, listener: () => void): void {
  let ready = client.status === 'ready';
  client.on('ready', () => {
    if (ready) listener();
    ready = true;
  });
}

/**
 * The Cluster's `subscribersReady` events once it has connected, coalesced (see
 * RESUBSCRIBED_QUIET_MS): one timer per node.
 */
function clusterResubscriptions(cluster: Cluster): {
  listen(listener: () => void): void;
  arm(): void;
  stop(): void;
} {
  const listeners: (() => void)[] = [];
  let armed = false;
  let first = 0;
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    timer = undefined;
    if (armed) for (const listener of listeners) listener();
  };
  cluster.on('subscribersReady', () => {
    if (!armed) return; // the first connect's: nothing was subscribed yet
    const now = performance.now();
    if (timer === undefined) first = now;
    clearTimeout(timer);
    const delay = Math.min(RESUBSCRIBED_QUIET_MS, first + RESUBSCRIBED_MAX_WAIT_MS - now);
    timer = setTimeout(fire, Math.max(0, delay));
    timer.unref();
  });
  return {
    listen: (listener) => void listeners.push(listener),
    arm: () => void (armed = true),
    stop() {
      armed = false;
      clearTimeout(timer);
      timer = undefined;
    },
  };
}

function singleConnection(url: string, base: RedisOptions): RedisConnection {
  const commands = new Redis(url, { ...base, enableOfflineQueue: false, retryStrategy });
  const coalesce = coalescePerTurn(commands);
  const publisher = new ReplySkippingPublisher(commands);
  // The subscriber keeps its offline queue: SUBSCRIBE/UNSUBSCRIBE issued while disconnected are
  // applied, in order, after the automatic resubscription on reconnect.
  // maxRetriesPerRequest null: a queued SUBSCRIBE waits for the reconnect however long it takes.
  const sub = commands.duplicate({
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResendUnfulfilledCommands: true,
  });
  const coalesceSub = coalescePerTurn(sub);
  return {
    cluster: false,
    commands,
    scripts: coalescedScripts(defineScripts(commands), coalesce),
    counters: defineCounter(commands, coalesce),
    joinTurn: coalesce,
    async connect() {
      await commands.connect();
      await sub.connect();
    },
    // A SUBSCRIBE leaves at once, as before the corking: it goes out before the welcome the
    // node writes next, so a peer joining on another node right after that welcome is most
    // likely heard by its join envelope, not only by the later reconciliation. The
    // UNSUBSCRIBEs of one turn share one write (a node leaving rooms); a SUBSCRIBE behind
    // them in the same turn sends them first, in order.
    subscribe: (channels) => {
      if (sub.status === 'ready' && sub.stream.writableCorked > 0) sub.stream.uncork();
      return sub.subscribe(...channels);
    },
    unsubscribe: (channels) => {
      coalesceSub();
      return sub.unsubscribe(...channels);
    },
    // Corked around the batch (nested in a turn's cork, if any): the batch is one writev.
    publish: (batch, checked) => publisher.publish(batch, checked),
    onMessage(listener) {
      sub.on('message', listener);
    },
    onReconnect(listener) {
      onReadyAgain(commands, listener);
    },
    onResubscribed(listener) {
      // ioredis writes the resubscription before it emits 'ready' (on the next tick); a PING
      // behind it is answered once every SUBSCRIBE is active.
      onReadyAgain(sub, () => void sub.ping().then(listener, () => undefined));
    },
    confirmSubscribed: () => Promise.resolve(),
    onError(listener) {
      commands.on('error', listener);
      sub.on('error', listener);
    },
    async quit() {
      await Promise.allSettled([commands.quit(), sub.quit()]);
      commands.disconnect();
      sub.disconnect();
    },
    disconnect() {
      commands.disconnect();
      sub.disconnect();
    },
  };
}

function clusterConnection(config: Config, base: RedisOptions): RedisConnection {
  const nodes = config.redisClusterNodes.map((hostPort) => {
    const i = hostPort.lastIndexOf(':');
    return { host: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
  });
  // Credentials and TLS of REDIS_URL, when given, apply to every cluster node.
  const auth: RedisOptions = {};
  if (config.redisUrl !== undefined) {
    const u = new URL(config.redisUrl);
    if (u.username) auth.username = decodeURIComponent(u.username);
    if (u.password) auth.password = decodeURIComponent(u.password);
    if (u.protocol === 'rediss:') auth.tls = {};
  }
  const { lazyConnect, enableAutoPipelining, ...redisOptions } = base;
  const cluster = new Cluster(nodes, {
    lazyConnect,
    enableAutoPipelining,
    enableOfflineQueue: false,
    shardedSubscribers: true,
    clusterRetryStrategy: retryStrategy,
    clusterNodeRetryStrategy: retryStrategy,
    redisOptions: { ...redisOptions, ...auth },
  });
  const turn = clusterTurn(cluster);
  const resubscriptions = clusterResubscriptions(cluster);
  return {
    cluster: true,
    commands: cluster,
    scripts: coalescedScripts(defineScripts(cluster), turn.join),
    counters: defineCounter(cluster, turn.join),
    joinTurn: turn.join,
    async connect() {
      await cluster.connect();
      // ioredis creates the masters' connections lazily; a command for a master still
      // connecting is rejected (no offline queue) and retried by the Cluster 100 ms later, after
      // the commands issued since: a node's first publishes to a shard arrived out of order
      // (test/redis-cluster-writes.test.ts). So every master is connected before the first
      // command. Best effort: a master that does not answer is the circuit breaker's business.
      await Promise.allSettled(
        cluster.nodes('master').map((n) => (n.status === 'wait' ? n.connect() : undefined)),
      );
      resubscriptions.arm();
    },
    subscribe: (channels) => cluster.ssubscribe(...channels),
    unsubscribe: (channels) => cluster.sunsubscribe(...channels),
    publish: (batch) =>
      turn.corked(() => batch.map(([channel, message]) => cluster.spublish(channel, message))),
    onMessage(listener) {
      cluster.on('smessage', listener);
    },
    onReconnect(listener) {
      // One connection per master, created lazily and on topology changes.
      cluster.on('+node', (redis: Redis) => onReadyAgain(redis, listener));
    },
    onResubscribed(listener) {
      resubscriptions.listen(listener);
    },
    // A second SSUBSCRIBE of a room's channels (one slot, so one shard's subscriber): its reply
    // on that shard's current connection says they are active there, whatever the order with
    // ioredis' own resubscription (which may also still be waiting for the connection: then so
    // does this, up to the command timeout). ioredis keeps a list of the channels to resubscribe
    // and this appends them once more (its addChannels concatenates; the room's SUNSUBSCRIBE
    // drops every copy): one copy per confirmation, i.e. per room at most once per coalesced
    // resubscription and per round a lease apart while unconfirmed; never per message.
    async confirmSubscribed(channels) {
      await cluster.ssubscribe(...channels);
    },
    onError(listener) {
      cluster.on('error', listener);
    },
    async quit() {
      resubscriptions.stop();
      await cluster.quit().catch(() => undefined);
      cluster.disconnect();
    },
    disconnect() {
      resubscriptions.stop();
      cluster.disconnect();
    },
  };
}

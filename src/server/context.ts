/**
 * What the parts of a server share: its settings, injected dependencies, the connections it
 * holds and the limits that span connections. One object, built once by server.ts and handed to
 * the listener, admission, message path, departures and timers, so each part names exactly
 * what it uses and none of them reaches into another's privates.
 */
import type { Backend } from '../backend/backend.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Authenticator } from './auth.js';
import type { CloseGrace } from './close-grace.js';
import type { Faults } from './faults.js';
import type { IceServers } from './ice-servers.js';
import type { PeerRegistry } from './heartbeat-wheel.js';
import { WindowCounter } from './rate-limit.js';
import type { Resumption } from './resume.js';
import type { RoomHub } from './room-hub.js';
import type { Webhooks } from '../webhooks/webhooks.js';

export type ServerState = 'starting' | 'ready' | 'draining' | 'closed';

/** The per-IP and per-room window counters of SPEC.md §6 (cluster-wide with redis). */
export interface WindowLimits {
  readonly conn: WindowCounter;
  readonly ipMessages: WindowCounter;
  readonly roomMessages: WindowCounter;
}

export interface ServerContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly backend: Backend;
  readonly hub: RoomHub;
  readonly auth: Authenticator | undefined;
  /** Clock, ms since epoch (injected so limits and expiry can be tested without waiting). */
  readonly now: () => number;
  /** The lifecycle state; changed only by the server's setState(). */
  readonly state: () => ServerState;
  /** Every connection, pending or admitted, in the heartbeat wheel's slots. */
  readonly peers: PeerRegistry;
  /**
   * Open sockets per client IP key (ip-key.ts; pending and admitted, not refused), for
   * MAX_CONNECTIONS_PER_IP.
   */
  readonly connectionsPerIp: Map<string, number>;
  readonly limits: WindowLimits;
  /** Detached peers and resumes (SPEC.md §13). */
  readonly resume: Resumption;
  /** Sockets the server is closing, terminated when their grace runs out. */
  readonly closeGrace: CloseGrace;
  /** Where error boundaries report what they caught. */
  readonly faults: Faults;
  /** Webhook events (SPEC.md §15): called where membership changes; never waits. */
  readonly webhooks: Webhooks;
  /** ICE servers and TURN credentials (SPEC.md §12). */
  readonly ice: IceServers;
}

/**
 * `synced`: whether the backend shares counts (syncCounters); without it no counter keeps the
 * hits it would have reported. The prefixes are the keys' names in the cluster.
 */
export function createWindowLimits(config: Config, synced: boolean): WindowLimits {
  return {
    conn: new WindowCounter(config.rateLimitConnPer10s, 10_000, { prefix: 'conn:', synced }),
    ipMessages: new WindowCounter(config.rateLimitIpMsgsPer10s, 10_000, {
      prefix: 'msg-ip:',
      synced,
    }),
    roomMessages: new WindowCounter(config.rateLimitRoomMsgsPer10s, 10_000, {
      prefix: 'msg-room:',
      synced,
    }),
  };
}

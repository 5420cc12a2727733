/**
 * The one Config type and its one defaults object (SPEC.md §11). Which env var and CLI flag set
 * each field, and what values it takes, is the table in config-settings.ts; config.ts loads a
 * Config from env and flags, config-validate.ts checks the rules between its settings.
 */
export interface Config {
  wsPort: number;
  host: string;
  healthPort: number | undefined;
  metricsOnMainPort: boolean;
  redisUrl: string | undefined;
  redisClusterNodes: string[];
  redisKeyPrefix: string;
  nodeLeaseMs: number;
  roomIdMaxLength: number;
  roomCapacity: number;
  roomTtlSeconds: number;
  heartbeatIntervalMs: number;
  messageMaxBytes: number;
  maxFrameBytes: number;
  backpressureCloseThresholdBytes: number;
  rateLimitConnPer10s: number;
  rateLimitMessagesPer10s: number;
  rateLimitIpMsgsPer10s: number;
  rateLimitRoomMsgsPer10s: number;
  rateLimitSyncMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  ipv6PrefixLength: number;
  maxRooms: number;
  maxPendingUpgrades: number;
  handshakeTimeoutMs: number;
  cbErrorThreshold: number;
  cbOpenMs: number;
  drainTimeoutMs: number;
  shutdownCloseCode: number;
  requireWss: boolean;
  enableAuth: boolean;
  jwtSecret: string | undefined;
  jwtAlg: string[];
  jwtIssuer: string | undefined;
  jwtAudience: string | undefined;
  jwksUrl: string | undefined;
  jwksCacheTtl: number;
  jwtClockSkewSeconds: number;
  roomsClaim: string;
  allowClaimlessTokens: boolean;
  allowedOrigins: string[];
  allowMissingOrigin: boolean;
  subprotocol: string | undefined;
  trustProxy: boolean;
  tlsCertFile: string | undefined;
  tlsKeyFile: string | undefined;
  logLevel: string;
  logPretty: boolean;
  demo: boolean;
  resumeWindowMs: number;
  resumeMailboxBytes: number;
  stunUrls: string[];
  turnUrls: string[];
  turnSecret: string | undefined;
  turnTtlSeconds: number;
  apiKeys: string[];
  webhookUrls: string[];
  webhookSecret: string | undefined;
  webhookMaxAttempts: number;
  webhookTimeoutMs: number;
  webhookRetryBaseMs: number;
  webhookRetryMaxMs: number;
  webhookQueueMax: number;
  webhookConcurrency: number;
}

export const DEFAULTS: Config = {
  wsPort: 3002,
  host: '0.0.0.0',
  healthPort: undefined,
  metricsOnMainPort: true,
  redisUrl: undefined,
  redisClusterNodes: [],
  redisKeyPrefix: '',
  nodeLeaseMs: 10_000,
  roomIdMaxLength: 128,
  roomCapacity: 100,
  roomTtlSeconds: 3600,
  heartbeatIntervalMs: 30_000,
  messageMaxBytes: 65_536,
  maxFrameBytes: 1_048_576,
  backpressureCloseThresholdBytes: 1_048_576,
  rateLimitConnPer10s: 5,
  rateLimitMessagesPer10s: 100,
  rateLimitIpMsgsPer10s: 500,
  rateLimitRoomMsgsPer10s: 1000,
  rateLimitSyncMs: 250,
  maxConnections: 50_000,
  maxConnectionsPerIp: 100,
  ipv6PrefixLength: 64,
  maxRooms: 50_000,
  maxPendingUpgrades: 1000,
  handshakeTimeoutMs: 10_000,
  cbErrorThreshold: 3,
  cbOpenMs: 30_000,
  drainTimeoutMs: 5000,
  shutdownCloseCode: 1001,
  requireWss: false,
  enableAuth: false,
  jwtSecret: undefined,
  jwtAlg: [],
  jwtIssuer: undefined,
  jwtAudience: undefined,
  jwksUrl: undefined,
  jwksCacheTtl: 600_000,
  jwtClockSkewSeconds: 30,
  roomsClaim: 'rooms',
  allowClaimlessTokens: false,
  allowedOrigins: [],
  allowMissingOrigin: false,
  subprotocol: undefined,
  trustProxy: false,
  tlsCertFile: undefined,
  tlsKeyFile: undefined,
  logLevel: 'info',
  logPretty: false,
  demo: false,
  resumeWindowMs: 30_000,
  resumeMailboxBytes: 262_144,
  stunUrls: [],
  turnUrls: [],
  turnSecret: undefined,
  turnTtlSeconds: 86_400,
  apiKeys: [],
  webhookUrls: [],
  webhookSecret: undefined,
  webhookMaxAttempts: 8,
  webhookTimeoutMs: 5000,
  webhookRetryBaseMs: 1000,
  webhookRetryMaxMs: 60_000,
  webhookQueueMax: 10_000,
  webhookConcurrency: 8,
};

/**
 * The one table of settings (SPEC.md §11): per Config field its env var (and aliases), the CLI
 * flag derived from it, the kind of value it takes and one line of doc. config.ts parses env and
 * flags by this table and renders it as --help and as the README's configuration table
 * (test/config.test.ts checks the README against it).
 */
import type { Config } from './config-defaults.js';

export type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'closeCode' }
  | { type: 'bool' }
  | { type: 'string'; nonEmpty?: boolean }
  | { type: 'list' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'url'; schemes: readonly string[] };

export interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  /** Extra env var names accepted as aliases (first match wins after `env`). */
  aliases?: readonly string[];
  kind: Kind;
  doc: string;
}

const int = (min: number, max: number = Number.MAX_SAFE_INTEGER): Kind => ({
  type: 'int',
  min,
  max,
});
/** Longest delay a Node timer takes; a longer one silently becomes 1 ms. */
const MAX_TIMER_MS = 2_147_483_647;
const ms = (min: number, max: number = MAX_TIMER_MS): Kind => int(min, max);
const bool: Kind = { type: 'bool' };
const str: Kind = { type: 'string', nonEmpty: true };

export const SETTINGS: readonly Setting[] = [
  { key: 'wsPort', env: 'WS_PORT', aliases: ['PORT'], kind: int(0, 65535), doc: 'listening port' },
  { key: 'host', env: 'HOST', kind: str, doc: 'listening address' },
  {
    key: 'healthPort',
    env: 'HEALTH_PORT',
    kind: int(0, 65535),
    doc: 'also serve /healthz /readyz /metrics on this port',
  },
  {
    key: 'metricsOnMainPort',
    env: 'METRICS_ON_MAIN_PORT',
    kind: bool,
    doc: 'serve /metrics on the WebSocket port too (false: only on HEALTH_PORT; 426 there)',
  },
  {
    key: 'redisUrl',
    env: 'REDIS_URL',
    kind: { type: 'url', schemes: ['redis:', 'rediss:'] },
    doc: '`redis://…` / `rediss://…`; unset selects the memory backend',
  },
  {
    key: 'redisClusterNodes',
    env: 'REDIS_CLUSTER_NODES',
    kind: { type: 'list' },
    doc: 'comma-separated `host:port` seeds of a Redis Cluster (sharded pub/sub); selects the redis backend',
  },
  {
    key: 'redisKeyPrefix',
    env: 'REDIS_KEY_PREFIX',
    kind: { type: 'string' },
    doc: 'prefix for every Redis key and channel (isolates deployments sharing one Redis); no `{` or `}`',
  },
  {
    key: 'nodeLeaseMs',
    env: 'NODE_LEASE_MS',
    kind: int(300, 600_000),
    doc: "lease of a node (one refresh per node per third of it); a crashed node's members are reaped within about 1.3× this",
  },
  { key: 'roomIdMaxLength', env: 'ROOM_ID_MAX_LENGTH', kind: int(1, 4096), doc: 'longest roomId' },
  { key: 'roomCapacity', env: 'ROOM_CAPACITY', kind: int(1, 1_000_000), doc: 'members per room' },
  {
    key: 'roomTtlSeconds',
    env: 'ROOM_TTL_SECONDS',
    kind: int(1),
    doc: 'TTL of a room set in Redis, refreshed on join and leave',
  },
  {
    key: 'heartbeatIntervalMs',
    env: 'HEARTBEAT_INTERVAL_MS',
    kind: ms(10),
    doc: 'ping interval; a connection that missed the previous pong is terminated',
  },
  {
    key: 'messageMaxBytes',
    env: 'MESSAGE_MAX_BYTES',
    kind: int(16, 64 * 1024 * 1024),
    doc: 'larger messages are dropped silently',
  },
  {
    key: 'maxFrameBytes',
    env: 'MAX_FRAME_BYTES',
    kind: int(16, 1024 * 1024 * 1024),
    doc: 'hard cap on one frame; larger closes with 1009 (never below MESSAGE_MAX_BYTES)',
  },
  {
    key: 'backpressureCloseThresholdBytes',
    env: 'BACKPRESSURE_CLOSE_THRESHOLD_BYTES',
    kind: int(1),
    doc: 'a receiver buffering more is closed with 1013 "Server overloaded"',
  },
  {
    key: 'rateLimitConnPer10s',
    env: 'RATE_LIMIT_CONN_PER_10S',
    kind: int(1),
    doc: 'connection attempts per client IP per 10 s',
  },
  {
    key: 'rateLimitMessagesPer10s',
    env: 'RATE_LIMIT_MESSAGES_PER_10S',
    kind: int(1),
    doc: 'messages per client per 10 s (token bucket, continuous refill)',
  },
  {
    key: 'rateLimitIpMsgsPer10s',
    env: 'RATE_LIMIT_IP_MSGS_PER_10S',
    kind: int(1),
    doc: 'messages per client IP per 10 s',
  },
  {
    key: 'rateLimitRoomMsgsPer10s',
    env: 'RATE_LIMIT_ROOM_MSGS_PER_10S',
    kind: int(1),
    doc: 'messages per room per 10 s',
  },
  {
    key: 'rateLimitSyncMs',
    env: 'RATE_LIMIT_SYNC_MS',
    kind: int(10, 10_000),
    doc: 'how often the redis backend syncs per-IP/per-room counters across nodes',
  },
  {
    key: 'maxConnections',
    env: 'MAX_CONNECTIONS',
    kind: int(1),
    doc: 'open connections per process; more closes with 1013 "Too many connections"',
  },
  {
    key: 'maxConnectionsPerIp',
    env: 'MAX_CONNECTIONS_PER_IP',
    kind: int(1),
    doc: 'concurrent connections per client IP; more closes with 1013 "Too many connections"',
  },
  {
    key: 'ipv6PrefixLength',
    env: 'IPV6_PREFIX_LENGTH',
    kind: int(1, 128),
    doc: 'per-IP limits count an IPv6 client by this many leading bits of its address (128: the full address)',
  },
  {
    key: 'maxRooms',
    env: 'MAX_ROOMS',
    kind: int(1),
    doc: 'rooms per process; a join that would create one more closes with 1013 "Too many rooms"',
  },
  {
    key: 'maxPendingUpgrades',
    env: 'MAX_PENDING_UPGRADES',
    kind: int(1),
    doc: 'upgrades in progress at once (slowloris cap); more are answered 503',
  },
  {
    key: 'handshakeTimeoutMs',
    env: 'HANDSHAKE_TIMEOUT_MS',
    kind: ms(100),
    doc: 'time allowed for the HTTP upgrade request headers',
  },
  {
    key: 'cbErrorThreshold',
    env: 'CB_ERROR_THRESHOLD',
    kind: int(1),
    doc: 'consecutive Redis failures that open the circuit',
  },
  { key: 'cbOpenMs', env: 'CB_OPEN_MS', kind: ms(1), doc: 'how long the circuit stays open' },
  {
    key: 'drainTimeoutMs',
    env: 'DRAIN_TIMEOUT_MS',
    kind: ms(0),
    doc: 'wait for close handshakes at shutdown',
  },
  {
    key: 'shutdownCloseCode',
    env: 'SHUTDOWN_CLOSE_CODE',
    kind: { type: 'closeCode' },
    doc: 'close code sent to clients at shutdown (one a server may send: 1000–1003, 1007–1014, 3000–4999)',
  },
  {
    key: 'requireWss',
    env: 'REQUIRE_WSS',
    kind: bool,
    doc: 'refuse connections that are not TLS (or X-Forwarded-Proto https from a trusted proxy)',
  },
  { key: 'enableAuth', env: 'ENABLE_AUTH', kind: bool, doc: 'require a JWT' },
  { key: 'jwtSecret', env: 'JWT_SECRET', kind: str, doc: 'HMAC secret (HS256/384/512)' },
  {
    key: 'jwtAlg',
    env: 'JWT_ALG',
    kind: { type: 'list' },
    doc: 'accepted algorithm(s), comma-separated (default: HS256,HS384,HS512 with JWT_SECRET, RS256,ES256,EdDSA with JWKS_URL; both when both are set)',
  },
  { key: 'jwtIssuer', env: 'JWT_ISSUER', kind: str, doc: 'required `iss`' },
  { key: 'jwtAudience', env: 'JWT_AUDIENCE', kind: str, doc: 'required `aud`' },
  {
    key: 'jwksUrl',
    env: 'JWKS_URL',
    kind: { type: 'url', schemes: ['http:', 'https:'] },
    doc: 'JWKS endpoint for RS*/ES*/EdDSA keys',
  },
  {
    key: 'jwksCacheTtl',
    env: 'JWKS_CACHE_TTL',
    kind: ms(0),
    doc: 'JWKS cache lifetime, ms',
  },
  {
    key: 'jwtClockSkewSeconds',
    env: 'JWT_CLOCK_SKEW_SECONDS',
    kind: int(0, 3600),
    doc: 'tolerance for `exp`/`nbf`',
  },
  { key: 'roomsClaim', env: 'ROOMS_CLAIM', kind: str, doc: 'claim listing the granted rooms' },
  {
    key: 'allowClaimlessTokens',
    env: 'ALLOW_CLAIMLESS_TOKENS',
    kind: bool,
    doc: 'a valid token without the rooms claim grants every room (off: refused "Forbidden")',
  },
  {
    key: 'allowedOrigins',
    env: 'ALLOWED_ORIGINS',
    kind: { type: 'list' },
    doc: 'comma-separated origins (`https://app.example.com` exact, `app.example.com` any scheme/port)',
  },
  {
    key: 'allowMissingOrigin',
    env: 'ALLOW_MISSING_ORIGIN',
    kind: bool,
    doc: 'with ALLOWED_ORIGINS set, admit clients that send no Origin (non-browser apps)',
  },
  { key: 'subprotocol', env: 'SUBPROTOCOL', kind: str, doc: 'required WebSocket subprotocol' },
  {
    key: 'trustProxy',
    env: 'TRUST_PROXY',
    kind: bool,
    doc: 'honour X-Forwarded-For / X-Forwarded-Proto',
  },
  { key: 'tlsCertFile', env: 'TLS_CERT_FILE', kind: str, doc: 'PEM certificate for native TLS' },
  { key: 'tlsKeyFile', env: 'TLS_KEY_FILE', kind: str, doc: 'PEM private key for native TLS' },
  {
    key: 'logLevel',
    env: 'LOG_LEVEL',
    kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    doc: 'pino level',
  },
  { key: 'logPretty', env: 'LOG_PRETTY', kind: bool, doc: 'human-readable logs' },
  { key: 'demo', env: 'DEMO', kind: bool, doc: 'serve the browser demo page at /demo/' },
  {
    key: 'stunUrls',
    env: 'STUN_URLS',
    kind: { type: 'list' },
    doc: 'comma-separated `stun:` URLs offered to clients as ICE servers (SPEC.md §12)',
  },
  {
    key: 'turnUrls',
    env: 'TURN_URLS',
    kind: { type: 'list' },
    doc: 'comma-separated `turn:`/`turns:` URLs offered with short-lived credentials; needs TURN_SECRET',
  },
  {
    key: 'turnSecret',
    env: 'TURN_SECRET',
    kind: str,
    doc: "coturn's `static-auth-secret` (use-auth-secret); signs the TURN credentials, never logged",
  },
  {
    key: 'turnTtlSeconds',
    env: 'TURN_TTL_SECONDS',
    kind: int(1),
    doc: 'lifetime of a TURN credential; v2 clients get fresh ones at about 90 % of it',
  },
  {
    key: 'apiKeys',
    env: 'API_KEYS',
    kind: { type: 'list' },
    doc: 'comma-separated bearer keys of the server API at /api/v1/ (any one accepted; unset: every /api/ path is 404)',
  },
  {
    key: 'resumeWindowMs',
    env: 'RESUME_WINDOW_MS',
    kind: int(0, 3_600_000),
    doc: 'how long a lost v2 connection stays resumable (SPEC.md §13); 0 disables resume',
  },
  {
    key: 'resumeMailboxBytes',
    env: 'RESUME_MAILBOX_BYTES',
    kind: int(1024, 64 * 1024 * 1024),
    doc: 'what the room sends a detached peer is kept up to this many bytes; more ends its session',
  },
  {
    key: 'webhookUrls',
    env: 'WEBHOOK_URLS',
    kind: { type: 'list' },
    doc: 'comma-separated `http(s)://` URLs receiving the webhook events (SPEC §15)',
  },
  {
    key: 'webhookSecret',
    env: 'WEBHOOK_SECRET',
    kind: str,
    doc: 'Standard Webhooks signing secret `whsec_<base64>` (at least 16 bytes); required with WEBHOOK_URLS',
  },
  {
    key: 'webhookMaxAttempts',
    env: 'WEBHOOK_MAX_ATTEMPTS',
    kind: int(1, 100),
    doc: 'attempts per delivery (timeout, connection error, 408, 429, 5xx are retried)',
  },
  {
    key: 'webhookTimeoutMs',
    env: 'WEBHOOK_TIMEOUT_MS',
    kind: int(100, 120_000),
    doc: 'time allowed for one webhook attempt (answer included)',
  },
  {
    key: 'webhookRetryBaseMs',
    env: 'WEBHOOK_RETRY_BASE_MS',
    kind: int(1, 3_600_000),
    doc: 'backoff before the 2nd attempt; doubles per attempt, full jitter in [½, 1]',
  },
  {
    key: 'webhookRetryMaxMs',
    env: 'WEBHOOK_RETRY_MAX_MS',
    kind: int(1, 86_400_000),
    doc: 'longest backoff between two attempts',
  },
  {
    key: 'webhookQueueMax',
    env: 'WEBHOOK_QUEUE_MAX',
    kind: int(1, 10_000_000),
    doc: 'deliveries queued per URL; past it the oldest are dropped (counted)',
  },
  {
    key: 'webhookConcurrency',
    env: 'WEBHOOK_CONCURRENCY',
    kind: int(1, 256),
    doc: "deliveries in flight per URL (of different rooms: one room's events go one at a time, in order)",
  },
];

/** `WS_PORT` → `--ws-port`. */
export function flagName(env: string): string {
  return '--' + env.toLowerCase().replaceAll('_', '-');
}

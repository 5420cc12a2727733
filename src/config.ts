/**
 * One Config type, one table of settings with their defaults, env vars and CLI flags
 * (SPEC.md §11). Env and flags are mapped into it and validated once at start; a bad value
 * throws a ConfigError naming the setting, the value and what is expected.
 * The README's configuration table is checked against SETTINGS by test/config.test.ts.
 */
import { ConfigError } from './errors.js';
import { isIceUrl } from './server/turn-credentials.js';
import { parseSecret } from './webhooks/signer.js';

type Kind =
  | { type: 'int'; min: number; max: number }
  | { type: 'closeCode' }
  | { type: 'bool' }
  | { type: 'string'; nonEmpty?: boolean }
  | { type: 'list' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'url'; schemes: readonly string[] };

interface Setting<K extends keyof Config = keyof Config> {
  key: K;
  env: string;
  /** Extra env var names accepted as aliases (first match wins after `env`). */
  aliases?: readonly string[];
  kind: Kind;
  doc: string;
}

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

function describe(kind: Kind): string {
  switch (kind.type) {
    case 'int':
      return kind.max === Number.MAX_SAFE_INTEGER
        ? `an integer >= ${kind.min}`
        : `an integer from ${kind.min} to ${kind.max}`;
    case 'closeCode':
      return 'a close code a server may send: 1000-1003, 1007-1014 or 3000-4999';
    case 'bool':
      return 'true or false';
    case 'string':
      return 'a non-empty string';
    case 'list':
      return 'a comma-separated list';
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'url':
      return `a URL with scheme ${kind.schemes.map((s) => s + '//').join(' or ')}`;
  }
}

function parseValue(setting: Setting, raw: string): unknown {
  const { kind, env } = setting;
  const fail = (): never => {
    throw new ConfigError(env, raw, describe(kind));
  };
  switch (kind.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) fail();
      const n = Number(raw.trim());
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) fail();
      return n;
    }
    case 'closeCode': {
      const n = Number(raw.trim());
      if (!/^\d+$/.test(raw.trim()) || !isSendableCloseCode(n)) fail();
      return n;
    }
    case 'bool': {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return true;
      if (v === 'false' || v === '0' || v === 'no') return false;
      return fail();
    }
    case 'string':
      if (kind.nonEmpty && raw.length === 0) fail();
      return raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
    case 'enum':
      if (!kind.values.includes(raw)) fail();
      return raw;
    case 'url': {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return fail();
      }
      if (!kind.schemes.includes(url.protocol)) fail();
      return raw;
    }
  }
}

export interface LoadResult {
  config: Config;
  help: boolean;
  /** Non-fatal remarks to log at start (e.g. a short JWT secret). */
  warnings: string[];
}

/**
 * Build the Config from env vars, then CLI flags (flags win). Throws ConfigError on the first
 * bad value, unknown flag, or inconsistent combination.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined> = process.env,
  argv: readonly string[] = [],
): LoadResult {
  const config: Config = {
    ...DEFAULTS,
    redisClusterNodes: [],
    jwtAlg: [],
    allowedOrigins: [],
    stunUrls: [],
    turnUrls: [],
    apiKeys: [],
    webhookUrls: [],
  };
  const target = config as unknown as Record<string, unknown>;
  for (const setting of SETTINGS) {
    for (const name of [setting.env, ...(setting.aliases ?? [])]) {
      const raw = env[name];
      if (raw !== undefined && raw !== '') {
        target[setting.key] = parseValue(setting, raw);
        break;
      }
    }
  }
  const byFlag = new Map(SETTINGS.map((s) => [flagName(s.env), s]));
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const setting = byFlag.get(name);
    if (!setting) throw new ConfigError('command line', arg, `one of the flags listed by --help`);
    let raw: string;
    if (eq !== -1) raw = arg.slice(eq + 1);
    else if (
      setting.kind.type === 'bool' &&
      (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))
    )
      raw = 'true';
    else if (argv[i + 1] !== undefined) raw = argv[++i]!;
    else throw new ConfigError(setting.env, '', `a value after ${name}`);
    target[setting.key] = parseValue(setting, raw);
  }
  return { config, help, warnings: validate(config) };
}

/**
 * A code ws lets a server put in a close frame (RFC 6455 §7.4): 1004–1006 and 1015 are reserved
 * (never sent), 1016–2999 unassigned, 5000+ invalid. ws's close() throws on any of those, so a
 * bad SHUTDOWN_CLOSE_CODE used to pass validation and throw at SIGTERM instead.
 */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** Cross-setting rules. Returns warnings; throws ConfigError for combinations that cannot work. */
function validate(c: Config): string[] {
  const warnings: string[] = [];
  // A brace would change which part of a key Redis Cluster hashes (redis-keys.ts).
  if (/[{}]/.test(c.redisKeyPrefix))
    throw new ConfigError('REDIS_KEY_PREFIX', c.redisKeyPrefix, 'a prefix without { or }');
  if (c.maxFrameBytes < c.messageMaxBytes)
    throw new ConfigError(
      'MAX_FRAME_BYTES',
      String(c.maxFrameBytes),
      `at least MESSAGE_MAX_BYTES (${c.messageMaxBytes})`,
    );
  if ((c.tlsCertFile === undefined) !== (c.tlsKeyFile === undefined))
    throw new ConfigError(
      c.tlsCertFile === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE',
      '',
      'TLS_CERT_FILE and TLS_KEY_FILE set together',
    );
  for (const node of c.redisClusterNodes)
    if (!/^[^\s:]+:\d{1,5}$/.test(node))
      throw new ConfigError('REDIS_CLUSTER_NODES', node, 'host:port entries');
  for (const origin of c.allowedOrigins) {
    if (origin.includes('://')) {
      let ok: boolean;
      try {
        const u = new URL(origin);
        ok = u.origin === origin.replace(/\/$/, '');
      } catch {
        ok = false;
      }
      if (!ok)
        throw new ConfigError('ALLOWED_ORIGINS', origin, 'scheme://host[:port] or a bare hostname');
    } else if (!/^[A-Za-z0-9.-]+$/.test(origin)) {
      throw new ConfigError('ALLOWED_ORIGINS', origin, 'scheme://host[:port] or a bare hostname');
    }
  }
  if (c.enableAuth) {
    if (c.jwtSecret === undefined && c.jwksUrl === undefined)
      throw new ConfigError('JWT_SECRET', '', 'JWT_SECRET or JWKS_URL when ENABLE_AUTH=true');
    const known = [
      'HS256',
      'HS384',
      'HS512',
      'RS256',
      'RS384',
      'RS512',
      'PS256',
      'PS384',
      'PS512',
      'ES256',
      'ES384',
      'ES512',
      'EdDSA',
    ];
    for (const alg of c.jwtAlg) {
      if (!known.includes(alg)) throw new ConfigError('JWT_ALG', alg, `one of ${known.join(', ')}`);
      // Each algorithm needs its key source: HS* the secret, the others the JWKS endpoint.
      if (alg.startsWith('HS') ? c.jwtSecret === undefined : c.jwksUrl === undefined)
        throw new ConfigError(
          'JWT_ALG',
          alg,
          alg.startsWith('HS')
            ? 'HS* only with JWT_SECRET'
            : 'RS*/PS*/ES*/EdDSA only with JWKS_URL',
        );
    }
  }
  warnings.push(...validateIce(c));
  for (const key of c.apiKeys)
    if (/\s/.test(key) || key.length < 16)
      // The value is a secret: the error names the setting, never the key.
      throw new ConfigError('API_KEYS', '[redacted]', 'keys of at least 16 characters, no spaces');
  validateWebhooks(c);
  if (c.jwtSecret !== undefined && Buffer.byteLength(c.jwtSecret) < 32)
    warnings.push('JWT_SECRET is shorter than 32 bytes; use a longer random secret');
  return warnings;
}

/** SPEC.md §12. The secret is never quoted in an error or a warning. */
function validateIce(c: Config): string[] {
  for (const url of c.stunUrls)
    if (!isIceUrl(url, 'stun')) throw new ConfigError('STUN_URLS', url, 'stun:host[:port] entries');
  for (const url of c.turnUrls)
    if (!isIceUrl(url, 'turn'))
      throw new ConfigError(
        'TURN_URLS',
        url,
        'turn:host[:port][?transport=udp|tcp] or turns:… entries',
      );
  if (c.turnUrls.length > 0 && c.turnSecret === undefined)
    throw new ConfigError('TURN_SECRET', '', 'the TURN shared secret when TURN_URLS is set');
  const warnings: string[] = [];
  if (c.turnSecret !== undefined && c.turnUrls.length === 0)
    warnings.push('TURN_SECRET is set but TURN_URLS is not; no TURN server is offered');
  return warnings;
}

/** SPEC.md §15: http(s) URLs, and a Standard Webhooks secret whenever there is a URL. */
function validateWebhooks(c: Config): void {
  for (const url of c.webhookUrls) {
    let ok: boolean;
    try {
      const u = new URL(url);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '';
    } catch {
      ok = false;
    }
    // Never echo a URL that might carry credentials.
    if (!ok) throw new ConfigError('WEBHOOK_URLS', '<redacted>', 'http:// or https:// URLs');
  }
  if (c.webhookSecret !== undefined && parseSecret(c.webhookSecret) === undefined)
    throw new ConfigError(
      'WEBHOOK_SECRET',
      '<redacted>',
      'whsec_ followed by the base64 of at least 16 bytes',
    );
  if (c.webhookUrls.length > 0 && c.webhookSecret === undefined)
    throw new ConfigError('WEBHOOK_SECRET', '', 'a whsec_ secret when WEBHOOK_URLS is set');
  if (c.webhookRetryMaxMs < c.webhookRetryBaseMs)
    throw new ConfigError(
      'WEBHOOK_RETRY_MAX_MS',
      String(c.webhookRetryMaxMs),
      `at least WEBHOOK_RETRY_BASE_MS (${c.webhookRetryBaseMs})`,
    );
}

export function helpText(): string {
  const lines = ['Usage: switchboard [flags]', '', 'Every flag also reads from its env var.', ''];
  for (const s of SETTINGS) {
    const def = (DEFAULTS as unknown as Record<string, unknown>)[s.key];
    const shown =
      def === undefined || (Array.isArray(def) && def.length === 0)
        ? ''
        : ` (default ${String(def)})`;
    lines.push(`  ${flagName(s.env).padEnd(40)} ${s.env}${shown}`);
    lines.push(`  ${''.padEnd(40)} ${s.doc}`);
  }
  return lines.join('\n');
}

/** The README's configuration table, generated from SETTINGS (test/config.test.ts keeps them equal). */
export function configTableMarkdown(): string {
  const rows = ['| env var | CLI flag | default | meaning |', '|---|---|---|---|'];
  for (const s of SETTINGS) {
    const def = (DEFAULTS as unknown as Record<string, unknown>)[s.key];
    const shown =
      def === undefined || (Array.isArray(def) && def.length === 0)
        ? 'unset'
        : def === ''
          ? 'empty'
          : `\`${String(def)}\``;
    const names = [s.env, ...(s.aliases ?? [])].join(' (or ') + (s.aliases?.length ? ')' : '');
    rows.push(`| ${names} | \`${flagName(s.env)}\` | ${shown} | ${s.doc.replaceAll('|', '\\|')} |`);
  }
  return rows.join('\n');
}

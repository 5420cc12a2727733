/**
 * The rules between settings (and within a list setting's entries), checked once after env and
 * flags are read: a combination that cannot work throws a ConfigError naming the setting; one
 * that works but is unwise is returned as a warning to log at start. Secrets and URLs that may
 * carry credentials are never quoted.
 */
import { ConfigError } from './errors.js';
import { isIceUrl } from './server/turn-credentials.js';
import { parseSecret } from './webhooks/signer.js';
import type { Config } from './config-defaults.js';

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
export function validate(c: Config): string[] {
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

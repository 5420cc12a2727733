/**
 * JWT authentication (SPEC.md §1 step 7, §10) with jose.
 *
 * - HS256/384/512 tokens are verified with JWT_SECRET only; RS/PS/ES/EdDSA tokens with keys from
 *   JWKS_URL only. Which key applies is decided by the allow-listed `alg`, so an HS token
 *   "signed" with an RSA public key (algorithm confusion) never meets that key, and `alg: none`
 *   is never in the list.
 * - The remote key set is created once, at start. jose's own cache would block (and fail) a
 *   verification whenever the cache is older than its max age and the endpoint is slow or down;
 *   a key we already hold must keep working then. So jose's cache never goes stale by itself
 *   (cacheMaxAge Infinity) and we revalidate in the background once JWKS_CACHE_TTL has passed
 *   (stale-while-revalidate). An unknown `kid` still makes jose refetch at once, at most once
 *   per cooldown, so key rotation works without restart and random kids cannot hammer the
 *   endpoint.
 * - The token is never logged, put in an error message or a metric label: refusals log the
 *   jose error code only.
 */
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { Close } from '../close-codes.js';
import type { Config } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AuthResult, Authenticator } from './auth.js';
import { queryOf } from './request-target.js';

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
/** Defaults with JWKS_URL (JWT_ALG widens or narrows them). */
export const DEFAULT_JWKS_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
/** Entry prefix of a token carried in Sec-WebSocket-Protocol (browsers cannot set headers). */
export const SUBPROTOCOL_TOKEN_PREFIX = 'access_token.';
/** Refetch of the key set on an unknown kid happens at most this often (or the TTL if shorter). */
const JWKS_COOLDOWN_MS = 30_000;
const JWKS_FETCH_TIMEOUT_MS = 5000;

const UNAUTHORIZED: AuthResult = { ok: false, close: Close.unauthorized };
const FORBIDDEN: AuthResult = { ok: false, close: Close.forbidden };

/** The accepted algorithms: JWT_ALG, or the defaults for the configured key sources. */
export function acceptedAlgorithms(config: Config): string[] {
  if (config.jwtAlg.length > 0) return [...config.jwtAlg];
  const algs: string[] = [];
  if (config.jwtSecret !== undefined) algs.push(...HMAC_ALGS);
  if (config.jwksUrl !== undefined) algs.push(...DEFAULT_JWKS_ALGS);
  return algs;
}

const isHmac = (alg: string | undefined): boolean => alg !== undefined && alg.startsWith('HS');

export function createAuthenticator(config: Config, logger: Logger): Authenticator {
  const algorithms = acceptedAlgorithms(config);
  const secret =
    config.jwtSecret !== undefined ? new TextEncoder().encode(config.jwtSecret) : undefined;
  if (algorithms.some(isHmac) && !secret)
    throw new ConfigError('JWT_ALG', algorithms.join(','), 'HS* algorithms only with JWT_SECRET');
  if (algorithms.some((a) => !isHmac(a)) && config.jwksUrl === undefined)
    throw new ConfigError('JWT_ALG', algorithms.join(','), 'RS*/PS*/ES*/EdDSA only with JWKS_URL');
  if (algorithms.length === 0)
    throw new ConfigError('JWT_ALG', '', 'at least one algorithm (JWT_SECRET or JWKS_URL)');

  const jwks = config.jwksUrl ? new CachedJwks(new URL(config.jwksUrl), config, logger) : undefined;

  const getKey: JWTVerifyGetKey = async (header, token) => {
    // jwtVerify has already checked header.alg against `algorithms` when this runs.
    if (isHmac(header.alg)) {
      if (!secret) throw new Error('no secret');
      return secret;
    }
    if (!jwks) throw new Error('no key set');
    return jwks.getKey(header, token);
  };

  const options = {
    algorithms,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
    clockTolerance: config.jwtClockSkewSeconds,
  };

  async function verifyToken(token: string, roomId: string): Promise<AuthResult> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, options));
    } catch (err) {
      // The code (ERR_JWT_EXPIRED, ERR_JWS_SIGNATURE_VERIFICATION_FAILED, …) says why without
      // quoting the token or its claims.
      logger.debug({ code: (err as { code?: unknown }).code ?? 'error' }, 'token rejected');
      return UNAUTHORIZED;
    }
    if (!roomGranted(payload[config.roomsClaim], roomId, config.allowClaimlessTokens))
      return FORBIDDEN;
    // The same tolerance as at admission, so a token is not accepted and then closed at once.
    const expiresAt =
      typeof payload.exp === 'number'
        ? (payload.exp + config.jwtClockSkewSeconds) * 1000
        : undefined;
    const subject = typeof payload.sub === 'string' ? payload.sub : undefined;
    return subject === undefined ? { ok: true, expiresAt } : { ok: true, expiresAt, subject };
  }

  return {
    async authenticate(req: IncomingMessage, roomId: string): Promise<AuthResult> {
      const token = tokenFromRequest(req);
      if (token === undefined) return UNAUTHORIZED;
      return verifyToken(token, roomId);
    },
    verifyToken,
    close() {
      jwks?.close();
    },
  };
}

/**
 * The rooms claim grants roomId when it lists it exactly or lists a prefix ending in `*`
 * (`game-*`; `*` alone grants every room). A claim that is absent grants nothing unless
 * ALLOW_CLAIMLESS_TOKENS; a claim of the wrong type grants nothing.
 */
export function roomGranted(claim: unknown, roomId: string, allowClaimless: boolean): boolean {
  if (claim === undefined) return allowClaimless;
  if (!Array.isArray(claim)) return false;
  for (const entry of claim) {
    if (typeof entry !== 'string') continue;
    if (entry === roomId) return true;
    if (entry.endsWith('*') && roomId.startsWith(entry.slice(0, -1))) return true;
  }
  return false;
}

/** The token from `Authorization: Bearer`, a `access_token.` subprotocol entry, or `?token=`. */
export function tokenFromRequest(req: IncomingMessage): string | undefined {
  const authz = req.headers.authorization;
  if (authz !== undefined) {
    const m = /^Bearer +(\S+)\s*$/i.exec(authz);
    if (m) return m[1];
  }
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    for (const p of protocols.split(',')) {
      const entry = p.trim();
      if (
        entry.startsWith(SUBPROTOCOL_TOKEN_PREFIX) &&
        entry.length > SUBPROTOCOL_TOKEN_PREFIX.length
      )
        return entry.slice(SUBPROTOCOL_TOKEN_PREFIX.length);
    }
  }
  const token = queryOf(req.url).get('token');
  return token === null || token === '' ? undefined : token;
}

/** A remote JWKS served stale-while-revalidate (see the file comment). */
class CachedJwks {
  private readonly remote: ReturnType<typeof createRemoteJWKSet>;
  private fetchedAt = 0;
  private refreshing = false;
  private closed = false;

  constructor(
    private readonly url: URL,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.remote = createRemoteJWKSet(url, {
      cacheMaxAge: Number.POSITIVE_INFINITY,
      cooldownDuration: Math.min(JWKS_COOLDOWN_MS, config.jwksCacheTtl),
      timeoutDuration: JWKS_FETCH_TIMEOUT_MS,
    });
    // Warm the cache at start so the first client does not wait for the fetch.
    this.refresh();
  }

  getKey(...args: Parameters<JWTVerifyGetKey>): ReturnType<JWTVerifyGetKey> {
    // Stale keys are still served; jwks() (a clone) is only asked for once the TTL has passed.
    if (Date.now() - this.fetchedAt >= this.config.jwksCacheTtl && this.remote.jwks() !== undefined)
      this.refresh();
    return this.remote(...args);
  }

  private refresh(): void {
    if (this.refreshing || this.closed) return;
    this.refreshing = true;
    this.remote.reload().then(
      () => {
        this.fetchedAt = Date.now();
        this.refreshing = false;
      },
      (err: unknown) => {
        this.refreshing = false;
        // Keep serving the keys we have; try again on a later verification.
        this.fetchedAt = Date.now();
        this.logger.warn(
          { jwks: this.url.origin + this.url.pathname, err: errorMessage(err) },
          'JWKS refresh failed; using cached keys',
        );
      },
    );
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * The real JWT authenticator, observed: records where each upgrade request carried its token
 * (so a test can tell a subprotocol token from a query token) and delegates every decision.
 */
import { DEFAULTS, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { Authenticator } from '../../src/server/auth.js';
import { createAuthenticator } from '../../src/server/jwt-auth.js';

export interface TokenSighting {
  /** `token` query parameter present */
  query: boolean;
  /** Sec-WebSocket-Protocol entries, in order */
  protocols: string[];
}

export function observedJwtAuth(config: Partial<Config>): {
  auth: Authenticator;
  seen: TokenSighting[];
} {
  const real = createAuthenticator(
    { ...DEFAULTS, ...config, enableAuth: true },
    createLogger({ level: 'silent', pretty: false }),
  );
  const seen: TokenSighting[] = [];
  const auth: Authenticator = {
    authenticate(req, roomId) {
      const header = req.headers['sec-websocket-protocol'];
      seen.push({
        query: new URL(req.url ?? '/', 'http://x').searchParams.has('token'),
        protocols: header ? header.split(',').map((p) => p.trim()) : [],
      });
      return real.authenticate(req, roomId);
    },
    verifyToken: (token, roomId) => real.verifyToken(token, roomId),
    close: () => real.close?.(),
  };
  return { auth, seen };
}

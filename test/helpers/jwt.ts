/**
 * JWT test helpers: signing with jose, and a real JWKS HTTP server on 127.0.0.1 that can be
 * switched to hang or be stopped (to test that a JWKS outage does not block cached keys).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  type JWK,
  type JWTPayload,
  type CryptoKey,
} from 'jose';

export const SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';

export interface SignOptions {
  alg?: string;
  kid?: string;
  /** seconds from now (negative: in the past); undefined: no exp */
  expIn?: number | undefined;
  nbfIn?: number;
  iss?: string;
  aud?: string;
}

export async function sign(
  claims: JWTPayload,
  key: CryptoKey | Uint8Array,
  opts: SignOptions = {},
): Promise<string> {
  const alg = opts.alg ?? 'HS256';
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT(claims).setProtectedHeader(opts.kid ? { alg, kid: opts.kid } : { alg });
  jwt.setIssuedAt(now);
  if (opts.expIn !== undefined) jwt.setExpirationTime(now + opts.expIn);
  if (opts.nbfIn !== undefined) jwt.setNotBefore(now + opts.nbfIn);
  if (opts.iss !== undefined) jwt.setIssuer(opts.iss);
  if (opts.aud !== undefined) jwt.setAudience(opts.aud);
  return jwt.sign(key);
}

export function signHs(claims: JWTPayload, opts: SignOptions = {}): Promise<string> {
  return sign(claims, new TextEncoder().encode(SECRET), { expIn: 600, ...opts });
}

/** A token with `alg: none` (jose refuses to make one, so it is assembled by hand). */
export function unsecuredToken(claims: JWTPayload): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

export interface KeyPair {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(alg: string, kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk };
}

export type JwksMode = 'ok' | 'hang';

/** A real JWKS endpoint. `keys` can be replaced (rotation); `fetches` counts GETs. */
export class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  mode: JwksMode = 'ok';
  /** When set, answers every request instead of the key set (e.g. with garbage). */
  respond: ((res: http.ServerResponse) => void) | undefined;
  private readonly server: http.Server;
  private readonly hanging = new Set<http.ServerResponse>();

  constructor() {
    this.server = http.createServer((_req, res) => {
      this.fetches++;
      if (this.mode === 'hang') {
        this.hanging.add(res);
        return;
      }
      if (this.respond) return this.respond(res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: this.keys }));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }

  /** Requests held open (mode 'hang') and not answered. */
  get hangingCount(): number {
    return this.hanging.size;
  }

  /** Stop listening and drop every connection: the endpoint is down. */
  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

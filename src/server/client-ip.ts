import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The client's IP. Behind a trusted proxy (TRUST_PROXY) it is the last X-Forwarded-For entry:
 * the one our proxy appended. Earlier entries come from the client and can be forged, so they
 * are never used; without TRUST_PROXY the header is ignored entirely.
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = firstHeader(req.headers['x-forwarded-for']);
    if (xff) {
      const parts = xff.split(',');
      const last = parts[parts.length - 1]!.trim();
      if (last) return normalize(last);
    }
  }
  return normalize(req.socket.remoteAddress ?? 'unknown');
}

function normalize(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** True when the connection is TLS, natively or (with TRUST_PROXY) per X-Forwarded-Proto. */
export function isSecure(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  if (!trustProxy) return false;
  const proto = firstHeader(req.headers['x-forwarded-proto']);
  // With a chain of proxies the header is a list; the first hop is the client-facing one.
  return proto?.split(',')[0]?.trim().toLowerCase() === 'https';
}

import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** The last entry of a comma-separated header (Node joins repeated headers with ", "). */
function lastEntry(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value.join(',') : value;
  if (!v) return undefined;
  const i = v.lastIndexOf(',');
  return v.slice(i + 1).trim();
}

/**
 * The client's IP. Behind a trusted proxy (TRUST_PROXY) it is the last X-Forwarded-For entry:
 * the one our proxy appended. Earlier entries come from the client and can be forged, so they
 * are never used; without TRUST_PROXY the header is ignored entirely. An entry that is not an
 * IP address is ignored too (it cannot come from a proxy, and becomes a limiter key).
 */
export function clientIp(req: IncomingMessage, trustProxy: boolean): string {
  if (trustProxy) {
    const last = lastEntry(req.headers['x-forwarded-for']);
    if (last && isIP(normalize(last))) return normalize(last);
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
  // As with X-Forwarded-For, only the last entry is our proxy's: a proxy that appends rather
  // than overwrites would otherwise let a plain-http client claim "https" first.
  return lastEntry(req.headers['x-forwarded-proto'])?.toLowerCase() === 'https';
}

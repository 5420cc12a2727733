/**
 * TURN REST credentials (SPEC.md §12), the convention of coturn's `use-auth-secret`:
 *
 *   username   = "<expiry unix seconds>:<user>"
 *   credential = base64(HMAC-SHA1(TURN_SECRET, username))
 *
 * Where coturn splits the username (src/apps/relay/userdb.c, get_rest_api_timestamp): at the
 * FIRST `rest-api-separator` (default ':'); when everything before it is digits, that is the
 * expiry. The expiry comes first here, so the first ':' is always the one after the digits and
 * a user containing ':' (peer ids are `client:<uuid>`) is parsed correctly; coturn's real user
 * name is then everything after it (used for its per-user quotas).
 *
 * coturn refuses (400) a USERNAME containing a space, tab, quote, double quote, backslash, CR
 * or LF, or both "union" and "select" (is_secure_string), and STUN caps it at 512 bytes. A
 * token `sub` that is not plain printable ASCII without those, or longer than 128 bytes, is
 * replaced by `sub-` + the first 32 hex digits of its SHA-256: stable per subject, always
 * accepted, and it does not carry the subject into the TURN server's logs.
 */
import { createHash, createHmac } from 'node:crypto';

/** What RTCPeerConnection takes (RTCIceServer), as JSON. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface TurnCredential {
  username: string;
  credential: string;
}

const MAX_USER_LENGTH = 128;

/** The user part of the username for a token subject or a peer id (see the file comment). */
export function turnUser(subjectOrPeerId: string): string {
  if (
    subjectOrPeerId.length > 0 &&
    subjectOrPeerId.length <= MAX_USER_LENGTH &&
    /^[\x21-\x7e]+$/.test(subjectOrPeerId) &&
    !/['"\\]/.test(subjectOrPeerId) &&
    !(/union/i.test(subjectOrPeerId) && /select/i.test(subjectOrPeerId))
  )
    return subjectOrPeerId;
  return 'sub-' + createHash('sha256').update(subjectOrPeerId).digest('hex').slice(0, 32);
}

/** The credential for `user` valid until `expiresAtSeconds` (unix seconds). */
export function turnCredential(
  secret: string,
  user: string,
  expiresAtSeconds: number,
): TurnCredential {
  const username = `${expiresAtSeconds}:${user}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

const STUN_URL = /^stuns?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;
const TURN_URL = /^turns?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\?transport=(udp|tcp))?$/;

/**
 * Whether `url` is a well-formed STUN (RFC 7064) or TURN (RFC 7065) URI of the given kind.
 * Browsers throw on a malformed one when building the RTCPeerConnection, so it is refused at
 * start instead of in every client.
 */
export function isIceUrl(url: string, kind: 'stun' | 'turn'): boolean {
  const m = (kind === 'stun' ? STUN_URL : TURN_URL).exec(url);
  if (!m) return false;
  const port = m[2] === undefined ? 1 : Number(m[2].slice(1));
  return port >= 1 && port <= 65535;
}

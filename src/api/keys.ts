/**
 * API_KEYS (SPEC.md §14): several keys may be valid at once (rotation). A presented key is
 * hashed and compared with the hash of every configured key with crypto.timingSafeEqual, all
 * of them every time, so neither the comparison nor the number of comparisons tells an
 * attacker how close a guess was (hashing first gives equal lengths, which timingSafeEqual
 * needs). Keys are never logged; a log line names a key by its id, a short prefix of its
 * SHA-256 that identifies which key of the list was used without revealing it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

export class ApiKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(sha256);
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** The key id of the request's valid bearer key, or undefined when it has none. */
  check(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return undefined;
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) return undefined;
    const digest = sha256(m[1]!);
    let match = false;
    for (const d of this.digests) match = timingSafeEqual(d, digest) || match;
    return match ? keyId(digest) : undefined;
  }
}

/** The first 8 hex digits of the key's SHA-256. */
export function keyId(digest: Buffer): string {
  return digest.subarray(0, 4).toString('hex');
}

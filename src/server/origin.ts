/**
 * ALLOWED_ORIGINS matching (SPEC.md §10): an entry with a scheme matches the Origin exactly
 * (scheme, host, port, default ports normalized); a bare hostname matches that host on any
 * scheme and port. Never a substring or suffix match.
 */
export function originAllowed(
  origin: string | undefined,
  allowed: readonly string[],
  allowMissing: boolean,
): boolean {
  if (allowed.length === 0) return true;
  if (origin === undefined || origin === '') return allowMissing;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  // An opaque origin ("null", file:, data:) never matches.
  if (url.origin === 'null') return false;
  for (const entry of allowed) {
    if (entry.includes('://')) {
      try {
        if (new URL(entry).origin === url.origin) return true;
      } catch {
        // validated at start; unreachable
      }
    } else if (url.hostname.toLowerCase() === entry.toLowerCase()) {
      return true;
    }
  }
  return false;
}

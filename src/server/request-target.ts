/**
 * The query of an HTTP request target, parsed without anything that can throw. The target is
 * whatever the client wrote after the method (`/?roomId=x`, `//a:99999/?roomId=x`,
 * `http://[::1/`, `*`); `new URL()` throws on several of those, and inside ws's upgrade
 * callback that exception used to end the process. Only the query matters here (SPEC.md §1:
 * roomId, v, token), so it is taken from after the first `?` and before any `#`, and decoded by
 * URLSearchParams, which never throws (bad percent escapes are kept as written).
 */
export function queryOf(target: string | undefined): URLSearchParams {
  if (target === undefined) return new URLSearchParams();
  const q = target.indexOf('?');
  if (q === -1) return new URLSearchParams();
  const hash = target.indexOf('#', q);
  return new URLSearchParams(hash === -1 ? target.slice(q + 1) : target.slice(q + 1, hash));
}

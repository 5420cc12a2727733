/**
 * HTTP endpoints (SPEC.md §8, §12): /healthz, /readyz, /metrics and /ice-servers (ice-route.ts)
 * on the WebSocket port (anything else is 426 Upgrade Required; /metrics only while
 * METRICS_ON_MAIN_PORT), and the first three on
 * HEALTH_PORT (anything else 404 there).
 * Every /api/ path on the WebSocket port goes to the server API (§14), which answers 404 when
 * it is off.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { API_PREFIX, type ApiRouter } from '../api/index.js';

export interface RouteHost {
  /** true while the process serves (until closed). */
  isAlive(): boolean;
  /** true when ready for new connections: lifecycle ready, backend answering, circuit closed. */
  isReady(): Promise<boolean>;
  readonly registry: Registry;
  /** `GET /ice-servers` and its CORS preflight (SPEC.md §12), on the main port only. */
  iceServers?(req: IncomingMessage, res: ServerResponse): void;
  /** Extra routes (e.g. the demo page); return true when handled. */
  extraRoute?(req: IncomingMessage, res: ServerResponse): boolean;
  /** The server API (SPEC.md §14); it answers 404 itself when API_KEYS is unset. */
  readonly api: ApiRouter;
}

function text(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/**
 * @param healthOnly the HEALTH_PORT handler (404 for anything else)
 * @param metrics whether /metrics is served by this handler
 */
export function createRequestHandler(host: RouteHost, healthOnly: boolean, metrics = true) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const q = req.url?.indexOf('?') ?? -1;
    const path = q === -1 ? (req.url ?? '/') : req.url!.slice(0, q);
    if (req.method === 'GET' || req.method === 'HEAD') {
      switch (path) {
        case '/healthz':
          return host.isAlive() ? text(res, 200, 'ok') : text(res, 503, 'closed');
        case '/readyz':
          host.isReady().then(
            (ready) => (ready ? text(res, 200, 'ready') : text(res, 503, 'not-ready')),
            () => text(res, 503, 'not-ready'),
          );
          return;
        case '/metrics':
          if (!metrics) break;
          host.registry.metrics().then(
            (body) => text(res, 200, body, { 'content-type': host.registry.contentType }),
            () => text(res, 500, 'metrics unavailable'),
          );
          return;
      }
    }
    if (!healthOnly && path === '/ice-servers' && host.iceServers) return host.iceServers(req, res);
    if (!healthOnly && path.startsWith(API_PREFIX))
      return host.api.handle(req, res, path, q === -1 ? '' : req.url!.slice(q + 1));
    if (!healthOnly && host.extraRoute?.(req, res)) return;
    if (healthOnly) return text(res, 404, 'Not Found');
    text(res, 426, 'Upgrade Required', { upgrade: 'websocket', connection: 'Upgrade' });
  };
}

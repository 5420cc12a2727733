/**
 * The server API's front door (SPEC.md §14): off (no API_KEYS) every /api/ path is 404; on, a
 * request needs a valid bearer key (401), then a route (404, or 405 with Allow), then its
 * handler. Each request is logged once (method, path, status, key id; never the key or the
 * query string) and counted in `signaling_api_requests_total{route,status}` by route template.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ApiError, ApiErrors, type ApiErrorEntry } from './errors.js';
import { sendEmpty, sendError, sendJson } from './http-io.js';
import type { ApiKeys } from './keys.js';

export const API_PREFIX = '/api/';

export interface RouteParams {
  roomId?: string;
  peerId?: string;
}

/** What a handler answers: a status and a JSON body (none for 204). */
export interface ApiReply {
  status: number;
  body?: unknown;
}

export type Handler = (
  req: IncomingMessage,
  params: RouteParams,
  query: URLSearchParams,
) => Promise<ApiReply>;

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** e.g. `/api/v1/rooms/:roomId/peers/:peerId`; the metric's `route` label. */
  template: string;
  handler: Handler;
}

interface CompiledRoute extends Route {
  segments: string[];
}

/** Label of requests that matched no route (never the raw path: it is client input). */
const UNMATCHED = 'unmatched';
/** Longest path written to a log line. */
const MAX_LOGGED_PATH = 256;

export class ApiRouter {
  private readonly routes: CompiledRoute[];

  constructor(
    routes: readonly Route[],
    private readonly keys: ApiKeys,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
  ) {
    this.routes = routes.map((r) => ({ ...r, segments: r.template.split('/') }));
  }

  /** Answer a request whose path starts with /api/. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, path: string, search: string): void {
    const start = performance.now();
    const keyId = this.keys.enabled ? this.keys.check(req) : undefined;
    let template = UNMATCHED;
    const finish = (status: number) => {
      this.metrics.apiRequests.inc({ route: template, status: String(status) });
      this.logger.info(
        {
          method: req.method,
          path: path.length > MAX_LOGGED_PATH ? path.slice(0, MAX_LOGGED_PATH) + '…' : path,
          status,
          keyId: keyId ?? null,
          ms: Math.round((performance.now() - start) * 10) / 10,
        },
        'api request',
      );
    };
    const fail = (entry: ApiErrorEntry, headers?: Record<string, string>) => {
      sendError(req, res, entry, headers);
      finish(entry.status);
    };

    if (!this.keys.enabled) {
      // Off: no API, so no API log line either (a scan of /api/ paths costs no log volume).
      sendError(req, res, ApiErrors.notFound);
      return void this.metrics.apiRequests.inc({ route: template, status: '404' });
    }
    if (keyId === undefined) return fail(ApiErrors.unauthorized, { 'www-authenticate': 'Bearer' });

    const segments = path.split('/');
    const matches = this.routes
      .map((r) => ({ route: r, params: matchSegments(r.segments, segments) }))
      .filter((m) => m.params !== undefined);
    if (matches.length === 0) return fail(ApiErrors.notFound);
    const match = matches.find((m) => m.route.method === req.method);
    if (!match) {
      template = matches[0]!.route.template;
      const allow = matches.map((m) => m.route.method).join(', ');
      return fail(ApiErrors.methodNotAllowed, { allow });
    }
    template = match.route.template;
    match.route.handler(req, match.params!, new URLSearchParams(search)).then(
      (reply) => {
        if (reply.body === undefined) sendEmpty(req, res, reply.status);
        else sendJson(req, res, reply.status, reply.body);
        finish(reply.status);
      },
      (err: unknown) => {
        if (err instanceof ApiError) return fail(err.entry);
        this.logger.error({ err: errorMessage(err), route: template }, 'api handler failed');
        fail(ApiErrors.internal);
      },
    );
  }
}

/** Params of a path against a template's segments, or undefined; a param is never empty. */
function matchSegments(template: string[], path: string[]): RouteParams | undefined {
  if (template.length !== path.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const p = path[i]!;
    if (t.startsWith(':')) {
      if (p.length === 0) return undefined;
      params[t.slice(1)] = p;
    } else if (t !== p) return undefined;
  }
  return params;
}

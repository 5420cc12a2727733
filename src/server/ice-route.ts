/**
 * `GET /ice-servers?roomId=ROOM` (SPEC.md §12): the ICE servers, with a fresh TURN credential,
 * for v1 and non-WebSocket clients. Guard clauses in admission's order: draining, the per-IP
 * connection rate (the same counter as WebSocket connections), roomId, Origin, then the token
 * (as for joining the room). Every answer is `Cache-Control: no-store`; CORS is answered only
 * for an Origin listed in ALLOWED_ORIGINS (with none listed, no cross-origin page can read a
 * credential; same-origin pages and non-browser clients need no CORS).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isValidRoomId } from '../protocol/room-id.js';
import { Close } from '../close-codes.js';
import { clientIp } from './client-ip.js';
import type { ServerContext } from './context.js';
import { originAllowed } from './origin.js';

type Headers = Record<string, string>;

function json(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify(body));
}

function fail(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Headers = {},
): void {
  json(res, status, { error: { code, message } }, headers);
}

/** CORS response headers for an Origin listed in ALLOWED_ORIGINS; undefined otherwise. */
function corsHeaders(origin: string | undefined, allowed: readonly string[]): Headers | undefined {
  if (allowed.length === 0 || origin === undefined || !originAllowed(origin, allowed, false))
    return undefined;
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

export function createIceServersRoute(ctx: ServerContext) {
  const c = ctx.config;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const origin = req.headers.origin;
    const cors = corsHeaders(origin, c.allowedOrigins);
    if (req.method === 'OPTIONS') {
      if (!cors) return fail(res, 403, 'origin_not_allowed', Close.originNotAllowed.reason);
      res.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET',
        'access-control-allow-headers': 'Authorization',
        'access-control-max-age': '600',
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    const h = cors ?? {};
    if (req.method !== 'GET')
      return fail(res, 405, 'method_not_allowed', 'Method not allowed', { ...h, allow: 'GET' });
    if (ctx.state() !== 'ready')
      return fail(res, 503, 'unavailable', Close.serviceUnavailable.reason, h);
    const ip = clientIp(req, c.trustProxy);
    if (!ctx.limits.conn.hit(ip, ctx.now()))
      return fail(res, 429, 'rate_limited', Close.rateLimited.reason, {
        ...h,
        'retry-after': '10',
      });
    const roomId = new URL(req.url ?? '/', 'http://localhost').searchParams.get('roomId');
    if (!isValidRoomId(roomId, c.roomIdMaxLength))
      return fail(res, 400, 'invalid_room_id', Close.invalidRoomId.reason, h);
    if (!originAllowed(origin, c.allowedOrigins, c.allowMissingOrigin))
      return fail(res, 403, 'origin_not_allowed', Close.originNotAllowed.reason, h);
    if (!ctx.auth) return answer(res, ctx, undefined, h);
    ctx.auth.authenticate(req, roomId).then(
      (result) => {
        if (result.ok) return answer(res, ctx, result.subject, h);
        if (result.close === Close.forbidden) return fail(res, 403, 'forbidden', 'Forbidden', h);
        fail(res, 401, 'unauthorized', 'Unauthorized', { ...h, 'www-authenticate': 'Bearer' });
      },
      () => fail(res, 401, 'unauthorized', 'Unauthorized', h),
    );
  };
}

function answer(
  res: ServerResponse,
  ctx: ServerContext,
  subject: string | undefined,
  headers: Headers,
): void {
  const iceServers = ctx.ice.issueForRequest(subject);
  json(res, 200, { iceServers, ttl: ctx.ice.ttlSeconds }, headers);
}

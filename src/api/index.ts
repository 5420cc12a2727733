/**
 * The server API (SPEC.md §14), wired: keys, routes, the OpenAPI document, the router.
 * http-routes.ts hands it every request whose path starts with /api/.
 */
import type { Backend } from '../backend/backend.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { ApiKeys } from './keys.js';
import { openApiDocument } from './openapi.js';
import { roomRoutes, type DetachedSessions } from './rooms.js';
import { ApiRouter, type Route } from './router.js';

export { API_PREFIX, ApiRouter } from './router.js';

export function createApi(deps: {
  backend: Backend;
  resume: DetachedSessions;
  config: Config;
  logger: Logger;
  metrics: Metrics;
}): ApiRouter {
  const document = openApiDocument(deps.config.roomIdMaxLength);
  const openApi: Route = {
    method: 'GET',
    template: '/api/v1/openapi.json',
    handler: async () => ({ status: 200, body: document }),
  };
  return new ApiRouter(
    [openApi, ...roomRoutes(deps)],
    new ApiKeys(deps.config.apiKeys),
    deps.logger,
    deps.metrics,
  );
}

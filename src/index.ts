import type { Registry } from 'prom-client';
import { createBackend } from './backend/index.js';
import type { Backend } from './backend/backend.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { Authenticator } from './server/auth.js';
import { createAuthenticator } from './server/jwt-auth.js';
import { SwitchboardServer, type ServerOptions } from './server/server.js';
import { Webhooks } from './webhooks/webhooks.js';

export { Close } from './close-codes.js';
export { ConfigError, SwitchboardError } from './errors.js';
export { DEFAULTS, SETTINGS, loadConfig, type Config } from './config.js';
export { createMetrics, type Metrics } from './metrics.js';
export { MemoryBackend, MemoryStore, createBackend } from './backend/index.js';
export type { Backend, BackendHandler, Envelope, JoinResult } from './backend/backend.js';
export { SwitchboardServer, type ServerState } from './server/server.js';
export { parseMessage, type SignalMessage } from './protocol/message.js';
export { isValidRoomId } from './protocol/room-id.js';
export { Webhooks } from './webhooks/webhooks.js';
export type { WebhookEvent, WebhookEventType } from './webhooks/events.js';

export interface CreateOptions {
  logger?: Logger;
  registry?: Registry;
  backend?: Backend;
  auth?: Authenticator;
  now?: () => number;
  extraRoute?: ServerOptions['extraRoute'];
  webhooks?: Webhooks;
}

/** Wire a server from a Config: logger, metrics, backend and auth are created unless injected. */
export async function createSwitchboard(
  config: Config,
  opts: CreateOptions = {},
): Promise<SwitchboardServer> {
  const logger = opts.logger ?? createLogger({ level: config.logLevel, pretty: config.logPretty });
  const metrics = createMetrics(opts.registry, opts.registry === undefined);
  const backend = opts.backend ?? (await createBackend(config, logger, metrics));
  const auth = opts.auth ?? (config.enableAuth ? createAuthenticator(config, logger) : undefined);
  const webhooks =
    opts.webhooks ??
    (await Webhooks.create({
      config,
      logger,
      metrics,
      serverId: backend.serverId,
      redis: backend.kind === 'redis',
      now: opts.now,
    }));
  return new SwitchboardServer({
    config,
    logger,
    metrics,
    backend,
    auth,
    now: opts.now,
    extraRoute: opts.extraRoute,
    webhooks,
  });
}

/** Create and start listening. */
export async function startSwitchboard(
  config: Config,
  opts: CreateOptions = {},
): Promise<SwitchboardServer> {
  const server = await createSwitchboard(config, opts);
  await server.listen();
  return server;
}

import type { Registry } from 'prom-client';
import { createBackend } from './backend/index.js';
import type { Backend } from './backend/backend.js';
import type { Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { Authenticator } from './server/auth.js';
import { createAuthenticator } from './server/jwt-auth.js';
import { SwitchboardServer, type ServerOptions } from './server/server.js';

export { Close } from './close-codes.js';
export { ConfigError, SwitchboardError } from './errors.js';
export { DEFAULTS, SETTINGS, loadConfig, type Config } from './config.js';
export { createMetrics, type Metrics } from './metrics.js';
export { MemoryBackend, MemoryStore, createBackend } from './backend/index.js';
export type { Backend, BackendHandler, Envelope, JoinResult } from './backend/backend.js';
export { SwitchboardServer, type ServerState } from './server/server.js';
export { parseMessage, type SignalMessage } from './protocol/message.js';
export { isValidRoomId } from './protocol/room-id.js';

export interface CreateOptions {
  logger?: Logger;
  registry?: Registry;
  backend?: Backend;
  auth?: Authenticator;
  now?: () => number;
  extraRoute?: ServerOptions['extraRoute'];
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
  return new SwitchboardServer({
    config,
    logger,
    metrics,
    backend,
    auth,
    now: opts.now,
    extraRoute: opts.extraRoute,
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

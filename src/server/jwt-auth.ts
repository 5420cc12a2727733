import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Authenticator } from './auth.js';

/** Placeholder until JWT auth lands (issue 4). */
export function createAuthenticator(_config: Config, _logger: Logger): Authenticator {
  throw new Error('ENABLE_AUTH is not implemented yet');
}

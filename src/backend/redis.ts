import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Backend, BackendHandler, Envelope, JoinResult } from './backend.js';

/** Placeholder until the Redis backend lands (issue 3). */
export class RedisBackend implements Backend {
  readonly kind = 'redis' as const;
  readonly serverId = 'server:redis';
  readonly circuitOpen = false;
  constructor(_config: Config, _logger: Logger, _metrics: Metrics) {}
  async start(_handler: BackendHandler): Promise<void> {
    throw new Error('redis backend not implemented yet');
  }
  async join(_roomId: string, _clientId: string, _capacity: number): Promise<JoinResult> {
    throw new Error('not implemented');
  }
  async leave(): Promise<void> {}
  async members(): Promise<string[]> {
    return [];
  }
  subscribe(): void {}
  unsubscribe(): void {}
  publish(_roomId: string, _envelope: Envelope): void {}
  async ping(): Promise<boolean> {
    return false;
  }
  async close(): Promise<void> {}
}

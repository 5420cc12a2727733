/**
 * Named errors of the server (after fastify's FST_ERR_* table): one code, one message template.
 * Messages never include a token or a query string.
 */
export class SwitchboardError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SwitchboardError';
  }
}

export class ConfigError extends SwitchboardError {
  constructor(
    readonly setting: string,
    value: string,
    expected: string,
  ) {
    super('SB_ERR_CONFIG', `Invalid ${setting}=${JSON.stringify(value)}: expected ${expected}`);
    this.name = 'ConfigError';
  }
}

export class CircuitOpenError extends SwitchboardError {
  constructor() {
    super('SB_ERR_CIRCUIT_OPEN', 'Redis circuit breaker is open');
    this.name = 'CircuitOpenError';
  }
}

/** The message of anything thrown, for a log field (never includes a stack or a token). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Error boundaries (issue 10 §1): every handler that network input reaches (HTTP request,
 * upgrade, frame, close, Redis channel message, JWKS response) catches what it throws, costs
 * only the connection at hand, and reports here. A fault is a bug, so it is logged at error
 * level with where it happened and the top of its stack, but at most once per site per
 * REPEAT_MS: input that trips the same bug on every frame must not flood the log.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

const REPEAT_MS = 10_000;
const STACK_LINES = 6;

export class Faults {
  private readonly sites = new Map<string, { at: number; suppressed: number }>();
  /** Faults caught since start (all sites). */
  count = 0;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Report a caught exception at `site` (a fixed name: the map stays small). */
  report(site: string, err: unknown, fields: Record<string, unknown> = {}): void {
    this.count++;
    const now = this.now();
    const seen = this.sites.get(site);
    if (seen && now - seen.at < REPEAT_MS) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.sites.set(site, { at: now, suppressed: 0 });
    this.logger.error(
      { site, err: errorMessage(err), stack: stackTop(err), suppressed, ...fields },
      'handler failed; only its connection was affected',
    );
  }
}

function stackTop(err: unknown): string | undefined {
  if (!(err instanceof Error) || err.stack === undefined) return undefined;
  return err.stack
    .split('\n')
    .slice(1, STACK_LINES + 1)
    .join('\n');
}

/**
 * The last line of defence, installed by the CLI. Every handler that network input reaches has
 * its own error boundary (src/server/faults.ts), so an exception or rejection that gets here is
 * a bug whose effect on shared state is unknown. Node's advice holds: do not keep serving in
 * that state. It is logged once, with its origin and stack; then the node drains as on SIGTERM
 * (clients get SHUTDOWN_CLOSE_CODE, memberships are removed) and exits 1 on purpose, so the
 * supervisor restarts it. A second fault meanwhile is not logged again; a drain that hangs is
 * cut short after DRAIN_TIMEOUT_MS + 5 s.
 */
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

export interface FatalOptions {
  logger: Logger;
  server: { close(): Promise<void> };
  drainTimeoutMs: number;
  /** Ends the process (the CLI flushes logs first). */
  exit: (code: number) => void;
  /** Called once when a fault starts the drain (the CLI stops reacting to signals). */
  onDrain?: () => void;
}

export function exitOnFatal(opts: FatalOptions): void {
  let faulted = false;
  const onFatal = (origin: string) => (err: unknown) => {
    if (faulted) return;
    faulted = true;
    opts.logger.fatal(
      { origin, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined },
      'unexpected error; draining and exiting 1',
    );
    opts.onDrain?.();
    setTimeout(() => opts.exit(1), opts.drainTimeoutMs + 5000).unref();
    opts.server.close().then(
      () => opts.exit(1),
      () => opts.exit(1),
    );
  };
  process.on('uncaughtException', onFatal('uncaughtException'));
  process.on('unhandledRejection', onFatal('unhandledRejection'));
}

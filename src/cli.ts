/**
 * `switchboard` entry point: config from env and flags, start, signals. Thin by design.
 */
import { pino } from 'pino';
import { helpText, loadConfig } from './config.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { startSwitchboard } from './index.js';
import { createDemoRoute, findExamplesDir } from './server/demo-route.js';

async function main(): Promise<void> {
  let loaded;
  try {
    loaded = loadConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`switchboard: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (loaded.help) {
    process.stdout.write(helpText() + '\n');
    return;
  }
  const { config, warnings } = loaded;
  // Asynchronous stdout with a bounded buffer: a pipe nobody reads drops log lines instead of
  // stalling the event loop (sonic-boom's maxLength).
  const destination = config.logPretty
    ? undefined
    : pino.destination({ dest: 1, sync: false, maxLength: 4 * 1024 * 1024 });
  const logger = createLogger({ level: config.logLevel, pretty: config.logPretty }, destination);
  for (const w of warnings) logger.warn(w);
  /** Let buffered log lines reach stdout, but never wait long on a pipe nobody reads. */
  const exitAfterFlush = (code: number): void => {
    if (!destination) return process.exit(code);
    setTimeout(() => process.exit(code), 1000).unref();
    destination.flush(() => process.exit(code));
  };

  let extraRoute;
  if (config.demo) {
    const dir = findExamplesDir();
    if (!dir) {
      process.stderr.write(
        'switchboard: DEMO is set but examples/ is not found next to this installation\n',
      );
      process.exit(2);
    }
    extraRoute = createDemoRoute(dir);
  }

  let server;
  try {
    server = await startSwitchboard(config, { logger, extraRoute });
  } catch (err) {
    // A setting found bad only now (a TLS file, a port, an address): one line, exit 2, as at
    // load time. Anything else (Redis unreachable) is not a setting: logged, exit 1.
    if (err instanceof ConfigError) {
      destination?.flushSync();
      process.stderr.write(`switchboard: ${err.message}\n`);
      process.exit(2);
    }
    logger.fatal({ err: errorMessage(err) }, 'failed to start');
    return exitAfterFlush(1);
  }
  logger.info(
    {
      backend: server.backend.kind,
      port: server.port,
      host: config.host,
      healthPort: server.healthPort,
      tls: config.tlsCertFile !== undefined,
    },
    `switchboard listening on ${config.host}:${server.port} (${server.backend.kind} backend)`,
  );
  if (config.demo) logger.info(`demo at http://localhost:${server.port}/demo/`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    server.close().then(
      () => {
        logger.info('stopped');
        exitAfterFlush(0);
      },
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'shutdown failed');
        exitAfterFlush(1);
      },
    );
  };
  // SIGHUP reloads the TLS certificate and key without dropping connections. Handled even
  // without TLS: its default action would terminate the process.
  process.on('SIGHUP', () => {
    try {
      if (server.reloadTls()) logger.info('TLS certificate reloaded');
      else logger.info('SIGHUP ignored: native TLS is not configured');
    } catch (err) {
      logger.error(
        { err: errorMessage(err) },
        'TLS reload failed; keeping the current certificate',
      );
    }
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  // The last line of defence. Every handler that network input reaches has its own error
  // boundary (src/server/faults.ts), so an exception or rejection that gets here is a bug whose
  // effect on shared state is unknown. Node's advice holds: do not keep serving in that state.
  // It is logged once, with its origin and stack top; then the node drains as on SIGTERM
  // (clients get SHUTDOWN_CLOSE_CODE, memberships are removed) and exits 1 on purpose, so the
  // supervisor restarts it. A second fault meanwhile is not logged again; a drain that hangs is
  // cut short after DRAIN_TIMEOUT_MS + 5 s.
  let faulted = false;
  const onFatal = (origin: string) => (err: unknown) => {
    if (faulted) return;
    faulted = true;
    logger.fatal(
      { origin, err: errorMessage(err), stack: err instanceof Error ? err.stack : undefined },
      'unexpected error; draining and exiting 1',
    );
    setTimeout(() => exitAfterFlush(1), config.drainTimeoutMs + 5000).unref();
    stopping = true;
    server.close().then(
      () => exitAfterFlush(1),
      () => exitAfterFlush(1),
    );
  };
  process.on('uncaughtException', onFatal('uncaughtException'));
  process.on('unhandledRejection', onFatal('unhandledRejection'));
}

void main();

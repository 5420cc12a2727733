/**
 * `switchboard` entry point: config from env and flags, start, signals. Thin by design.
 */
import { pino } from 'pino';
import { helpText, loadConfig } from './config.js';
import { ConfigError, errorMessage } from './errors.js';
import { createLogger } from './logger.js';
import { exitOnFatal } from './process-faults.js';
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

  // An exception or rejection no error boundary caught: log once, drain, exit 1 on purpose
  // (src/process-faults.ts says why).
  exitOnFatal({
    logger,
    server,
    drainTimeoutMs: config.drainTimeoutMs,
    exit: exitAfterFlush,
    onDrain: () => (stopping = true),
  });
}

void main();

/**
 * A server process with the CLI's fatal-error handling (src/process-faults.ts) and a way to
 * make it fail as a bug would: a line `throw` on stdin throws from a timer, `reject` leaves a
 * promise rejected. Prints one JSON line `{"port":…}` once listening. For test/process-faults.
 */
import { createInterface } from 'node:readline';
import { DEFAULTS } from '../../src/config.js';
import { startSwitchboard } from '../../src/index.js';
import { createLogger } from '../../src/logger.js';
import { exitOnFatal } from '../../src/process-faults.js';

const logger = createLogger({ level: 'info', pretty: false });
const server = await startSwitchboard(
  { ...DEFAULTS, host: '127.0.0.1', wsPort: 0, drainTimeoutMs: 2000 },
  { logger },
);
exitOnFatal({ logger, server, drainTimeoutMs: 2000, exit: (code) => process.exit(code) });
process.stdout.write(JSON.stringify({ port: server.port }) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'throw')
    setTimeout(() => {
      throw new Error('a bug');
    });
  if (line === 'reject') void Promise.reject(new Error('a rejected bug'));
});

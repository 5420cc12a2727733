/**
 * pino logger. JSON by default; LOG_PRETTY=true for humans. Never a line per message.
 * Tokens never reach a log line: request URLs are not logged, and the `token`, `authorization`
 * and `url` fields are redacted as a second line of defence.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export function createLogger(
  opts: { level: string; pretty: boolean },
  destination?: DestinationStream,
): Logger {
  const base = {
    level: opts.level,
    redact: {
      paths: [
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'url',
        '*.url',
        'req.headers',
      ],
      censor: '[redacted]',
    },
  };
  if (opts.pretty && !destination) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return destination ? pino(base, destination) : pino(base);
}

import { pino, type Logger } from 'pino';
import type { LoggerService } from '@nestjs/common';
import { activeTraceFields } from './trace-context.js';

export type { Logger } from 'pino';

/**
 * JSON logs to stdout, one line each, with the service name on every line, and the active span's
 * `trace_id`/`span_id` on lines logged inside a trace (none when tracing is off).
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    mixin: activeTraceFields,
    formatters: { level: (label) => ({ level: label }) },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-switchyard-identity"]',
        '*.secretKey',
        '*.password',
      ],
      remove: true,
    },
  });
}

/** Nest's own log lines (bootstrap, routes, lifecycle) go through the same pino logger. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}
  log(message: unknown, context?: string) {
    this.logger.info({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string) {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string) {
    this.logger.trace({ context }, String(message));
  }
}

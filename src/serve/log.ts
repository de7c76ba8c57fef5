/**
 * Structured JSON logs (pino), one line per answered request:
 *   {"level":30,"time":"2026-…","msg":"request","reqId":"…","method":"POST","route":"/v1/completions",
 *    "path":"/v1/completions","status":200,"ms":12.3,"adapter":"sst2"}
 * 5xx answers log at "error", 4xx at "warn", the rest at "info" (--log-level warn keeps only failures).
 * Written synchronously, so a graceful shutdown loses no line.
 */
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AccessLogLine {
  reqId: string;
  method: string;
  route: string;
  path: string;
  status: number;
  ms: number;
  adapter: string | null;
  /** the client left before the answer was complete */
  aborted?: boolean;
  promptTokens?: number;
  completionTokens?: number;
}

/** A logger writing to `destination` (default: stderr, synchronously). */
export function createLogger(level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'softprompt-serve' }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ dest: 2, sync: true }));
}

export function logRequest(logger: Logger, line: AccessLogLine): void {
  const level: Level = line.status >= 500 ? 'error' : line.status >= 400 ? 'warn' : 'info';
  logger[level](line, 'request');
}

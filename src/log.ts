/**
 * Minimal structured logging without a logging dependency. The default logger writes one logfmt
 * line per event to stderr (the format Prometheus components use); callers can pass any object
 * with the same four methods (pino, winston and console all fit).
 */
import { checkOptions } from './options.js';
import { LOGFMT_LOGGER_OPTIONS } from './api-options.js';

/** Key/value context of a log line. Never put a secret in it. */
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** What scrapeguard logs through. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

function quote(value: string): string {
  return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
}

/** Formats one logfmt line: `time=… level=… msg=… key=value…`. */
export function formatLogfmt(level: LogLevel, message: string, fields?: LogFields, now = new Date()): string {
  let line = `time=${now.toISOString()} level=${level} msg=${quote(message)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${quote(String(v))}`;
  }
  return line;
}

/**
 * A logger writing logfmt lines to a stream (default `process.stderr`), dropping lines below `level`.
 * @example
 * const logger = createLogfmtLogger({ level: 'debug' });
 */
export function createLogfmtLogger(options: { level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  checkOptions('createLogfmtLogger', options, LOGFMT_LOGGER_OPTIONS);
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const at = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (RANK[level] >= min) write(formatLogfmt(level, message, fields));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

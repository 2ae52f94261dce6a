/**
 * Loggers that record what the code under test logs, for tests that assert on log lines (and for
 * the credential scans that check no secret reaches a log).
 */
import type { LogFields, Logger } from '../../src/log.js';

/** One recorded call: the level, the message and the fields (`{}` when none were given). */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields;
}

/** A Logger that appends every call to `lines` as a {@link LogLine}. */
export function capturingLogger(lines: LogLine[]): Logger {
  const at = (level: LogLine['level']) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, fields: fields ?? {} });
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * A Logger that appends every call, as one text line `level message {"field":…}`, to each of
 * `sinks` (e.g. the lines of one guard and the lines of the whole file).
 */
export function textLogger(...sinks: string[][]): Logger {
  const at = (level: LogLine['level']) => (message: string, fields?: LogFields) => {
    const line = `${level} ${message} ${JSON.stringify(fields ?? {})}`;
    for (const sink of sinks) sink.push(line);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A {@link capturingLogger} that carries its own `lines`. */
export function recordingLogger(): Logger & { readonly lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { lines, ...capturingLogger(lines) };
}

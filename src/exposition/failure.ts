/**
 * The two ways an exposition source fails: text the strict parser refused
 * ({@link ExpositionParseError}) and a source that did not deliver ({@link SourceError}). Both
 * are coded {@link ScrapeguardError}s; the core answers them 500 (local source) or 502 (upstream).
 */
import { ScrapeguardError } from '../errors.js';

/**
 * Exposition text that the strict parser refused. The scrape fails closed (nothing unparsed is
 * passed on). The message names the line and what was wrong, never the line's content, which may
 * hold the very secret redaction exists to remove.
 */
export class ExpositionParseError extends ScrapeguardError {
  /** 1-based line of the problem. */
  readonly line: number;
  /** 1-based column, when known. */
  readonly column: number | undefined;

  constructor(line: number, column: number | undefined, message: string) {
    super('EXPOSITION_PARSE', `line ${line}${column !== undefined ? `:${column}` : ''}: ${message}`);
    this.line = line;
    this.column = column;
  }
}

/** Why a source failed, as counted in `scrapeguard_source_errors_total{reason}`. */
export type SourceFailureReason = 'parse' | 'source' | 'connect' | 'timeout' | 'status' | 'too_large' | 'content_type' | 'tls';

/** A metrics source failed; `status` is what the scrape answers (500 local, 502 upstream). */
export class SourceError extends ScrapeguardError {
  readonly status: 500 | 502;
  readonly reason: SourceFailureReason;

  constructor(status: 500 | 502, reason: SourceFailureReason, message: string, options?: { cause?: unknown }) {
    super('SOURCE_FAILED', message, options);
    this.status = status;
    this.reason = reason;
  }
}

/**
 * Errors raised by scrapeguard. Programming mistakes (bad options passed in code) throw `TypeError`
 * naming the option; runtime failures throw a {@link ScrapeguardError} with a stable `code`.
 * No message built here ever contains a secret value.
 */

/**
 * Every code a {@link ScrapeguardError} can carry, with its meaning. The README's error table and
 * this list are checked against each other by the test suite.
 */
export const SCRAPEGUARD_ERROR_CODES = {
  /** The configuration (file or object) is invalid; see {@link ConfigError.issues}. */
  CONFIG_INVALID: 'the configuration is invalid; `issues` lists every problem with file, line, column and key path',
  /** The configuration file itself could not be read. */
  CONFIG_READ: 'the configuration file itself could not be read',
  /** Node/OpenSSL refused the TLS settings of a configuration that passed validation (a backstop). */
  TLS_SETUP: 'Node/OpenSSL refused TLS settings that passed validation (a backstop; the loader asks OpenSSL first)',
  /** A listen address could not be bound. */
  LISTEN_FAILED: 'a listen address could not be bound',
  /** A CLI invocation was malformed. */
  USAGE: 'a CLI invocation (or listen address) was malformed',
  /** A file would be overwritten without `--force`. */
  FILE_EXISTS: 'a file would be overwritten without --force',
  /** A scrape configuration cannot be generated (a referenced file is missing or unusable, a choice is impossible). */
  SCRAPE_CONFIG: 'a scrape configuration cannot be generated: a referenced file is missing or unusable, or a choice is impossible',

  /** Exposition text could not be parsed; the message names the line, never its content. */
  EXPOSITION_PARSE: 'exposition text could not be parsed; the message names line and column, never the content',
  /** A protobuf exposition body could not be decoded; the message names the family and byte offset, never content. */
  EXPOSITION_PROTOBUF: 'a protobuf exposition body could not be decoded; the message names the family index and byte offset, never the content',
  /** The metrics source (registry, function or upstream exporter) failed. */
  SOURCE_FAILED: 'the metrics source (registry, function or upstream exporter) failed; a scrape answers 500 (local source) or 502 (upstream)',
} as const;

/** Every code a {@link ScrapeguardError} can carry; `switch (err.code)` narrows on it. */
export type ScrapeguardErrorCode = keyof typeof SCRAPEGUARD_ERROR_CODES;

/** Base class of every runtime error scrapeguard throws. */
export class ScrapeguardError extends Error {
  /** Stable machine-readable code. */
  readonly code: ScrapeguardErrorCode;

  constructor(code: ScrapeguardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One problem found in a configuration. Messages never include secret values. */
export interface ConfigIssue {
  /** Config file the problem is in; absent for in-code objects. */
  readonly file?: string;
  /** 1-based line of the offending key or value, when known. */
  readonly line?: number;
  /** 1-based column, when known. */
  readonly column?: number;
  /** Dotted key path, e.g. `tls_server_config.client_auth_type` (empty for the document). */
  readonly path: string;
  /** What is wrong, naming the (non-secret) bad value. */
  readonly message: string;
}

/** Formats an issue as `file:line:column: path: message`, omitting the parts that are unknown. */
export function formatConfigIssue(issue: ConfigIssue): string {
  let where = issue.file ?? '<config>';
  if (issue.line !== undefined) {
    where += `:${issue.line}`;
    if (issue.column !== undefined) where += `:${issue.column}`;
  }
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** The configuration could not be accepted. `issues` lists every problem found, in file order. */
export class ConfigError extends ScrapeguardError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super('CONFIG_INVALID', issues.map(formatConfigIssue).join('\n') || 'invalid configuration', options);
    this.issues = issues;
  }
}

/**
 * What a CLI command gets from the outside world. Commands never touch `process` directly, so the
 * tests run them in-process with captured streams, and `main.ts` wires the real ones.
 */
import type { Readable, Writable } from 'node:stream';

/** Streams and environment of one CLI invocation. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: Writable;
  stderr: Writable;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /**
   * Resolves when the user asks the process to stop (SIGINT/SIGTERM); commands that serve
   * until stopped await it. Tests pass a promise they resolve themselves.
   */
  stopSignal: Promise<void>;
  /** Registers a listener for reload requests (SIGHUP); returns an unsubscribe function. */
  onReloadSignal: (listener: () => void) => () => void;
}

/** A CLI command: parses its own arguments and returns the exit status. */
export type CliCommand = (argv: readonly string[], io: CliIo) => Promise<number>;

/** Thrown for a malformed invocation; main prints the one-line message and exits 1. */
export { ScrapeguardError } from '../../errors.js';

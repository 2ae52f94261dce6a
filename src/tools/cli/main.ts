/**
 * The `scrapeguard` executable: wires the process's streams and signals to {@link runMain}.
 */
import type { CliIo } from './io.js';
import { runMain } from './run.js';

function processIo(): CliIo {
  let stop!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    stopSignal,
    onReloadSignal(listener) {
      process.on('SIGHUP', listener);
      return () => process.off('SIGHUP', listener);
    },
  };
}

runMain(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
    // Commands release their handles; a stray one must not keep a finished CLI alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`scrapeguard: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);

/**
 * Runs a CLI command in-process with captured streams, the way `main.ts` would run it with the
 * real ones. Nothing touches `process`: stdin is a string (or a stream the test drives), stdout
 * and stderr are collected as text.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { CliCommand, CliIo } from '../../src/tools/cli/io.js';

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Whole stdin (ended after it), or a stream the test feeds itself. Default: empty stdin. */
  stdin?: string | CliIo['stdin'];
  /** Working directory the command sees. Default: `process.cwd()`. */
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Resolve it to "press Ctrl-C"; default: never resolves. */
  stopSignal?: Promise<void>;
}

/** What a command produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` with `argv` and returns its exit status and output.
 * @example
 * const { code, stdout } = await runCli(initCommand, [dir], { cwd: tmp });
 */
export async function runCli(command: CliCommand, argv: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  let stdin: CliIo['stdin'];
  if (typeof options.stdin === 'string' || options.stdin === undefined) {
    const s = new PassThrough();
    s.end(options.stdin ?? '');
    stdin = s;
  } else {
    stdin = options.stdin;
  }
  const stdout = collect();
  const stderr = collect();
  const io: CliIo = {
    stdin,
    stdout: stdout.stream,
    stderr: stderr.stream,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    stopSignal: options.stopSignal ?? new Promise<void>(() => {}),
    onReloadSignal: () => () => {},
  };
  const code = await command(argv, io);
  // Let buffered chunks drain before reading them.
  await Promise.all([stdout.close(), stderr.close()]);
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

function collect(): { stream: PassThrough; text: () => string; close: () => Promise<void> } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(stream, 'end').then(() => undefined);
  return {
    stream,
    text: () => Buffer.concat(chunks).toString('utf8'),
    close: () => {
      stream.end();
      return ended;
    },
  };
}

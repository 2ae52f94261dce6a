/**
 * `scrapeguard hash-password`: turns a password into the bcrypt hash that `basic_auth_users`
 * expects. The password never comes from the command line (it would show in `ps` and shell
 * history): on a terminal it is typed twice without echo, otherwise it is read from stdin.
 * Hashes use the `$2b$` prefix, which exporter-toolkit (Go's x/crypto/bcrypt) accepts.
 */
import { StringDecoder } from 'node:string_decoder';
import type { Readable, Writable } from 'node:stream';
import { hash } from '@node-rs/bcrypt';
import { ScrapeguardError } from '../../errors.js';
import { intOption, parseCommandArgs } from './args.js';
import type { CliCommand, CliIo } from './io.js';

const DEFAULT_COST = 12;
/** The range both @node-rs/bcrypt and Go's x/crypto/bcrypt accept. */
const MIN_COST = 4;
const MAX_COST = 31;
/** Below this, a hash falls to offline guessing quickly; allowed (tests, tiny devices) with a warning. */
const WEAK_COST = 10;
/** bcrypt ignores every byte after the 72nd, so a longer password would be silently truncated. */
const BCRYPT_MAX_BYTES = 72;
/** Stop reading stdin early when it is clearly not a password. */
const MAX_INPUT_BYTES = 4096;

const USAGE = `Usage: scrapeguard hash-password [--cost N]

Prints the bcrypt hash ($2b$) of a password, for basic_auth_users in web-config.yml.
On a terminal the password is asked twice without echo; otherwise it is read from stdin
(one trailing newline is removed), e.g.  printf %s "$PASSWORD" | scrapeguard hash-password

Options:
  --cost N     bcrypt cost, ${MIN_COST} to ${MAX_COST} (default ${DEFAULT_COST}); each step doubles the work
  -h, --help   show this help
`;

/** The user pressed Ctrl-C (or Ctrl-D on an empty line) at a hidden prompt. */
export class PromptAbortedError extends Error {
  constructor(message = 'aborted') {
    super(message);
    this.name = 'PromptAbortedError';
  }
}

/** What {@link readHiddenLine} needs from its input: a terminal-like readable stream. */
export type HiddenInput = Pick<Readable, 'on' | 'removeListener' | 'resume' | 'pause'> & {
  isRaw?: boolean;
  setRawMode?: (mode: boolean) => unknown;
};

/**
 * Writes `prompt` to `output` and reads one line from `input` in raw mode, without echo.
 * Enter ends the line; Backspace/Delete remove the last character; Ctrl-U clears the line;
 * escape sequences (arrow keys) and other control characters are ignored; Ctrl-C, or Ctrl-D on
 * an empty line, rejects with {@link PromptAbortedError}. Raw mode is restored afterwards.
 * Anything typed after Enter in the same chunk is discarded.
 * @example
 * const pw = await readHiddenLine(process.stdin, process.stderr, 'Password: ');
 */
export function readHiddenLine(input: HiddenInput, output: Pick<Writable, 'write'>, prompt: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const wasRaw = input.isRaw === true;
    const decoder = new StringDecoder('utf8');
    const chars: string[] = [];
    let escape: 'none' | 'esc' | 'csi' = 'none';
    let done = false;

    const finish = (result: { line: string } | { error: Error }) => {
      if (done) return;
      done = true;
      input.removeListener('data', onData);
      input.removeListener('end', onEnd);
      input.removeListener('error', onError);
      input.setRawMode?.(wasRaw);
      input.pause();
      // Enter is not echoed in raw mode; move the cursor off the prompt line ourselves.
      output.write('\n');
      if ('line' in result) resolve(result.line);
      else reject(result.error);
    };

    const onData = (chunk: Buffer | string) => {
      const text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
      for (const ch of text) {
        if (done) return;
        if (escape === 'esc') {
          escape = ch === '[' || ch === 'O' ? 'csi' : 'none';
          continue;
        }
        if (escape === 'csi') {
          // ECMA-48: a control sequence ends with a final byte in 0x40–0x7E.
          const c = ch.charCodeAt(0);
          if (c >= 0x40 && c <= 0x7e) escape = 'none';
          continue;
        }
        switch (ch) {
          case '\r':
          case '\n':
            finish({ line: chars.join('') });
            return;
          case '\u0003':
            finish({ error: new PromptAbortedError() });
            return;
          case '\u0004':
            if (chars.length === 0) finish({ error: new PromptAbortedError() });
            continue;
          case '\u007f':
          case '\b':
            chars.pop();
            continue;
          case '\u0015':
            chars.length = 0;
            continue;
          case '\u001b':
            escape = 'esc';
            continue;
          default:
            if (ch.charCodeAt(0) >= 0x20) chars.push(ch);
        }
      }
    };
    const onEnd = () => finish({ error: new PromptAbortedError('input ended before Enter') });
    const onError = (error: Error) => finish({ error });

    output.write(prompt);
    input.setRawMode?.(true);
    input.on('data', onData);
    input.on('end', onEnd);
    input.on('error', onError);
    input.resume();
  });
}

/**
 * Reads all of `input` and removes one trailing `\n` or `\r\n`, keeping every other byte
 * (including inner or leading whitespace) exactly as given.
 * @example
 * const bytes = await readPasswordFromStream(process.stdin);
 */
export async function readPasswordFromStream(input: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of input) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    total += buf.length;
    if (total > MAX_INPUT_BYTES) throw new ScrapeguardError('USAGE', `input is longer than ${MAX_INPUT_BYTES} bytes; expected one password`);
    chunks.push(buf);
  }
  let bytes = Buffer.concat(chunks);
  if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
  return bytes;
}

/**
 * Runs `scrapeguard hash-password`.
 * @example
 * const status = await hashPasswordCommand(['--cost', '12'], io);
 */
export const hashPasswordCommand: CliCommand = async (argv, io) => {
  try {
    return await run(argv, io);
  } catch (error) {
    if (error instanceof ScrapeguardError || error instanceof PromptAbortedError) {
      io.stderr.write(`scrapeguard hash-password: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
};

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const args = parseCommandArgs(argv, { cost: { type: 'string' } });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const cost = intOption(args, 'cost', DEFAULT_COST, MIN_COST, MAX_COST);

  const password = await readPassword(io);
  try {
    if (password.length === 0) throw new ScrapeguardError('USAGE', 'the password is empty');
    if (password.length > BCRYPT_MAX_BYTES) {
      throw new ScrapeguardError(
        'USAGE',
        `the password is ${password.length} bytes; bcrypt uses only the first ${BCRYPT_MAX_BYTES}, so the rest would be ignored`,
      );
    }
    if (isAsciiSpace(password[0]) || isAsciiSpace(password[password.length - 1])) {
      io.stderr.write(
        "scrapeguard hash-password: warning: the password starts or ends with whitespace; Prometheus's password_file strips it, so such a password only works inline\n",
      );
    }
    if (cost < WEAK_COST) {
      io.stderr.write(`scrapeguard hash-password: warning: cost ${cost} is weak; use ${WEAK_COST} or more outside tests\n`);
    }
    const encoded = await hash(password, { cost });
    io.stdout.write(`${encoded}\n`);
    return 0;
  } finally {
    password.fill(0);
  }
}

async function readPassword(io: CliIo): Promise<Buffer> {
  const stdin = io.stdin;
  if (stdin.isTTY !== true || typeof stdin.setRawMode !== 'function') return readPasswordFromStream(stdin);
  const first = await readHiddenLine(stdin, io.stderr, 'Password: ');
  if (first === '') throw new ScrapeguardError('USAGE', 'the password is empty');
  const second = await readHiddenLine(stdin, io.stderr, 'Retype password: ');
  if (first !== second) throw new ScrapeguardError('USAGE', 'the passwords do not match');
  return Buffer.from(first, 'utf8');
}

function isAsciiSpace(byte: number | undefined): boolean {
  return byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d);
}

/**
 * `scrapeguard hash-password`: stdin handling (one trailing newline stripped, bytes kept as given),
 * validation, and the hidden terminal prompt driven by a fake TTY that emits key presses.
 */
import { PassThrough } from 'node:stream';
import { parseOptions, verify } from '@node-rs/bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { hashPasswordCommand, PromptAbortedError, readHiddenLine } from '../src/tools/cli/hash-password.js';
import { runCli } from './helpers/cli.js';

const HASH_LINE = /^\$2b\$(\d\d)\$[./A-Za-z0-9]{53}\n$/;

/** A stand-in for a terminal in raw mode: the test writes key presses into it. */
function fakeTty() {
  const stream = new PassThrough();
  const setRawMode = vi.fn((mode: boolean) => {
    tty.isRaw = mode;
    return tty;
  });
  const tty = Object.assign(stream, { isTTY: true, isRaw: false, setRawMode });
  return tty;
}

/** Collects what a prompt writes (the prompt and the final newline, never the password). */
function sink() {
  let text = '';
  return { write: (chunk: string) => ((text += chunk), true), text: () => text };
}

describe('hash-password from stdin (not a terminal)', () => {
  it('hashes the password with one trailing newline removed, cost 12 by default', async () => {
    const result = await runCli(hashPasswordCommand, [], { stdin: 'pw\n' });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(HASH_LINE);
    const hash = result.stdout.trimEnd();
    expect(parseOptions(hash)).toEqual({ version: '2b', cost: 12 });
    expect(await verify('pw', hash)).toBe(true);
    expect(await verify('pw\n', hash)).toBe(false);
  });

  it.each([
    ['pw\r\n', 'pw'],
    ['pw', 'pw'],
    ['pw\n\n', 'pw\n'],
    ['p w\tö€', 'p w\tö€'],
  ])('reads %j as %j', async (stdin, password) => {
    const result = await runCli(hashPasswordCommand, ['--cost', '4'], { stdin });
    expect(result.code).toBe(0);
    expect(await verify(password, result.stdout.trimEnd())).toBe(true);
  });

  it('honours --cost and warns below 10', async () => {
    const result = await runCli(hashPasswordCommand, ['--cost', '5'], { stdin: 'pw' });
    expect(result.code).toBe(0);
    expect(parseOptions(result.stdout.trimEnd()).cost).toBe(5);
    expect(result.stderr).toMatch(/warning: cost 5 is weak/);
  });

  it.each([['3'], ['32'], ['12.5'], ['abc'], ['']])('rejects --cost %j', async (cost) => {
    const result = await runCli(hashPasswordCommand, ['--cost', cost], { stdin: 'pw' });
    expect(result).toEqual({ code: 1, stdout: '', stderr: `scrapeguard hash-password: --cost must be an integer from 4 to 31, got ${JSON.stringify(cost)}\n` });
  });

  it.each([[''], ['\n'], ['\r\n']])('rejects the empty password %j', async (stdin) => {
    const result = await runCli(hashPasswordCommand, [], { stdin });
    expect(result).toEqual({ code: 1, stdout: '', stderr: 'scrapeguard hash-password: the password is empty\n' });
  });

  it('rejects a password bcrypt would truncate (over 72 bytes) and accepts exactly 72', async () => {
    const long = await runCli(hashPasswordCommand, ['--cost', '4'], { stdin: `${'é'.repeat(36)}x\n` });
    expect(long.code).toBe(1);
    expect(long.stderr).toBe('scrapeguard hash-password: the password is 73 bytes; bcrypt uses only the first 72, so the rest would be ignored\n');

    const max = await runCli(hashPasswordCommand, ['--cost', '4'], { stdin: `${'a'.repeat(72)}\n` });
    expect(max.code).toBe(0);
    expect(await verify('a'.repeat(72), max.stdout.trimEnd())).toBe(true);
  });

  it('refuses huge input without reading it all', async () => {
    const result = await runCli(hashPasswordCommand, [], { stdin: 'x'.repeat(10_000) });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/longer than 4096 bytes/);
  });

  it('warns when surrounding whitespace would be lost in a password_file', async () => {
    const result = await runCli(hashPasswordCommand, ['--cost', '4'], { stdin: ' pw\n' });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: the password starts or ends with whitespace/);
    expect(await verify(' pw', result.stdout.trimEnd())).toBe(true);
  });

  it('takes no password argument (it would show in ps and shell history)', async () => {
    const result = await runCli(hashPasswordCommand, ['hunter2'], { stdin: 'pw' });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scrapeguard hash-password: [^\n]*\n$/);
  });

  it('prints usage for --help', async () => {
    const result = await runCli(hashPasswordCommand, ['--help']);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/^Usage: scrapeguard hash-password \[--cost N\]/);
    expect(result.stdout).toContain('4 to 31 (default 12)');
  });
});

describe('readHiddenLine', () => {
  it('reads up to Enter in raw mode without echo, then restores the mode', async () => {
    const tty = fakeTty();
    const out = sink();
    const line = readHiddenLine(tty, out, 'Password: ');
    expect(tty.setRawMode).toHaveBeenLastCalledWith(true);
    tty.write('s3');
    tty.write(Buffer.from('cr€'.slice(0, 3)));
    tty.write('t\r');
    expect(await line).toBe('s3cr€t');
    expect(tty.setRawMode).toHaveBeenLastCalledWith(false);
    expect(out.text()).toBe('Password: \n');
  });

  it('joins UTF-8 characters split across chunks', async () => {
    const tty = fakeTty();
    const line = readHiddenLine(tty, sink(), '');
    const euro = Buffer.from('€');
    tty.write(euro.subarray(0, 1));
    tty.write(Buffer.concat([euro.subarray(1), Buffer.from('\n')]));
    expect(await line).toBe('€');
  });

  it('handles Backspace, Delete, Ctrl-U and ignores arrow keys and other control characters', async () => {
    const tty = fakeTty();
    const line = readHiddenLine(tty, sink(), '');
    tty.write('abc\u007f'); // DEL (what most terminals send for Backspace)
    tty.write('d\b'); // BS
    tty.write('\u001b[D\u001bOA'); // left arrow, up arrow (application mode)
    tty.write('\u0015xy'); // Ctrl-U clears the line
    tty.write('\t\u0001z\u007f\u007f\u007f\u007fq'); // more deletes than characters
    tty.write('\r');
    expect(await line).toBe('q');
  });

  it('aborts on Ctrl-C and restores the terminal', async () => {
    const tty = fakeTty();
    const out = sink();
    const line = readHiddenLine(tty, out, 'Password: ');
    tty.write('secret\u0003more\r');
    await expect(line).rejects.toBeInstanceOf(PromptAbortedError);
    expect(tty.isRaw).toBe(false);
    expect(tty.listenerCount('data')).toBe(0);
    expect(out.text()).toBe('Password: \n');
  });

  it('aborts on Ctrl-D on an empty line and on end of input', async () => {
    const tty = fakeTty();
    const first = readHiddenLine(tty, sink(), '');
    tty.write('\u0004');
    await expect(first).rejects.toThrow('aborted');

    const second = readHiddenLine(tty, sink(), '');
    tty.end('abc');
    await expect(second).rejects.toThrow('input ended before Enter');
  });

  it('leaves a terminal that was already raw in raw mode', async () => {
    const tty = fakeTty();
    tty.isRaw = true;
    const line = readHiddenLine(tty, sink(), '');
    tty.write('x\n');
    await line;
    expect(tty.setRawMode).toHaveBeenLastCalledWith(true);
  });
});

describe('hash-password on a terminal', () => {
  it('asks twice on stderr and prints only the hash', async () => {
    const tty = fakeTty();
    const run = runCli(hashPasswordCommand, ['--cost', '4'], { stdin: tty });
    // The stream is paused between the prompts, so separately typed lines wait for the second one.
    tty.write('correct horse\r');
    tty.write('correct horse\r');
    const result = await run;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^Password: \nRetype password: \nscrapeguard hash-password: warning: cost 4 is weak/);
    expect(result.stdout).toMatch(HASH_LINE);
    expect(result.stdout).not.toContain('correct horse');
    expect(await verify('correct horse', result.stdout.trimEnd())).toBe(true);
  });

  it('fails when the two entries differ', async () => {
    const tty = fakeTty();
    const run = runCli(hashPasswordCommand, ['--cost', '4'], { stdin: tty });
    tty.write('one\r');
    tty.write('two\r');
    const result = await run;
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'Password: \nRetype password: \nscrapeguard hash-password: the passwords do not match\n',
    });
  });

  it('exits 1 on Ctrl-C without output', async () => {
    const tty = fakeTty();
    const run = runCli(hashPasswordCommand, [], { stdin: tty });
    tty.write('sec\u0003');
    expect(await run).toEqual({ code: 1, stdout: '', stderr: 'Password: \nscrapeguard hash-password: aborted\n' });
  });

  it('refuses an empty entry at the first prompt', async () => {
    const tty = fakeTty();
    const run = runCli(hashPasswordCommand, [], { stdin: tty });
    tty.write('\r');
    expect(await run).toEqual({ code: 1, stdout: '', stderr: 'Password: \nscrapeguard hash-password: the password is empty\n' });
  });
});

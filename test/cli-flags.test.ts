/**
 * The CLI fails closed on flags as the API does on options: every command refuses an unknown flag
 * with exit 1 and one line naming it and the closest flag the command knows
 * (`unknown flag --web.listen-adress (did you mean --web.listen-address?)`), before doing anything.
 * The flags are taken from each command's own --help, so a new flag is covered when it is documented.
 */
import { describe, expect, it } from 'vitest';
import { runMain } from '../src/tools/cli/run.js';
import { runCli, type CliResult } from './helpers/cli.js';

const COMMANDS = ['serve', 'check', 'init', 'scrape-config', 'hash-password', 'token', 'jwt', 'jwt keygen', 'redact', 'scan', 'demo'];

const main = (argv: readonly string[]): Promise<CliResult> => runCli((args, io) => runMain(args, io), argv);

/** The long flags a command documents in its --help. */
async function documentedFlags(command: string): Promise<string[]> {
  const help = await main([...command.split(' '), '--help']);
  expect(help.code, help.stderr).toBe(0);
  // jwt's help documents both forms: the keygen line belongs to `jwt keygen`, the rest to `jwt`.
  const lines = help.stdout.split('\n');
  const usage =
    command === 'jwt keygen'
      ? lines.filter((l) => /scrapeguard jwt keygen/.test(l)).join('\n')
      : command === 'jwt'
        ? lines.filter((l) => !/scrapeguard jwt keygen/.test(l)).join('\n')
        : help.stdout;
  return [...new Set([...usage.matchAll(/(?<![\w-])--([a-z][a-z0-9.-]*[a-z0-9])/g)].map((m) => m[1]!))].filter((f) => f !== 'help');
}

/** One-letter misspelling: a letter in the middle of the name dropped. */
const misspell = (flag: string) => flag.slice(0, Math.floor(flag.length / 2)) + flag.slice(Math.floor(flag.length / 2) + 1);

describe('unknown flags: exit 1, one line, did-you-mean', () => {
  it('the example of the issue: serve --web.listen-adress', async () => {
    const r = await main(['serve', '--web.listen-adress', '127.0.0.1:0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('scrapeguard serve: unknown flag --web.listen-adress (did you mean --web.listen-address?)\n');
  });

  it.each(COMMANDS)('%s: every documented flag, misspelled, is refused with the right suggestion', async (command) => {
    const flags = await documentedFlags(command);
    expect(flags.length, `${command} documents no flag`).toBeGreaterThan(0);
    for (const flag of flags) {
      const typo = misspell(flag);
      if (flags.includes(typo)) continue;
      const r = await main([...command.split(' '), `--${typo}`]);
      expect(r.code, `${command} --${typo}`).toBe(1);
      expect(r.stderr).toBe(`scrapeguard ${command.split(' ')[0]}: unknown flag --${typo} (did you mean --${flag}?)\n`);
    }
  });

  it('the --flag=value form and a flag far from every other are refused too', async () => {
    const eq = await main(['check', '--web.config.fil=web.yml']);
    expect(eq.stderr).toBe('scrapeguard check: unknown flag --web.config.fil (did you mean --web.config.file?)\n');
    const far = await main(['check', '--zzz']);
    expect(far.code).toBe(1);
    expect(far.stderr).toBe('scrapeguard check: unknown flag --zzz (see --help)\n');
  });

  it("a Go-style single-dash long flag is pointed at its -- form (Go's flag package accepts -web.listen-address)", async () => {
    const r = await main(['serve', '-web.listen-address', '127.0.0.1:0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('scrapeguard serve: unknown flag -web.listen-address (did you mean --web.listen-address?)\n');
    // -h stays the short help flag.
    expect((await main(['check', '-h'])).code).toBe(0);
  });
});

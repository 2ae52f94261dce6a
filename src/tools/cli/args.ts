/**
 * Argument parsing shared by the commands: node:util `parseArgs` (strict) with errors turned into
 * one-line usage errors, and `--help` handled uniformly.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ScrapeguardError } from '../../errors.js';
import { closestKey } from '../../options.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Result of {@link parseCommandArgs}; `values` is keyed by option name. */
export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
  help: boolean;
  /** One line per old flag name used (`--ca is now --ca-file`), for the command to print as a warning. */
  renamed: string[];
}

/**
 * Old flag name → current name. The naming rule: a flag whose value is a file ends in `-file`;
 * flags of one concern share a dotted prefix (`--web.`, `--upstream.`), as Go exporters do.
 * Old names keep working (with a warning) so scripts do not break in a minor release.
 */
export type RenamedFlags = Readonly<Record<string, string>>;

/** Rewrites `--old` and `--old=value` to the current names; reports each old name used once. */
function applyRenames(argv: readonly string[], renamed: RenamedFlags): { argv: string[]; used: string[] } {
  const used = new Set<string>();
  const end = argv.indexOf('--');
  const out = argv.map((arg, i) => {
    if (end !== -1 && i >= end) return arg;
    const m = /^--([^=]+)(=.*)?$/s.exec(arg);
    const now = m ? renamed[m[1]!] : undefined;
    if (!m || now === undefined) return arg;
    used.add(`--${m[1]} is now --${now} (the old name still works, and will be removed in 1.0)`);
    return `--${now}${m[2] ?? ''}`;
  });
  return { argv: out, used: [...used] };
}

/**
 * The one-line refusal of a flag the command does not know, with the closest known flag:
 * `unknown flag --web.listen-adress (did you mean --web.listen-address?)`. A Go-style single-dash
 * long flag (`-web.listen-address`, which Go's flag package accepts) is pointed at its `--` form.
 */
export function unknownFlagMessage(flag: string, options: Options): string {
  const name = flag.replace(/^-+/, '');
  const longs = [...Object.keys(options), 'help'];
  const near = closestKey(name, longs);
  return `unknown flag ${flag}${near !== undefined ? ` (did you mean --${near}?)` : ' (see --help)'}`;
}

/** A `-long.name` argument (single dash, more than one letter) that is not a group of known short flags. */
function singleDashLong(arg: string, options: Options): boolean {
  if (!/^-[^-]{2,}/.test(arg)) return false;
  const shorts = new Set(['h', ...Object.values(options).flatMap((o) => (o.short ? [o.short] : []))]);
  const letters = arg.slice(1).split('=', 1)[0]!;
  return ![...letters].every((c) => shorts.has(c));
}

/**
 * Parses `argv` strictly against `options` (plus `--help`/`-h`).
 * Unknown options (with the closest known one) and missing values become a `USAGE` error naming the option.
 */
export function parseCommandArgs(argv: readonly string[], options: Options, allowPositionals = false, renamed: RenamedFlags = {}): ParsedArgs {
  const rewritten = applyRenames(argv, renamed);
  argv = rewritten.argv;
  const end = argv.indexOf('--');
  for (const arg of end === -1 ? argv : argv.slice(0, end)) {
    if (singleDashLong(arg, options)) throw new ScrapeguardError('USAGE', unknownFlagMessage(arg.split('=', 1)[0]!, options));
  }
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    const help = values.help === true;
    delete values.help;
    return { values, positionals, help, renamed: rewritten.used };
  } catch (error) {
    const code = (error as { code?: string }).code;
    const flag = /^Unknown option '([^']+)'/.exec((error as Error).message)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag !== undefined) {
      throw new ScrapeguardError('USAGE', unknownFlagMessage(flag, options), { cause: error });
    }
    // parseArgs messages are already one line and name the option; drop the hint about '--'.
    const message = (error as Error).message.split('\n')[0] ?? String(error);
    throw new ScrapeguardError('USAGE', message.replace(/\. To specify a positional argument.*$/, ''), { cause: error });
  }
}

/** Reads a single string option (the last one wins when repeated). */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** Reads a repeatable string option as a list. */
export function listOption(args: ParsedArgs, name: string): string[] {
  const v = args.values[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Reads a boolean flag. */
export function flagOption(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

/** Parses a positive integer option, or throws a `USAGE` error naming it. */
export function intOption(args: ParsedArgs, name: string, fallback: number, min: number, max: number): number {
  const raw = stringOption(args, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ScrapeguardError('USAGE', `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

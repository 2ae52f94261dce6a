/**
 * `scrapeguard check --web.config.file FILE`: validates a configuration the way `serve` would
 * load it (files read, certificates parsed, hashes checked). Prints `FILE SUCCESS` like promtool,
 * then which Go exporters can read the file too (`readable by: …`, from config/compat.ts);
 * warnings on stderr; on failure every problem on stderr with file, line and key, exit 1.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { compatibility, describeCompatibility } from '../../config/compat.js';
import { loadConfigFile } from '../../config/load.js';
import { parseYaml } from '../../config/locate.js';
import { ScrapeguardError } from '../../errors.js';
import { parseCommandArgs, stringOption } from './args.js';
import type { CliCommand } from './io.js';
import { effectiveTlsProfile } from '../../tls/profile.js';

const USAGE = `Usage: scrapeguard check --web.config.file FILE
       scrapeguard check FILE

Validates a web-config.yml (exporter-toolkit format plus scrapeguard's extensions): syntax,
unknown keys, certificates and keys (readable, matching, not expired), client CA, bcrypt hashes,
TLS versions, ciphers, curves, headers and limits, and the identity sections (bearer_auth tokens
and revocation file, jwt_auth keys and algorithms, client_cert_auth, auth_excluded_paths,
access_rules regexes, audit_log). Exit 0 and "FILE SUCCESS" when valid, followed by the
oldest exporter-toolkit / node_exporter release that can read the file too (the oldest that knows
every key in it), or "scrapeguard only" when it uses scrapeguard's extension keys. With TLS,
first prints the TLS profile in force ("mozilla-intermediate" by default, or the explicit
settings) and warns about explicit choices weaker than that profile.

Options:
  --web.config.file FILE   configuration to check (or give FILE as the one argument)
  -h, --help               show this help
`;

/** Runs `scrapeguard check`. */
export const checkCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, { 'web.config.file': { type: 'string' } }, true);
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const flag = stringOption(args, 'web.config.file');
  // `check FILE` as promtool's `check config FILE`; one file, named one way.
  if (args.positionals.length > 1) throw new ScrapeguardError('USAGE', `check takes one FILE, got ${args.positionals.length}`);
  if (flag !== undefined && args.positionals.length > 0)
    throw new ScrapeguardError('USAGE', 'give the file either as --web.config.file FILE or as FILE, not both');
  const file = flag ?? args.positionals[0];
  if (!file) throw new ScrapeguardError('USAGE', '--web.config.file FILE (or FILE) is required');
  const path = resolve(io.cwd, file);
  const config = await loadConfigFile(path);
  for (const warning of config.warnings) io.stderr.write(`warning: ${warning}\n`);
  if (config.tls) {
    const profile = effectiveTlsProfile(config.tls);
    const suites = profile.tls12CipherSuites.length > 0 ? `; TLS 1.2 suites ${profile.tls12CipherSuites.join(', ')}` : '';
    io.stdout.write(
      `TLS profile: ${profile.name} (versions ${profile.versions}${suites}; groups ${profile.groups.join(', ')}; no renegotiation, no compression)\n`,
    );
    for (const weaker of profile.weaker) io.stderr.write(`warning: tls_server_config: ${weaker}\n`);
  }
  // Key names only: the document was just validated, so it parses.
  const report = compatibility(parseYaml(await readFile(path, 'utf8')).value);
  io.stdout.write(`${file} SUCCESS\n${describeCompatibility(report)}\n`);
  return 0;
};

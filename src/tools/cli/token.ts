/**
 * `scrapeguard token`: makes a new random bearer token (256 bits, base64url) and prints it once,
 * with the `bearer_auth` entry for web-config.yml that holds only its SHA-256. The token is never
 * stored by scrapeguard; with `--out FILE` it is written to FILE (mode 0600, for Prometheus's
 * `credentials_file`) instead of the terminal. With `--header NAME` the same random secret is an
 * API key and the entry is a `header_auth` one (Prometheus sends it with `http_headers` + `files`).
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { tokenDigest } from '../../config/bearer-auth.js';
import { ScrapeguardError } from '../../errors.js';
import { writeSecretFile } from '../pki/write.js';
import { flagOption, intOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand } from './io.js';

const USAGE = `Usage: scrapeguard token [--header NAME] [--name NAME] [--groups a,b] [--expires-at TIME] [--out FILE [--force]]

Prints a new random bearer token (256 bits unless --bytes says more) once, followed by the
bearer_auth entry for web-config.yml, which holds only the token's SHA-256. With --header, the
secret is an API key sent in that header, and the entry is a header_auth one.

Options:
  --header NAME       make an API key for header_auth sent in header NAME (e.g. X-API-Key)
  --name NAME         principal name of callers using the token (default prometheus)
  --groups a,b        groups of the token, comma-separated
  --expires-at TIME   RFC 3339 expiry written into the entry (e.g. 2027-01-31T00:00:00Z)
  --bytes N           random bytes, 32 to 128 (default 32)
  --out FILE          write the token to FILE (mode 0600, for credentials_file or http_headers
                      files) instead of stdout
  --force             replace FILE if it exists
  -h, --help          show this help
`;

/** Runs `scrapeguard token`. */
export const tokenCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    header: { type: 'string' },
    name: { type: 'string' },
    groups: { type: 'string' },
    'expires-at': { type: 'string' },
    bytes: { type: 'string' },
    out: { type: 'string' },
    force: { type: 'boolean' },
  });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const name = stringOption(args, 'name') ?? 'prometheus';
  if (name.trim() === '') throw new ScrapeguardError('USAGE', '--name must not be empty');
  const groups = (stringOption(args, 'groups') ?? '')
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  const expiresAt = stringOption(args, 'expires-at');
  if (expiresAt !== undefined && !/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?$/.test(expiresAt)) {
    throw new ScrapeguardError('USAGE', `--expires-at must be an RFC 3339 time with a zone, e.g. 2027-01-31T00:00:00Z, got ${JSON.stringify(expiresAt)}`);
  }
  const header = stringOption(args, 'header');
  if (header !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header)) {
    throw new ScrapeguardError('USAGE', `--header must be an HTTP header name such as X-API-Key, got ${JSON.stringify(header)}`);
  }
  const bytes = intOption(args, 'bytes', 32, 32, 128);
  // base64url is visible ASCII without spaces: valid as a bearer token68 and as a header value.
  const token = randomBytes(bytes).toString('base64url');
  const extra = {
    ...(groups.length > 0 ? { groups } : {}),
    ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
  };
  const yaml =
    header === undefined
      ? stringify({ bearer_auth: { tokens: [{ name, token_sha256: tokenDigest(token), ...extra }] } }, { flowCollectionPadding: false })
      : stringify({ header_auth: { header, keys: [{ name, key_sha256: tokenDigest(token), ...extra }] } }, { flowCollectionPadding: false });
  const noun = header === undefined ? 'token' : 'key';
  const out = stringOption(args, 'out');
  if (out !== undefined) {
    const path = resolve(io.cwd, out);
    try {
      await writeSecretFile(path, `${token}\n`, { force: flagOption(args, 'force') });
    } catch (error) {
      if (error instanceof ScrapeguardError && error.code === 'FILE_EXISTS') {
        throw new ScrapeguardError('FILE_EXISTS', `${error.message} (use --force to replace it)`, { cause: error });
      }
      throw error;
    }
    io.stderr.write(`${noun} written to ${path} (mode 0600); it is not shown again\n`);
    io.stdout.write(`# web-config.yml (only the ${noun}'s SHA-256):\n${yaml}`);
  } else {
    io.stderr.write(
      header === undefined
        ? '# the token is shown once: store it now (e.g. in the file Prometheus reads as credentials_file)\n'
        : `# the key is shown once: store it now (e.g. in the file Prometheus sends as http_headers.${header}.files)\n`,
    );
    io.stdout.write(`${token}\n`);
    io.stderr.write(`# web-config.yml (only the ${noun}'s SHA-256):\n`);
    io.stdout.write(yaml);
  }
  return 0;
};

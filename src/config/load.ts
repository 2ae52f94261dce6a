/**
 * Loading web-config.yml, the file exporter-toolkit's Go exporters read with `--web.config.file`,
 * or the same document given as an object in code. Both go through one validation path, which is
 * stricter than the toolkit wherever the toolkit silently accepts a dangerous or useless setting.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ScrapeguardError } from '../errors.js';
import { parseYaml } from './locate.js';
import type { ResolvedConfig } from './schema.js';
import { validateConfig } from './validate.js';
import { checkOptions } from '../options.js';
import { LOAD_OPTIONS } from '../api-options.js';

export { parseGoDuration } from './duration.js';

/** Options of {@link loadConfigObject}. */
export interface LoadOptions {
  /** Directory for relative paths when loading an object (default `process.cwd()`). */
  baseDir?: string;
}

function osReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const detail = /^[A-Z0-9_]+: ([^,]+)/.exec(e?.message ?? '')?.[1];
  if (e?.code) return detail ? `${e.code} (${detail})` : e.code;
  return String(err);
}

/**
 * Reads, parses and validates a web-config.yml file. Relative `cert_file`, `key_file` and
 * `client_ca_file` are resolved against the file's directory; the files are read now.
 *
 * @throws ConfigError listing every problem, each with file, line, column and key path.
 * @throws ScrapeguardError with code `CONFIG_READ` when the config file itself cannot be read.
 * @example
 * const config = await loadConfigFile('/etc/myapp/web-config.yml');
 * for (const warning of config.warnings) console.warn(warning);
 */
export async function loadConfigFile(path: string): Promise<ResolvedConfig> {
  if (typeof path !== 'string' || path === '') throw new TypeError('loadConfigFile: path must be a non-empty string');
  const file = resolve(path);
  let text: string;
  let fileMode: number | undefined;
  try {
    text = await readFile(file, 'utf8');
    fileMode = (await stat(file)).mode;
  } catch (err) {
    throw new ScrapeguardError('CONFIG_READ', `cannot read config file ${JSON.stringify(file)}: ${osReason(err)}`, { cause: err });
  }
  const parsed = parseYaml(text);
  return validateConfig(parsed.value, {
    file,
    fileMode,
    baseDir: dirname(file),
    syntaxIssues: parsed.errors,
    locate: parsed.locate,
    scalarText: parsed.scalarText,
  });
}

/**
 * Validates an in-code object of the same shape as web-config.yml (the parsed YAML). Issues carry
 * key paths but no line numbers. PEM may be given inline (`cert`, `key`, `client_ca`).
 *
 * @throws ConfigError listing every problem.
 * @example
 * const config = await loadConfigObject({
 *   tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' },
 *   basic_auth_users: { prometheus: '$2b$12$…' },
 * }, { baseDir: '/etc/myapp' });
 */
export async function loadConfigObject(input: unknown, options: LoadOptions = {}): Promise<ResolvedConfig> {
  checkOptions('loadConfigObject', options, LOAD_OPTIONS);
  const { baseDir } = options;
  if (baseDir !== undefined && (typeof baseDir !== 'string' || baseDir === '')) {
    throw new TypeError('loadConfigObject: options.baseDir must be a non-empty string');
  }
  return validateConfig(input, {
    baseDir: resolve(baseDir ?? process.cwd()),
    locate: () => undefined,
    scalarText: () => undefined,
  });
}

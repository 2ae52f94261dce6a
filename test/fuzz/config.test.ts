/**
 * Fuzzing the config loader (issue #8 §5): random YAML documents, random token soup, and random
 * mutations of valid configurations, through the same path `loadConfigFile` takes (YAML parse,
 * then validation) and through `loadConfigObject`. Properties: the loader either resolves or
 * rejects with a `ConfigError` (never a TypeError, RangeError or stack overflow), never hangs
 * (each case well under a second), and never echoes a secret (a password or token put where a
 * bcrypt hash or digest belongs, an inline private key) into an error or warning.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { allowPropertyTime } from '../helpers/property-runs.js';
import { loadConfigObject } from '../../src/config/load.js';
import { parseYaml } from '../../src/config/locate.js';
import { validateConfig } from '../../src/config/validate.js';
import { ConfigError } from '../../src/errors.js';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import { FUZZ_TIMEOUT_MS, fuzzParameters } from './runs.js';

allowPropertyTime();

/** Secrets the generators put only where secrets go; none may come back in a message. */
const SECRETS = ['S3CR3T-password-9f8e7d', 'S3CR3T-token-4d5e6f', 'S3CR3T-inline-key-1a2b3c'];

let dir: string;
let pki: TestPki;
beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-fuzz-config-'));
  writeFileSync(join(dir, 'garbage.pem'), 'not a pem\n');
});

/** Loads YAML text the way loadConfigFile does, without the file read. */
function loadText(text: string): Promise<ResolvedConfig> {
  const parsed = parseYaml(text);
  return validateConfig(parsed.value, {
    file: join(dir, 'web-config.yml'),
    fileMode: 0o600,
    baseDir: dir,
    syntaxIssues: parsed.errors,
    locate: parsed.locate,
    scalarText: parsed.scalarText,
  });
}

/** Runs one load: resolves or ConfigError, in bounded time, without echoing a secret. */
async function expectContained(load: () => Promise<ResolvedConfig>): Promise<void> {
  const started = performance.now();
  let messages: string[];
  try {
    const config = await load();
    messages = config.warnings;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new Error(`loader threw ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`, { cause: error });
    messages = [error.message, ...error.issues.map((i) => i.message)];
  }
  const ms = performance.now() - started;
  expect(ms, 'one load took too long (hang?)').toBeLessThan(2000);
  for (const m of messages) for (const s of SECRETS) expect(m.includes(s), `secret echoed: ${m}`).toBe(false);
}

const KEYS = [
  'tls_server_config',
  'http_server_config',
  'basic_auth_users',
  'rate_limit',
  'limits',
  'bearer_auth',
  'jwt_auth',
  'client_cert_auth',
  'access_rules',
  'auth_excluded_paths',
  'audit_log',
  'redaction',
  'cert_file',
  'key_file',
  'cert',
  'key',
  'client_ca_file',
  'client_ca',
  'client_auth_type',
  'min_version',
  'max_version',
  'cipher_suites',
  'curve_preferences',
  'prefer_server_cipher_suites',
  'client_allowed_sans',
  'http2',
  'headers',
  'interval',
  'burst',
  'max_connections',
  'read_header_timeout',
  'request_timeout',
  'idle_timeout',
  'max_header_bytes',
  'tokens',
  'name',
  'token_sha256',
  'token_file',
  'groups',
  'expires_at',
  'jwks_file',
  'jwks_url',
  'issuer',
  'audience',
  'path',
  'rules',
  'principals',
  'allow',
  'deny',
  'labels',
  'force',
  'per_client_rate_limit',
  'auth_failure_backoff',
  'threshold',
  'base_delay',
  'format',
];
const SCALARS = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    '10s',
    '-1s',
    '0',
    '1ns',
    '999999h',
    '1e9',
    '.inf',
    'RequireAndVerifyClientCert',
    'TLS13',
    'TLS10',
    'X25519',
    'garbage.pem',
    '/dev/null',
    '/nonexistent/x',
    '.',
    '',
    '$2b$04$abcdefghijklmnopqrstuv',
    'yes',
    'on',
    '~',
  ),
);
const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    SCALARS,
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 12 })), tie('tree'), { maxKeys: 5 }),
  ),
}));
const document = fc.dictionary(fc.constantFrom(...KEYS), tree, { maxKeys: 6 });

/** A valid configuration with secrets in their places, to mutate. */
function validConfig(): Record<string, unknown> {
  return {
    tls_server_config: {
      cert_file: pki.server.certFile,
      key_file: pki.server.keyFile,
      client_auth_type: 'RequireAndVerifyClientCert',
      client_ca_file: pki.ca.certFile,
    },
    http_server_config: { http2: true, headers: { 'X-Frame-Options': 'deny' } },
    basic_auth_users: { prometheus: '$2b$04$0123456789012345678901uY5hC3zZ0Kq8jz6l6O2yT3vGq2kW1yC' },
    bearer_auth: { tokens: [{ name: 'p', token_sha256: 'a'.repeat(64), groups: ['ops'] }] },
    limits: { max_connections: 10, read_header_timeout: '5s', auth_failure_backoff: { threshold: 3 } },
    rate_limit: { interval: '1s', burst: 5 },
  };
}
/** Where secrets may be written by mistake: values the loader must never echo. */
const secretPlacement = fc.constantFrom<[string[], string]>(
  [['basic_auth_users', 'prometheus'], SECRETS[0]!],
  [['basic_auth_users', 'other'], SECRETS[0]!],
  [['bearer_auth', 'tokens', '0', 'token_sha256'], SECRETS[1]!],
  [['tls_server_config', 'key'], `-----BEGIN PRIVATE KEY-----\n${SECRETS[2]}\n-----END PRIVATE KEY-----\n`],
  [['tls_server_config', 'key'], SECRETS[2]!],
);
const mutation = fc.oneof(
  fc.record({ op: fc.constant('set' as const), path: fc.array(fc.constantFrom(...KEYS, '0', '1'), { minLength: 1, maxLength: 4 }), value: tree }),
  fc.record({ op: fc.constant('delete' as const), path: fc.array(fc.constantFrom(...KEYS, '0'), { minLength: 1, maxLength: 3 }) }),
);

function setAt(root: Record<string, unknown>, path: readonly string[], value: unknown, remove = false): void {
  let node: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    if (typeof node !== 'object' || node === null) return;
    const next = (node as Record<string, unknown>)[path[i]!];
    if (typeof next !== 'object' || next === null) {
      if (remove) return;
      (node as Record<string, unknown>)[path[i]!] = {};
    }
    node = (node as Record<string, unknown>)[path[i]!];
  }
  if (typeof node !== 'object' || node === null) return;
  if (remove) delete (node as Record<string, unknown>)[path.at(-1)!];
  else (node as Record<string, unknown>)[path.at(-1)!] = value;
}

describe('config loader fuzzing', () => {
  it(
    'random documents (as objects and as YAML text): resolve or ConfigError, bounded time',
    async () => {
      await fc.assert(
        fc.asyncProperty(document, async (doc) => {
          await expectContained(() => loadConfigObject(doc, { baseDir: dir }));
          await expectContained(() => loadText(stringify(doc)));
        }),
        fuzzParameters(0.5),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'random YAML token soup: resolve or ConfigError, bounded time',
    async () => {
      const token = fc.oneof(
        fc.constantFrom(
          ...KEYS.map((k) => `${k}:`),
          '\n',
          '\n  ',
          '\n    ',
          '- ',
          ': ',
          '{',
          '}',
          '[',
          ']',
          ',',
          '&a ',
          '*a',
          '<<: *a',
          '!!binary ',
          '!!str ',
          '|\n  ',
          '>-\n  ',
          '? ',
          '#',
          '"',
          "'",
          '---\n',
          '...\n',
          '%YAML 1.1\n',
          '\t',
          '\uFEFF',
          '\u0000',
        ),
        fc.string({ maxLength: 8 }),
        SCALARS.map((s) => String(s)),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(token, { maxLength: 40 }), async (tokens) => {
          await expectContained(() => loadText(tokens.join('')));
        }),
        fuzzParameters(),
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'mutations of a valid config with secrets in their places: resolve or ConfigError, no secret echoed',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(secretPlacement, { maxLength: 3 }),
          fc.array(mutation, { maxLength: 4 }),
          fc.boolean(),
          async (secrets, mutations, asText) => {
            const config = validConfig();
            for (const [path, secret] of secrets) setAt(config, path, secret);
            for (const m of mutations) {
              // Mutations never write into a secret's own slot (they may delete it or its parent).
              if (m.op === 'set') setAt(config, m.path, m.value);
              else setAt(config, m.path, undefined, true);
            }
            for (const [path, secret] of secrets) {
              // A mutation that moved a secret into a key position would make echoing it legitimate.
              void path;
              if (JSON.stringify(Object.keys(config)).includes(secret)) return;
            }
            await expectContained(() => (asText ? loadText(stringify(config)) : loadConfigObject(config, { baseDir: dir })));
          },
        ),
        fuzzParameters(0.5),
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});

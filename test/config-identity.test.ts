/**
 * The identity sections of the config: `bearer_auth`, `jwt_auth`, `client_cert_auth`,
 * `auth_excluded_paths`, `access_rules`, `audit_log` and `limits.auth_failure_backoff`. Each bad
 * value is refused with the file, line and key path; files the sections read are listed in
 * `dependsOn` (so the watcher reloads them); no message ever echoes a token or secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import type { ConfigIssue } from '../src/errors.js';
import { issuesOf } from './helpers/config-issues.js';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
let dir: string;
let counter = 0;
let jwksFile: string;
const token = randomBytes(32).toString('base64url');
const digest = createHash('sha256').update(token).digest('hex');

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-config-identity-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  jwksFile = put('jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'a', alg: 'ES256' }] }));
  put('private-jwks.json', JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'a' }] }));
});

function put(name: string, contents: string): string {
  const path = join(dir, name);
  writeFileSync(path, contents, { mode: 0o600 });
  return path;
}

function write(lines: readonly string[]): string {
  return put(`web-config-${++counter}.yml`, lines.join('\n') + '\n');
}

/** Loads `lines` as a file and expects one issue at `path` on `line` whose message has each of `parts`. */
async function refused(lines: readonly string[], path: string, line: number, ...parts: string[]): Promise<ConfigIssue> {
  const issues = await issuesOf(loadConfigFile(write(lines)));
  const found = issues.filter((i) => i.path === path);
  expect(found, JSON.stringify(issues, null, 1)).toHaveLength(1);
  expect(found[0]!.line).toBe(line);
  for (const p of parts) expect(found[0]!.message).toContain(p);
  return found[0]!;
}

describe('bearer_auth', () => {
  it('loads digests, token files (hashed) and the revocation file; files land in dependsOn', async () => {
    const tokenFile = put('t.token', `${token}\n`);
    const revoked = put('revoked', `# comment\n\n${'A'.repeat(64)}\n${digest}  # leaked 2026-11-01\n`);
    const file = write([
      'bearer_auth:',
      '  tokens:',
      `    - name: a`,
      `      token_sha256: ${'b'.repeat(64)}`,
      '      groups: [ops]',
      '      expires_at: 2999-01-01T00:00:00Z',
      `    - name: k8s`,
      `      token_file: t.token`,
      `  revoked_sha256_file: revoked`,
    ]);
    const config = await loadConfigFile(file);
    expect(config.bearerAuth).toEqual({
      tokens: [
        { name: 'a', sha256: 'b'.repeat(64), groups: ['ops'], expiresAt: Date.parse('2999-01-01T00:00:00Z') },
        { name: 'k8s', sha256: digest, groups: [] },
      ],
      revoked: ['a'.repeat(64), digest].sort(),
    });
    expect(config.dependsOn).toEqual([file, tokenFile, revoked]);
  });

  it('a token pasted where the digest goes is refused without echoing it', async () => {
    const issue = await refused(
      ['bearer_auth:', '  tokens:', '    - name: a', `      token_sha256: ${token}`],
      'bearer_auth.tokens[0].token_sha256',
      4,
      '64 hex digits',
      'not shown',
    );
    expect(issue.message).not.toContain(token);
  });

  it.each<[string[], string, number, ...string[]]>([
    [['    - token_sha256: ' + 'a'.repeat(64)], 'bearer_auth.tokens[0].name', 3, 'missing name'],
    [['    - name: a'], 'bearer_auth.tokens[0]', 3, 'missing token_sha256 or token_file'],
    [['    - name: a', `      token_sha256: ${'a'.repeat(64)}`, '      token_file: x'], 'bearer_auth.tokens[0]', 3, 'not both'],
    [['    - name: a', `      token_sha256: ${'a'.repeat(64)}`, '      expires_at: tomorrow'], 'bearer_auth.tokens[0].expires_at', 5, 'RFC 3339'],
    [['    - name: a', `      token_sha256: ${'a'.repeat(64)}`, '      expires_at: 2027-01-01T00:00:00'], 'bearer_auth.tokens[0].expires_at', 5, 'with a zone'],
    [['    - name: a', `      token_sha256: ${'a'.repeat(64)}`, '      group: [x]'], 'bearer_auth.tokens[0].group', 5, 'did you mean "groups"'],
    [['    - name: a', '      token_file: missing.token'], 'bearer_auth.tokens[0].token_file', 4, 'cannot read token_file', 'ENOENT'],
  ])('refuses %j', async (entry, path, line, ...parts) => {
    await refused(['bearer_auth:', '  tokens:', ...entry], path, line, ...parts);
  });

  it('refuses duplicate names and duplicate tokens', async () => {
    const issues = await issuesOf(
      loadConfigObject({
        bearer_auth: {
          tokens: [
            { name: 'a', token_sha256: 'a'.repeat(64) },
            { name: 'a', token_sha256: 'b'.repeat(64) },
            { name: 'c', token_sha256: 'A'.repeat(64) },
          ],
        },
      }),
    );
    expect(issues.map((i) => i.path)).toEqual(['bearer_auth.tokens[1].name', 'bearer_auth.tokens[2]']);
  });

  it('a bad line in the revocation file names the file and line, not the value', async () => {
    const revoked = put('revoked-bad', `${digest}\n${token}\n`);
    const issue = await refused(
      ['bearer_auth:', '  tokens:', `    - {name: a, token_sha256: ${digest}}`, `  revoked_sha256_file: ${revoked}`],
      'bearer_auth.revoked_sha256_file',
      4,
      'line 2',
    );
    expect(issue.message).not.toContain(token);
  });

  it('an empty token file and whitespace inside a token are refused; a short one warns', async () => {
    put('empty.token', '\n');
    put('space.token', 'two words\n');
    put('short.token', 'abc\n');
    await refused(['bearer_auth:', '  tokens:', '    - {name: a, token_file: empty.token}'], 'bearer_auth.tokens[0].token_file', 3, 'is empty');
    await refused(['bearer_auth:', '  tokens:', '    - {name: a, token_file: space.token}'], 'bearer_auth.tokens[0].token_file', 3, 'whitespace');
    const config = await loadConfigFile(write(['bearer_auth:', '  tokens:', '    - {name: a, token_file: short.token}']));
    expect(config.warnings.join('\n')).toContain('only 3 characters');
    expect(config.warnings.join('\n')).toContain('TLS is off');
  });

  it('an empty token list is an error, an expired token a warning', async () => {
    await refused(['bearer_auth:', '  tokens: []'], 'bearer_auth.tokens', 2, 'at least one token');
    const config = await loadConfigObject({ bearer_auth: { tokens: [{ name: 'old', token_sha256: digest, expires_at: '2020-01-01' }] } });
    expect(config.warnings.join('\n')).toContain('token "old" expired');
  });
});

describe('jwt_auth', () => {
  it('resolves defaults; the key file is in dependsOn', async () => {
    const file = write(['jwt_auth:', `  jwks_file: ${jwksFile}`, '  issuer: https://idp', '  audience: [metrics, prom]']);
    const config = await loadConfigFile(file);
    expect(config.jwtAuth).toMatchObject({
      jwks: { kind: 'file' },
      issuer: ['https://idp'],
      audience: ['metrics', 'prom'],
      algorithms: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
      requiredScopes: [],
      principalClaim: 'sub',
      clockToleranceSec: 30,
      jwksCooldownMs: 30_000,
      jwksTimeoutMs: 5_000,
    });
    expect(config.dependsOn).toContain(jwksFile);
  });

  it.each<[string[], string, number, ...string[]]>([
    [['  jwks_file: x.json', '  jwks_url: https://idp/jwks'], 'jwt_auth', 1, 'not both'],
    [['  issuer: x'], 'jwt_auth', 1, 'no keys'],
    [['  jwks_url: http://idp.example/jwks'], 'jwt_auth.jwks_url', 2, 'https://', 'loopback'],
    [['  jwks_url: ftp://idp/jwks'], 'jwt_auth.jwks_url', 2, 'https://'],
    [[`  jwks_file: jwks.json`, '  algorithms: [none]'], 'jwt_auth.algorithms[0]', 3, 'never accepted'],
    [[`  jwks_file: jwks.json`, '  algorithms: [ES256, HS256]'], 'jwt_auth.algorithms[1]', 3, 'needs secret_file'],
    [[`  jwks_file: jwks.json`, '  algorithms: [XS256]'], 'jwt_auth.algorithms[0]', 3, 'unknown algorithm'],
    [['  jwks_file: jwks.json', '  clock_tolerance: 1h'], 'jwt_auth.clock_tolerance', 3, 'from 0s to 600s'],
    [['  jwks_file: jwks.json', '  jwks_cooldown: 10ms'], 'jwt_auth.jwks_cooldown', 3, 'from 1s'],
    [['  jwks_file: jwks.json', '  required_scopes: ["a b"]'], 'jwt_auth.required_scopes[0]', 3, 'one non-empty word'],
    [['  jwks_file: jwks.json', '  audiance: x'], 'jwt_auth.audiance', 3, 'did you mean "audience"'],
    [['  jwks_file: private-jwks.json'], 'jwt_auth.jwks_file', 2, 'private key material'],
  ])('refuses %j', async (body, path, line, ...parts) => {
    await refused(['jwt_auth:', ...body], path, line, ...parts);
  });

  it('http:// is allowed for loopback only', async () => {
    const config = await loadConfigObject({ jwt_auth: { jwks_url: 'http://127.0.0.1:8080/jwks', issuer: 'i', audience: 'a' } });
    expect(config.jwtAuth?.jwks).toEqual({ kind: 'url', url: 'http://127.0.0.1:8080/jwks' });
    expect(config.dependsOn).toEqual([]);
  });

  it('a JWKS file that is not JSON or not a key set is refused', async () => {
    put('not.json', 'keys: nope');
    put('empty.json', '{"keys": []}');
    await refused(['jwt_auth:', '  jwks_file: not.json'], 'jwt_auth.jwks_file', 2, 'not JSON');
    await refused(['jwt_auth:', '  jwks_file: empty.json'], 'jwt_auth.jwks_file', 2, 'not a JWK Set');
  });

  it('HS*: secret_file needs HS algorithms and enough bytes; the secret never serializes', async () => {
    const short = randomBytes(8).toString('hex');
    put('short.secret', short);
    const long = randomBytes(32).toString('hex');
    const longFile = put('long.secret', `${long}\n`);
    await refused(['jwt_auth:', '  secret_file: long.secret'], 'jwt_auth.secret_file', 2, 'lists no HS256');
    const issue = await refused(
      ['jwt_auth:', '  secret_file: short.secret', '  algorithms: [HS256]'],
      'jwt_auth.secret_file',
      2,
      'holds 16 bytes',
      'at least 32',
    );
    expect(issue.message).not.toContain(short);
    const config = await loadConfigObject({ jwt_auth: { secret_file: longFile, algorithms: ['HS256'], issuer: 'i', audience: 'a' } });
    expect(Buffer.from(config.jwtAuth!.secret!).toString()).toBe(long);
    expect(JSON.stringify(config)).not.toContain(long);
    expect(config.dependsOn).toEqual([longFile]);
    // An RS algorithm without a key set is refused when only a secret is configured.
    await refused(['jwt_auth:', '  secret_file: long.secret', '  algorithms: [HS256, RS256]'], 'jwt_auth.algorithms', 3, 'need a public key');
  });

  it('warns without audience or issuer', async () => {
    const config = await loadConfigObject({ jwt_auth: { jwks_file: jwksFile } });
    expect(config.warnings.join('\n')).toMatch(/no audience.*\n.*no issuer|no issuer[\s\S]*no audience|no audience[\s\S]*no issuer/);
  });
});

describe('client_cert_auth', () => {
  const tls = () => [`tls_server_config:`, `  cert_file: ${pki.server.certFile}`, `  key_file: ${pki.server.keyFile}`, `  client_ca_file: ${pki.ca.certFile}`];

  it('loads with a verifying client_auth_type', async () => {
    const config = await loadConfigFile(
      write([
        ...tls(),
        '  client_auth_type: RequireAndVerifyClientCert',
        'client_cert_auth:',
        '  principal_from: san_uri',
        '  groups_from:',
        '    san_map:',
        '      "spiffe://x/sa/p": [ops]',
      ]),
    );
    expect(config.clientCertAuth).toEqual({ principalFrom: 'san_uri', groupsFrom: { kind: 'san_map', map: { 'spiffe://x/sa/p': ['ops'] } } });
  });

  it('refuses a client_auth_type that does not verify, and TLS off', async () => {
    await refused(
      [...tls(), '  client_auth_type: RequireAnyClientCert', 'client_cert_auth:', '  principal_from: cn'],
      'client_cert_auth',
      6,
      'VerifyClientCertIfGiven',
      'RequireAnyClientCert',
    );
    await refused(['client_cert_auth:', '  principal_from: cn'], 'client_cert_auth', 1, 'no TLS');
  });

  it.each<[string[], string, number, ...string[]]>([
    [['  principal_from: subject'], 'client_cert_auth.principal_from', 7, 'unknown source'],
    [['  groups_from: ou'], 'client_cert_auth.principal_from', 6, 'missing principal_from'],
    [['  principal_from: cn', '  groups_from: o'], 'client_cert_auth.groups_from', 8, 'expected "ou"'],
    [['  principal_from: cn', '  groups_from: {san_map: {a: b}}'], 'client_cert_auth.groups_from.san_map.a', 8, 'expected a list'],
  ])('refuses %j', async (body, path, line, ...parts) => {
    await refused([...tls(), '  client_auth_type: VerifyClientCertIfGiven', 'client_cert_auth:', ...body], path, line, ...parts);
  });
});

describe('auth_excluded_paths', () => {
  it('accepts paths and a forced telemetry path', async () => {
    const config = await loadConfigObject({ auth_excluded_paths: ['/healthz', { path: '/metrics', force: true }] });
    expect(config.authExcludedPaths).toEqual([
      { path: '/healthz', force: false },
      { path: '/metrics', force: true },
    ]);
  });

  it.each<[string[], string, number, ...string[]]>([
    [['  - /metrics'], 'auth_excluded_paths[0]', 2, 'telemetry path', 'force: true'],
    [['  - healthz'], 'auth_excluded_paths[0]', 2, 'absolute path'],
    [['  - /healthz?x=1'], 'auth_excluded_paths[0]', 2, 'without query'],
    [['  - {path: /metrics, force: yes please}'], 'auth_excluded_paths[0].force', 2, 'boolean'],
  ])('refuses %j', async (body, path, line, ...parts) => {
    await refused(['auth_excluded_paths:', ...body], path, line, ...parts);
  });
});

describe('access_rules', () => {
  it('resolves rules, default and on_empty', async () => {
    const config = await loadConfigObject({
      access_rules: {
        default: 'allow',
        on_empty: 'forbid',
        rules: [{ groups: ['ops'], allow_metrics: ['node_.*'], enforce_labels: { tenant: 'a', ns: { regex: 'a-.*' } } }],
      },
    });
    expect(config.accessRules).toEqual({
      default: 'allow',
      onEmpty: 'forbid',
      rules: [
        {
          principals: [],
          groups: ['ops'],
          allowMetrics: ['node_.*'],
          denyMetrics: [],
          enforceLabels: [
            { name: 'tenant', value: 'a' },
            { name: 'ns', regex: 'a-.*' },
          ],
        },
      ],
    });
  });

  it.each<[string[], string, number, ...string[]]>([
    [['  rules:', '    - groups: [ops]', '      allow_metrics: ["node_(.*"]'], 'access_rules.rules[0].allow_metrics[0]', 4, 'invalid regular expression'],
    [['  rules:', '    - groups: [ops]', '      deny_metrics: ["[z-a]"]'], 'access_rules.rules[0].deny_metrics[0]', 4, 'invalid regular expression'],
    [['  rules:', '    - allow_metrics: [".*"]'], 'access_rules.rules[0]', 3, 'needs principals or groups'],
    [['  rules:', '    - groups: [ops]', '      enforce_labels: {"": x}'], 'access_rules.rules[0].enforce_labels[""]', 4, 'invalid label name'],
    [
      ['  rules:', '    - groups: [ops]', '      enforce_labels: {t: {regex: "("}}'],
      'access_rules.rules[0].enforce_labels.t.regex',
      4,
      'invalid regular expression',
    ],
    [['  rules:', '    - groups: [ops]', '      allow: [x]'], 'access_rules.rules[0].allow', 4, 'unknown key'],
    [['  default: maybe'], 'access_rules.default', 2, 'deny, allow'],
    [['  on_empty: 404'], 'access_rules.on_empty', 2, 'ok, forbid'],
  ])('refuses %j', async (body, path, line, ...parts) => {
    await refused(['access_rules:', ...body], path, line, ...parts);
  });

  it('warns when no authentication method is configured, or when every caller is refused', async () => {
    const config = await loadConfigObject({ access_rules: { rules: [] } });
    expect(config.warnings.join('\n')).toContain('no authentication method');
    expect(config.warnings.join('\n')).toContain('every caller is refused');
  });
});

describe('audit_log and auth_failure_backoff', () => {
  it('audit_log: a file (resolved), stdout, or an error', async () => {
    const file = write(['audit_log:', '  path: audit.log', '  max_size_bytes: 1048576', '  keep: 3']);
    expect((await loadConfigFile(file)).auditLog).toEqual({ kind: 'file', path: join(dir, 'audit.log'), maxSizeBytes: 1048576, keep: 3 });
    expect((await loadConfigObject({ audit_log: { stdout: true } })).auditLog).toEqual({ kind: 'stdout' });
    await refused(['audit_log:', '  path: a.log', '  stdout: true'], 'audit_log', 1, 'not both');
    await refused(['audit_log:', '  keep: 2'], 'audit_log', 1, 'set path');
    await refused(['audit_log:', '  path: /nonexistent-dir/audit.log'], 'audit_log.path', 2, 'ENOENT');
    await refused(['audit_log:', '  path: a.log', '  max_size_bytes: 100'], 'audit_log.max_size_bytes', 3, 'at least 4096');
  });

  it('auth_failure_backoff: off by default, defaults when present, bounds checked', async () => {
    expect((await loadConfigObject({})).limits.authFailureBackoff).toBeUndefined();
    expect((await loadConfigObject({ limits: { auth_failure_backoff: {} } })).limits.authFailureBackoff).toEqual({
      threshold: 5,
      baseDelayMs: 1000,
      maxDelayMs: 300_000,
      forgetAfterMs: 900_000,
      maxClients: 10_000,
    });
    expect((await loadConfigObject({ limits: { auth_failure_backoff: { threshold: 0 } } })).limits.authFailureBackoff).toBeUndefined();
    await refused(
      ['limits:', '  auth_failure_backoff:', '    base_delay: 1m', '    max_delay: 10s'],
      'limits.auth_failure_backoff.base_delay',
      3,
      'must not exceed',
    );
    await refused(
      ['limits:', '  auth_failure_backoff:', '    max_delay: 1h', '    forget_after: 10m'],
      'limits.auth_failure_backoff.forget_after',
      4,
      'at least max_delay',
    );
    await refused(['limits:', '  auth_failure_backoff:', '    threshhold: 3'], 'limits.auth_failure_backoff.threshhold', 3, 'did you mean "threshold"');
  });
});

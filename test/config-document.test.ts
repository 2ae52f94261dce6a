/**
 * The config loader refuses a document it cannot read as a web-config (junk, lists, unknown keys,
 * YAML syntax errors, duplicate keys, wrong types, several documents) with the path, line and a
 * suggestion, collecting every problem at once; in-code objects get the same checks by key path.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { ConfigError, ScrapeguardError } from '../src/errors.js';
import { issuesOf } from './helpers/config-issues.js';
import { dir, hashA, issueAt, pki, refusedFile, useConfigFiles, write } from './helpers/config-files.js';

useConfigFiles();

describe('refused: document and syntax', () => {
  it('junk text (toolkit junk.yml) is not a mapping', async () => {
    const issue = await refusedFile(['hWkNKCp3fvIx3jKnsaBI', 'TuEjdwNS8A2vYdFbiKqr'], '', 1, 'must be a mapping', 'got a string');
    expect(issue.message).not.toContain('hWkNKCp3');
  });

  it('a list at the top level', async () => {
    await refusedFile(['- tls_server_config'], '', 1, 'must be a mapping', 'got a list');
  });

  it('an unknown key names its path and line, with a suggestion (toolkit junk_key.yml)', async () => {
    await refusedFile(
      ['tls_server_config:', '  cert_filse: "server.crt"'],
      'tls_server_config.cert_filse',
      2,
      'unknown key "cert_filse"',
      'did you mean "cert_file"?',
    );
  });

  it('unknown keys at every level', async () => {
    const file = write([
      'tls_server_cnofig: {}',
      'http_server_config:',
      '  http3: true',
      'rate_limit:',
      '  intervall: 1s',
      'limits:',
      '  max_connection: 3',
      '  per_client_rate_limit:',
      '    brust: 3',
    ]);
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['tls_server_cnofig', 1],
      ['http_server_config.http3', 3],
      ['rate_limit.intervall', 5],
      ['limits.max_connection', 7],
      ['limits.per_client_rate_limit.brust', 9],
    ]);
    expect(issues[1]!.message).toContain('unknown key "http3"');
  });

  it('a YAML syntax error carries its line', async () => {
    const file = write(['tls_server_config:', '  cert_file: "a"', ' key_file: "b"']);
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues.length).toBeGreaterThan(0);
    expect(issues[0]!.line).toBe(3);
    expect(issues[0]!.file).toBe(file);
  });

  it('a duplicate key is an error at the second occurrence', async () => {
    const file = write(['http_server_config:', '  http2: false', '  http2: true']);
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 3, message: expect.stringContaining('unique') });
  });

  it('wrong types name the path and both types', async () => {
    const file = write([
      'tls_server_config:',
      `  cert_file: ${pki.server.certFile}`,
      `  key_file: ${pki.server.keyFile}`,
      '  cipher_suites: TLS_AES_128_GCM_SHA256',
      '  curve_preferences: [X25519, [CurveP256]]',
      'http_server_config:',
      '  http2: "true"',
      '  headers: [X-Frame-Options]',
      'basic_auth_users: [alice]',
      'rate_limit:',
      '  burst: "5"',
      'limits:',
      '  max_header_bytes: 1.5',
    ]);
    const issues = await issuesOf(loadConfigFile(file));
    issueAt(issues, 'tls_server_config.cipher_suites', 'expected a list, got a string');
    expect(issueAt(issues, 'tls_server_config.curve_preferences[1]', 'expected a string, got a list').line).toBe(5);
    expect(issueAt(issues, 'http_server_config.http2', 'expected a boolean', 'got a string').line).toBe(7);
    issueAt(issues, 'http_server_config.headers', 'expected a mapping, got a list');
    issueAt(issues, 'basic_auth_users', 'expected a mapping, got a list');
    issueAt(issues, 'rate_limit.burst', 'expected an integer, got a string');
    expect(issueAt(issues, 'limits.max_header_bytes', 'expected an integer, got 1.5').line).toBe(13);
    expect(issues.map((i) => i.line)).toEqual([...issues.map((i) => i.line)].sort((a, b) => a! - b!));
  });

  it('collects every problem at once, in file order, and formats them in the error message', async () => {
    const file = write(['tls_server_config:', '  cert_file: ""', '  key_file: ""', '  client_auth_type: "x"', 'basic_auth_users:', '  john: doe']);
    const err = await loadConfigFile(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['tls_server_config.cert_file', 2],
      ['tls_server_config.key_file', 3],
      ['tls_server_config.client_auth_type', 4],
      ['basic_auth_users.john', 6],
    ]);
    expect(issues[0]!.message).toContain('missing one of cert or cert_file');
    expect(issues[1]!.message).toContain('missing one of key or key_file');
    expect(issues[2]!.message).toContain('invalid ClientAuth: "x"');
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    expect((err as ConfigError).message).toContain(`${file}:4:3: tls_server_config.client_auth_type: invalid ClientAuth`);
  });

  it('more than one YAML document', async () => {
    await refusedFile(['http_server_config: {}', '---', 'rate_limit: {}'], '', 2, 'more than one YAML document');
  });

  it('an alias that contains itself', async () => {
    await refusedFile(['http_server_config: {}', 'limits: &a', '  x: *a'], '', 3, 'alias *a refers to a node that contains it');
  });

  it('an unreadable config file is a CONFIG_READ error', async () => {
    const err = await loadConfigFile(join(dir, 'missing.yml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScrapeguardError);
    expect(err).not.toBeInstanceOf(ConfigError);
    expect((err as ScrapeguardError).code).toBe('CONFIG_READ');
    expect((err as Error).message).toContain('ENOENT');
  });
});

describe('in-code objects', () => {
  it('inline PEM object works and files are resolved against baseDir', async () => {
    const inline = await loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem } });
    expect(inline.file).toBeUndefined();
    expect(inline.dependsOn).toEqual([]);
    expect(inline.tls?.certificate.subjectAltNames).toContain('DNS:localhost');
    const relative = await loadConfigObject({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' } }, { baseDir: pki.dir });
    expect(relative.dependsOn).toEqual([pki.server.certFile, pki.server.keyFile]);
  });

  it('undefined and null mean empty; a non-mapping is refused', async () => {
    expect((await loadConfigObject(undefined)).tls).toBeUndefined();
    expect((await loadConfigObject(null)).basicAuthUsers.size).toBe(0);
    const issues = await issuesOf(loadConfigObject('tls_server_config: {}'));
    issueAt(issues, '', 'must be a mapping', 'got a string');
    const map = await issuesOf(loadConfigObject({ basic_auth_users: new Map([['a', hashA]]) }));
    issueAt(map, 'basic_auth_users', 'expected a mapping, got a Map');
  });

  it('issues carry paths but no file or line, for the same checks as files', async () => {
    const issues = await issuesOf(
      loadConfigObject({
        tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, client_auth_type: 'Bogus', cert_filse: 'x' },
        http_server_config: { headers: { 'X-Frame-Options': 'allow' } },
        rate_limit: { interval: '1s', burst: 0 },
      }),
    );
    expect(issues.map((i) => i.path)).toEqual([
      'tls_server_config.cert_filse',
      'tls_server_config.client_auth_type',
      'http_server_config.headers.X-Frame-Options',
      'rate_limit.burst',
    ]);
    for (const issue of issues) {
      expect(issue.file).toBeUndefined();
      expect(issue.line).toBeUndefined();
    }
  });

  it('does not mutate the input', async () => {
    const input = { tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] } };
    const copy = structuredClone(input);
    const config = await loadConfigObject(input);
    config.tls!.cipherSuites.push('x');
    expect(input).toEqual(copy);
  });

  it('refuses bad options with a TypeError', async () => {
    await expect(loadConfigObject({}, { baseDir: 42 as unknown as string })).rejects.toBeInstanceOf(TypeError);
  });
});

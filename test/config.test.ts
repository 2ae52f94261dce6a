/**
 * The config loader against a matrix that mirrors exporter-toolkit's web/testdata (good and bad
 * web-config kinds), plus what scrapeguard refuses beyond the toolkit. File-based cases assert the
 * message and the line of the offending key; object cases assert the key path.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashSync } from '@node-rs/bcrypt';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject, parseGoDuration } from '../src/config/load.js';
import { ConfigError, ScrapeguardError, type ConfigIssue } from '../src/errors.js';
import { issuesOf } from './helpers/config-issues.js';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
let dir: string;
let hashA: string;
let hashB: string;
let counter = 0;

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-config-'));
  hashA = hashSync('alice-password', { cost: 4 });
  hashB = hashSync('bob-password', { cost: 4, version: '2y' });
});

/** Writes a config (one array element per line, so line numbers read off the index) and returns its path. */
function write(lines: readonly string[], where = dir): string {
  const file = join(where, `web-config-${++counter}.yml`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** YAML lines for a PEM block scalar under `key` at two-space indent. */
function pemLines(key: string, pem: string): string[] {
  return [`  ${key}: |`, ...pem.trim().split('\n').map((l) => `    ${l}`)];
}

/** Expects exactly one issue at `path`, whose message contains each of `parts`; returns it. */
function issueAt(issues: readonly ConfigIssue[], path: string, ...parts: string[]): ConfigIssue {
  const found = issues.filter((i) => i.path === path);
  expect(found, `issues at ${path} in ${JSON.stringify(issues, null, 1)}`).toHaveLength(1);
  const issue = found[0]!;
  for (const part of parts) expect(issue.message).toContain(part);
  return issue;
}

async function refusedFile(lines: readonly string[], path: string, line: number, ...parts: string[]): Promise<ConfigIssue> {
  const file = write(lines);
  const issue = issueAt(await issuesOf(loadConfigFile(file)), path, ...parts);
  expect(issue.file).toBe(file);
  expect(issue.line).toBe(line);
  expect(issue.column).toBeGreaterThan(0);
  return issue;
}

const tlsFiles = (): string[] => ['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${pki.server.keyFile}`];

describe('parseGoDuration', () => {
  it.each([
    ['0', 0],
    ['-0', 0],
    ['1s', 1000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1000],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['1h2m3s4ms', 3_723_004],
    ['-1.5s', -1500],
    ['+2s', 2000],
    ['100ns', 0.0001],
  ])('parses %j', (input, ms) => {
    expect(parseGoDuration(input)).toBeCloseTo(ms, 9);
  });

  it.each(['', '1', '30', 's', '.s', '1x', '1 s', ' 1s', '1s ', '1.2.3s', '--1s', '1e9', '9999999999999999999h'])(
    'refuses %j',
    (input) => {
      expect(parseGoDuration(input)).toBeUndefined();
    },
  );

  it('reads a bare integer as nanoseconds, like yaml.v2', () => {
    expect(parseGoDuration(1_000_000_000)).toBe(1000);
    expect(parseGoDuration(0)).toBe(0);
    expect(parseGoDuration(1.5)).toBeUndefined();
    expect(parseGoDuration(Number.NaN)).toBeUndefined();
  });
});

describe('valid configurations', () => {
  it('an empty file means plain HTTP without auth, with every default', async () => {
    const file = write([]);
    const config = await loadConfigFile(file);
    expect(config).toEqual({
      file,
      dependsOn: [file],
      http: { http2: true, headers: {} },
      basicAuthUsers: new Map(),
      limits: {
        maxConnections: 512,
        maxConnectionsPerClient: 32,
        handshakeTimeoutMs: 5000,
        http2MaxConcurrentStreams: 100,
        http2MaxStreamsPerClient: 8,
        readHeaderTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
        idleTimeoutMs: 120_000,
        maxHeaderBytes: 16_384,
        maxConcurrentBcrypt: Math.max(1, availableParallelism() - 1),
      },
      redaction: { dropLabels: [], maskLabels: [], maskValue: '[REDACTED]', hashLabels: [], dropMetrics: [], redactHelp: [], detectSecrets: 'all' },
      warnings: [],
    });
  });

  it('a file of comments only, or an explicit empty document, is empty too', async () => {
    for (const lines of [['# nothing here'], ['---'], ['tls_server_config:', 'http_server_config:']]) {
      const config = await loadConfigFile(write(lines));
      expect(config.tls).toBeUndefined();
      expect(config.http.http2).toBe(true);
    }
  });

  it('TLS from files: reads the PEMs, applies the toolkit defaults, records the certificate facts', async () => {
    const file = write(tlsFiles());
    const config = await loadConfigFile(file);
    const tls = config.tls!;
    expect(tls.certPem).toBe(pki.server.certPem);
    expect(tls.keyPem).toBe(pki.server.keyPem);
    expect(tls).toMatchObject({
      clientAuth: 'NoClientCert',
      minVersion: 'TLS12',
      maxVersion: 'TLS13',
      preferServerCipherSuites: true,
      cipherSuites: [],
      curvePreferences: [],
    });
    expect(tls.clientCaPem).toBeUndefined();
    expect(tls.clientAllowedSans).toBeUndefined();
    const x509 = new X509Certificate(pki.server.certPem);
    expect(tls.certificate.subject).toContain('CN=localhost');
    expect(tls.certificate.issuer).toContain('CN=test CA');
    expect(tls.certificate.subjectAltNames).toEqual(expect.arrayContaining(['DNS:localhost', 'IP Address:127.0.0.1']));
    expect(tls.certificate.fingerprint256).toBe(x509.fingerprint256);
    expect(tls.certificate.notAfter.getTime()).toBe(new Date(x509.validTo).getTime());
    expect(tls.certificate.notBefore.getTime()).toBeLessThan(Date.now());
    expect(config.dependsOn).toEqual([file, pki.server.certFile, pki.server.keyFile]);
    expect(config.warnings).toEqual([]);
  });

  it('resolves relative paths against the directory of the config file', async () => {
    const file = write(['tls_server_config:', '  cert_file: "server-rsa.crt"', '  key_file: ./server-rsa.key'], pki.dir);
    const config = await loadConfigFile(file);
    expect(config.tls?.certPem).toBe(pki.serverRsa.certPem);
    expect(config.dependsOn).toEqual([file, pki.serverRsa.certFile, pki.serverRsa.keyFile]);
  });

  it('inline PEM in YAML block scalars', async () => {
    const config = await loadConfigFile(write(['tls_server_config:', ...pemLines('cert', pki.server.certPem), ...pemLines('key', pki.server.keyPem)]));
    expect(config.tls?.certificate.subject).toContain('CN=localhost');
    expect(config.tls?.keyPem.trim()).toBe(pki.server.keyPem.trim());
    expect(config.dependsOn).toHaveLength(1);
  });

  it('an inline key with a certificate file (toolkit requireanyclientcertkeyinline)', async () => {
    const config = await loadConfigFile(
      write(['tls_server_config:', `  cert_file: ${pki.serverRsa.certFile}`, ...pemLines('key', pki.serverRsa.keyPem), '  client_auth_type: "RequireAnyClientCert"']),
    );
    expect(config.tls?.clientAuth).toBe('RequireAnyClientCert');
  });

  it.each(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'] as const)('%s with a client CA file', async (type) => {
    const file = write([...tlsFiles(), `  client_auth_type: ${type}`, `  client_ca_file: ${pki.ca.certFile}`]);
    const config = await loadConfigFile(file);
    expect(config.tls?.clientAuth).toBe(type);
    expect(config.tls?.clientCaPem).toBe(pki.ca.certPem);
    expect(config.dependsOn).toContain(pki.ca.certFile);
    expect(config.warnings).toEqual([]);
  });

  it('a self-signed (non-CA) client certificate as the CA bundle is accepted, as in the toolkit', async () => {
    const config = await loadConfigFile(
      write([...tlsFiles(), '  client_auth_type: RequireAndVerifyClientCert', `  client_ca_file: ${pki.clientSelfSigned.certFile}`]),
    );
    expect(config.tls?.clientCaPem).toBe(pki.clientSelfSigned.certPem);
  });

  it('a CA bundle of several certificates, inline', async () => {
    const config = await loadConfigObject({
      tls_server_config: {
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        client_auth_type: 'RequireAndVerifyClientCert',
        client_ca: pki.ca.certPem + pki.otherCa.certPem,
      },
    });
    expect(config.tls?.clientCaPem).toContain(pki.otherCa.certPem.trim());
  });

  it.each([
    ['RequestClientCert', 'RequestClientCert', 'neither required nor verified'],
    ['RequireAnyClientCert', 'RequireAnyClientCert', 'any self-signed certificate'],
    ['RequireClientCert', 'RequireAnyClientCert', 'RequireClientCert (RequireAnyClientCert)'],
  ] as const)('%s is accepted (normalised to %s) with an insecurity warning', async (type, normalised, warning) => {
    const config = await loadConfigFile(write([...tlsFiles(), `  client_auth_type: "${type}"`]));
    expect(config.tls?.clientAuth).toBe(normalised);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain('insecure');
    expect(config.warnings[0]).toContain(warning);
  });

  it('explicit NoClientCert', async () => {
    const config = await loadConfigFile(write([...tlsFiles(), '  client_auth_type: NoClientCert']));
    expect(config.tls?.clientAuth).toBe('NoClientCert');
  });

  it('client_allowed_sans with a verifying policy (toolkit client_san.good)', async () => {
    const config = await loadConfigFile(
      write([
        ...tlsFiles(),
        '  client_auth_type: "RequireAndVerifyClientCert"',
        `  client_ca_file: ${pki.ca.certFile}`,
        '  client_allowed_sans:',
        '    - "one"',
        '    - "prometheus"',
        '    - 10.0.0.7',
      ]),
    );
    expect(config.tls?.clientAllowedSans).toEqual(['one', 'prometheus', '10.0.0.7']);
  });

  it('all curves (toolkit allCurves.good) and some curves with TLS13 only (someCurves.good)', async () => {
    const all = await loadConfigFile(
      write([...tlsFiles(), '  curve_preferences:', '    - CurveP256', '    - CurveP384', '    - CurveP521', '    - X25519']),
    );
    expect(all.tls?.curvePreferences).toEqual(['CurveP256', 'CurveP384', 'CurveP521', 'X25519']);
    const some = await loadConfigFile(write([...tlsFiles(), '  min_version: TLS13', '  curve_preferences:', '  - CurveP521']));
    expect(some.tls).toMatchObject({ minVersion: 'TLS13', maxVersion: 'TLS13', curvePreferences: ['CurveP521'] });
  });

  it('every secure cipher suite (toolkit allCiphers.good)', async () => {
    const suites = [
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
      'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
      'TLS_AES_128_GCM_SHA256',
      'TLS_AES_256_GCM_SHA384',
      'TLS_CHACHA20_POLY1305_SHA256',
      'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA',
      'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA',
      'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
      'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
    ];
    const config = await loadConfigFile(write([...tlsFiles(), '  cipher_suites:', ...suites.map((s) => `  - ${s}`)]));
    expect(config.tls?.cipherSuites).toEqual(suites);
  });

  it('some ciphers with TLS12 only, with and without server order (someCiphers*.good)', async () => {
    const config = await loadConfigFile(
      write([
        ...tlsFiles(),
        '  cipher_suites:',
        '  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
        '  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
        '  prefer_server_cipher_suites: false',
        '  min_version: TLS12',
        '  max_version: TLS12',
      ]),
    );
    expect(config.tls).toMatchObject({
      cipherSuites: ['TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
      preferServerCipherSuites: false,
      minVersion: 'TLS12',
      maxVersion: 'TLS12',
    });
  });

  it('HTTP/2 off lifts the HTTP/2 cipher requirement (toolkit noHTTP2.good)', async () => {
    const config = await loadConfigFile(
      write([...tlsFiles(), '  cipher_suites:', '    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', '  max_version: TLS12', 'http_server_config:', '  http2: false']),
    );
    expect(config.http.http2).toBe(false);
  });

  it('YAML 1.1 booleans, as Go yaml.v2 reads them', async () => {
    expect((await loadConfigFile(write(['http_server_config:', '  http2: off']))).http.http2).toBe(false);
    expect((await loadConfigFile(write(['http_server_config:', '  http2: yes']))).http.http2).toBe(true);
  });

  it('security headers (toolkit headers.good); a number is read as its text', async () => {
    const config = await loadConfigFile(
      write([
        'http_server_config:',
        '  headers:',
        '    X-Frame-Options: deny',
        '    Strict-Transport-Security: max-age=31536000; includeSubDomains',
        '    X-Content-Type-Options: nosniff',
        '    X-XSS-Protection: 1',
        `    Content-Security-Policy: "default-src 'self' *.test.example.net"`,
      ]),
    );
    expect(config.http.headers).toEqual({
      'X-Frame-Options': 'deny',
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'X-XSS-Protection': '1',
      'Content-Security-Policy': "default-src 'self' *.test.example.net",
    });
  });

  it('a YAML number or boolean in a string field keeps its source text, as yaml.v2 does', async () => {
    const config = await loadConfigFile(write(['http_server_config:', '  headers:', '    X-XSS-Protection: 1.0', '    Strict-Transport-Security: yes']));
    expect(config.http.headers).toEqual({ 'X-XSS-Protection': '1.0', 'Strict-Transport-Security': 'yes' });
    const issues = await issuesOf(loadConfigFile(write(['tls_server_config:', '  cert_file: 0644', `  key_file: ${pki.server.keyFile}`])));
    issueAt(issues, 'tls_server_config.cert_file', `cannot read cert_file ${JSON.stringify(join(dir, '0644'))}`);
  });

  it('basic auth users with TLS (toolkit users.good)', async () => {
    const config = await loadConfigFile(write([...tlsFiles(), 'basic_auth_users:', `  alice: ${hashA}`, `  bob: '${hashB}'`, `  yes: ${hashA}`]));
    expect([...config.basicAuthUsers]).toEqual([
      ['alice', hashA],
      ['bob', hashB],
      ['yes', hashA], // a YAML 1.1 boolean key stays the user name it spells
    ]);
    expect(config.warnings).toEqual([]);
  });

  it('basic auth users without TLS (toolkit users_noTLS.good) is accepted with a clear-text warning', async () => {
    const config = await loadConfigFile(write(['basic_auth_users:', `  alice: ${hashA}`]));
    expect(config.basicAuthUsers.get('alice')).toBe(hashA);
    expect(config.warnings).toEqual([expect.stringContaining('clear text')]);
  });

  it('rate limits: interval 0 disables (toolkit rate_limiter_nonblocking), a duration enables', async () => {
    expect((await loadConfigFile(write(['rate_limit:', '  interval: 0', '  burst: 0']))).rateLimit).toBeUndefined();
    expect((await loadConfigFile(write(['rate_limit:', '  interval: "1s"', '  burst: 10']))).rateLimit).toEqual({ intervalMs: 1000, burst: 10 });
    expect((await loadConfigFile(write(['rate_limit:', '  interval: 250ms', '  burst: 1']))).rateLimit).toEqual({ intervalMs: 250, burst: 1 });
  });

  it('a bare integer interval is nanoseconds, with a warning', async () => {
    const config = await loadConfigFile(write(['rate_limit:', '  interval: 1000000000', '  burst: 2']));
    expect(config.rateLimit).toEqual({ intervalMs: 1000, burst: 2 });
    expect(config.warnings).toEqual([expect.stringContaining('rate_limit.interval: 1000000000 is read as 1000000000 nanoseconds')]);
  });

  it('limits override the defaults', async () => {
    const config = await loadConfigFile(
      write([
        'limits:',
        '  per_client_rate_limit:',
        '    interval: 100ms',
        '    burst: 5',
        '  max_connections: 64',
        '  read_header_timeout: 5s',
        '  request_timeout: 1m',
        '  idle_timeout: 1.5s',
        '  max_header_bytes: 8192',
        '  max_concurrent_bcrypt: 2',
      ]),
    );
    expect(config.limits).toEqual({
      perClientRateLimit: { intervalMs: 100, burst: 5 },
      maxConnections: 64,
      maxConnectionsPerClient: 32,
      handshakeTimeoutMs: 5000,
      http2MaxConcurrentStreams: 100,
      http2MaxStreamsPerClient: 8,
      readHeaderTimeoutMs: 5000,
      requestTimeoutMs: 60_000,
      idleTimeoutMs: 1500,
      maxHeaderBytes: 8192,
      maxConcurrentBcrypt: 2,
    });
  });

  it('YAML anchors and merge keys resolve as in yaml.v2', async () => {
    const config = await loadConfigFile(
      write(['rate_limit: &rl', '  interval: 2s', '  burst: 3', 'limits:', '  per_client_rate_limit:', '    <<: *rl', '    burst: 9']),
    );
    expect(config.rateLimit).toEqual({ intervalMs: 2000, burst: 3 });
    expect(config.limits.perClientRateLimit).toEqual({ intervalMs: 2000, burst: 9 });
  });
});

describe('warnings', () => {
  it('an expired server certificate is a warning, not an error', async () => {
    const config = await loadConfigFile(write(['tls_server_config:', `  cert_file: ${pki.serverExpired.certFile}`, `  key_file: ${pki.serverExpired.keyFile}`]));
    expect(config.tls).toBeDefined();
    expect(config.warnings).toEqual([expect.stringMatching(/server certificate \(cert_file ".*server-expired\.crt"\) expired on \d{4}-/)]);
  });

  it('a not-yet-valid server certificate is a warning', async () => {
    const config = await loadConfigObject({ tls_server_config: { cert: pki.clientNotYetValid.certPem, key: pki.clientNotYetValid.keyPem } });
    expect(config.warnings).toEqual([expect.stringContaining('is not yet valid')]);
  });

  it('a key file readable by group/others', async () => {
    const loose = join(dir, 'loose.key');
    copyFileSync(pki.server.keyFile, loose);
    chmodSync(loose, 0o644);
    const config = await loadConfigFile(write(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${loose}`]));
    expect(config.warnings).toEqual([`key file ${JSON.stringify(loose)} is readable by group/others (mode 0644); chmod 600`]);
  });

  it('deprecated TLS versions and ineffective cipher suites', async () => {
    const config = await loadConfigFile(write([...tlsFiles(), '  min_version: TLS10']));
    expect(config.warnings).toEqual([expect.stringContaining('RFC 8996')]);
    const tls13 = await loadConfigFile(write([...tlsFiles(), '  min_version: TLS13', '  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]']));
    expect(tls13.warnings).toEqual([expect.stringContaining('cipher_suites has no effect')]);
  });
});

describe('refused: document and syntax', () => {
  it('junk text (toolkit junk.yml) is not a mapping', async () => {
    const issue = await refusedFile(['hWkNKCp3fvIx3jKnsaBI', 'TuEjdwNS8A2vYdFbiKqr'], '', 1, 'must be a mapping', 'got a string');
    expect(issue.message).not.toContain('hWkNKCp3');
  });

  it('a list at the top level', async () => {
    await refusedFile(['- tls_server_config'], '', 1, 'must be a mapping', 'got a list');
  });

  it('an unknown key names its path and line, with a suggestion (toolkit junk_key.yml)', async () => {
    await refusedFile(['tls_server_config:', '  cert_filse: "server.crt"'], 'tls_server_config.cert_filse', 2, 'unknown key "cert_filse"', 'did you mean "cert_file"?');
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
    const file = write([
      'tls_server_config:',
      '  cert_file: ""',
      '  key_file: ""',
      '  client_auth_type: "x"',
      'basic_auth_users:',
      '  john: doe',
    ]);
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

describe('refused: certificate and key', () => {
  it('missing cert (toolkit certPath_empty.bad, cert_empty.bad)', async () => {
    await refusedFile(['tls_server_config:', '  cert_file: ""', `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'missing one of cert or cert_file');
    await refusedFile(['tls_server_config:', '  cert: ""', `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert', 2, 'missing one of cert or cert_file');
    await refusedFile(['tls_server_config:', `  key_file: ${pki.server.keyFile}`], 'tls_server_config', 1, 'missing one of cert or cert_file');
  });

  it('missing key (toolkit keyPath_empty.bad, key_empty.bad)', async () => {
    await refusedFile(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, '  key_file: ""'], 'tls_server_config.key_file', 3, 'missing one of key or key_file');
    await refusedFile(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, '  key: ""'], 'tls_server_config.key', 3, 'missing one of key or key_file');
    await refusedFile(['tls_server_config:', '  client_auth_type: RequestClientCert', `  cert_file: ${pki.server.certFile}`], 'tls_server_config', 1, 'missing one of key or key_file');
  });

  it('unreadable files name the key, the absolute path and the OS reason (certPath_invalid, keyPath_invalid)', async () => {
    const file = write(['tls_server_config:', '  cert_file: "somefile"', '  key_file: "otherfile"']);
    const issues = await issuesOf(loadConfigFile(file));
    const cert = issueAt(issues, 'tls_server_config.cert_file', `cannot read cert_file ${JSON.stringify(join(dir, 'somefile'))}`, 'ENOENT', 'no such file or directory');
    expect(cert.line).toBe(2);
    expect(issueAt(issues, 'tls_server_config.key_file', 'cannot read key_file', 'ENOENT').line).toBe(3);
  });

  it('a directory instead of a file', async () => {
    await refusedFile(['tls_server_config:', `  cert_file: ${dir}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'EISDIR');
  });

  it('a certificate that is not PEM', async () => {
    const junk = join(dir, 'junk.crt');
    writeFileSync(junk, 'not a certificate\n');
    await refusedFile(['tls_server_config:', `  cert_file: ${junk}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'contains no PEM certificate');
  });

  it('a PEM certificate block with garbage inside', async () => {
    const bad = join(dir, 'bad-block.crt');
    writeFileSync(bad, `${pki.server.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    await refusedFile(['tls_server_config:', `  cert_file: ${bad}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'PEM block #2 is not a valid X.509 certificate');
  });

  it('an empty certificate file', async () => {
    const empty = join(dir, 'empty.crt');
    writeFileSync(empty, '');
    await refusedFile(['tls_server_config:', `  cert_file: ${empty}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'is empty');
  });

  it('a key that cannot be parsed', async () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
    await refusedFile(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${bad}`], 'tls_server_config.key_file', 3, 'is not a valid private key');
  });

  it('certificate and key swapped', async () => {
    const issues = await issuesOf(
      loadConfigFile(write(['tls_server_config:', `  cert_file: ${pki.server.keyFile}`, `  key_file: ${pki.server.certFile}`])),
    );
    issueAt(issues, 'tls_server_config.cert_file', 'contains a private key, not a certificate', 'swapped');
    issueAt(issues, 'tls_server_config.key_file', 'contains a certificate, not a private key', 'swapped');
  });

  it('a key that does not match the certificate', async () => {
    await refusedFile(
      ['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${pki.serverRsa.keyFile}`],
      'tls_server_config.key_file',
      3,
      'does not match the certificate',
    );
  });

  it('an encrypted key', async () => {
    const enc = join(dir, 'enc.key');
    writeFileSync(enc, '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n', { mode: 0o600 });
    await refusedFile(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${enc}`], 'tls_server_config.key_file', 3, 'is encrypted');
  });

  it('a file path in an inline key', async () => {
    const issues = await issuesOf(loadConfigObject({ tls_server_config: { cert: 'server.crt', key: 'server.key', client_auth_type: 'RequireAndVerifyClientCert', client_ca: 'ca.crt' } }));
    issueAt(issues, 'tls_server_config.cert', 'must hold PEM text', 'use cert_file');
    issueAt(issues, 'tls_server_config.key', 'must hold PEM text', 'use key_file');
    issueAt(issues, 'tls_server_config.client_ca', 'must hold PEM text', 'use client_ca_file');
    expect(issues).toHaveLength(3);
  });

  it('PEM text in a *_file key', async () => {
    const issues = await issuesOf(loadConfigObject({ tls_server_config: { cert_file: pki.server.certPem, key: pki.server.keyPem } }));
    issueAt(issues, 'tls_server_config.cert_file', 'must be a file path, but it holds PEM text', 'put inline PEM in cert');
  });

  it.each([
    ['cert', 'cert_file', 2],
    ['key', 'key_file', 3],
  ] as const)('both %s and %s', async (inline, fileKey, line) => {
    const lines = [...tlsFiles()];
    lines.splice(line, 0, ...pemLines(inline, inline === 'cert' ? pki.server.certPem : pki.server.keyPem));
    const issues = await issuesOf(loadConfigFile(write(lines)));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ path: `tls_server_config.${inline}`, line: line + 1 });
    expect(issues[0]!.message).toContain(`both ${inline} and ${fileKey} are set`);
  });

  it('an empty cert_file alone would silently leave TLS off', async () => {
    await refusedFile(['tls_server_config:', '  cert_file: ""'], 'tls_server_config.cert_file', 2, 'cert_file is empty, so TLS stays off');
  });

  it('TLS settings without a certificate would silently leave TLS off', async () => {
    await refusedFile(['tls_server_config:', '  min_version: TLS13', '  cipher_suites: []'], 'tls_server_config', 1, 'min_version, cipher_suites', 'TLS stays off');
  });
});

describe('refused: client certificates', () => {
  it('both client_ca and client_ca_file', async () => {
    await refusedFile(
      [...tlsFiles(), '  client_auth_type: RequireAndVerifyClientCert', `  client_ca_file: ${pki.ca.certFile}`, ...pemLines('client_ca', pki.ca.certPem)],
      'tls_server_config.client_ca',
      6,
      'both client_ca and client_ca_file are set',
    );
  });

  it("a client CA without a policy (toolkit noAuth.bad): the toolkit's message", async () => {
    await refusedFile(
      [...tlsFiles(), `  client_ca_file: ${pki.ca.certFile}`],
      'tls_server_config.client_ca_file',
      4,
      "client CA's have been configured without a Client Auth Policy",
    );
  });

  it('an empty CA bundle (/dev/null) is refused as well as the missing policy', async () => {
    const issues = await issuesOf(loadConfigFile(write([...tlsFiles(), '  client_ca_file: "/dev/null"'])));
    expect(issues).toHaveLength(2);
    for (const issue of issues) expect(issue).toMatchObject({ path: 'tls_server_config.client_ca_file', line: 4 });
    expect(issues.map((i) => i.message).join('\n')).toMatch(/is empty: a client CA bundle needs at least one certificate[\s\S]*without a Client Auth Policy/);
  });

  it('an unreadable CA file (toolkit clientCAs_invalid.bad)', async () => {
    const issues = await issuesOf(loadConfigFile(write([...tlsFiles(), '  client_auth_type: RequireAndVerifyClientCert', '  client_ca_file: "somefile"'])));
    expect(issueAt(issues, 'tls_server_config.client_ca_file', 'cannot read client_ca_file', 'ENOENT').line).toBe(5);
  });

  it('a CA bundle with garbage, a private key, or a broken block', async () => {
    const base = { cert: pki.server.certPem, key: pki.server.keyPem, client_auth_type: 'RequireAndVerifyClientCert' };
    let issues = await issuesOf(loadConfigObject({ tls_server_config: { ...base, client_ca: 'garbage\nmore garbage\n' } }));
    issueAt(issues, 'tls_server_config.client_ca', 'contains no PEM certificate');
    issues = await issuesOf(loadConfigObject({ tls_server_config: { ...base, client_ca: pki.ca.certPem + pki.ca.keyPem } }));
    issueAt(issues, 'tls_server_config.client_ca', 'PEM block #2 is a private key');
    issues = await issuesOf(
      loadConfigObject({ tls_server_config: { ...base, client_ca: `${pki.ca.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n` } }),
    );
    issueAt(issues, 'tls_server_config.client_ca', 'PEM block #2 is not a valid X.509 certificate');
  });

  it.each(['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'])('%s without a client CA (toolkit clientCAs_missing.bad)', async (type) => {
    await refusedFile([...tlsFiles(), `  client_auth_type: "${type}"`], 'tls_server_config.client_auth_type', 4, `client_auth_type ${type} verifies client certificates`, 'system');
  });

  it.each([
    ['NoClientCert', 'no certificate is asked for'],
    ['RequestClientCert', 'self-signed certificate carrying an allowed SAN'],
    ['RequireAnyClientCert', 'self-signed certificate carrying an allowed SAN'],
  ])('client_allowed_sans with %s', async (type, why) => {
    await refusedFile(
      [...tlsFiles(), `  client_auth_type: ${type}`, '  client_allowed_sans:', '    - prometheus'],
      'tls_server_config.client_allowed_sans',
      5,
      'VerifyClientCertIfGiven or RequireAndVerifyClientCert',
      why,
    );
  });

  it('an empty client_allowed_sans list could never match', async () => {
    await refusedFile(
      [...tlsFiles(), '  client_auth_type: RequireAndVerifyClientCert', `  client_ca_file: ${pki.ca.certFile}`, '  client_allowed_sans: []'],
      'tls_server_config.client_allowed_sans',
      6,
      'is empty',
    );
  });

  it('an invalid client_auth_type', async () => {
    await refusedFile([...tlsFiles(), '  client_auth_type: RequireVerified'], 'tls_server_config.client_auth_type', 4, 'invalid ClientAuth: "RequireVerified"', 'RequireAndVerifyClientCert');
  });
});

describe('refused: versions, ciphers, curves', () => {
  it('an unknown TLS version (toolkit wrongTLSVersion.bad)', async () => {
    await refusedFile([...tlsFiles(), '  min_version: TLS111'], 'tls_server_config.min_version', 4, 'unknown TLS version: "TLS111"');
  });

  it('min_version above max_version, explicit or by default', async () => {
    await refusedFile([...tlsFiles(), '  min_version: TLS13', '  max_version: TLS12'], 'tls_server_config.min_version', 4, 'min_version TLS13 is above max_version TLS12');
    await refusedFile([...tlsFiles(), '  max_version: TLS11'], 'tls_server_config.max_version', 4, 'min_version TLS12 (default) is above max_version TLS11');
  });

  it('an unknown cipher (toolkit inventedCiphers.bad)', async () => {
    await refusedFile(
      [...tlsFiles(), '  cipher_suites:', '  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', '  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048'],
      'tls_server_config.cipher_suites[1]',
      6,
      'unknown cipher: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048"',
    );
  });

  it("an insecure cipher is refused as in Go's insecure list", async () => {
    await refusedFile([...tlsFiles(), '  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]'], 'tls_server_config.cipher_suites[0]', 4, 'insecure cipher: "TLS_RSA_WITH_AES_128_CBC_SHA"', "Go's list of insecure");
  });

  it('only TLS 1.3 suites with max_version TLS12 leaves no suite', async () => {
    await refusedFile(
      [...tlsFiles(), '  max_version: TLS12', '  cipher_suites: [TLS_AES_128_GCM_SHA256]', 'http_server_config: {http2: false}'],
      'tls_server_config.cipher_suites',
      5,
      'only TLS 1.3 suites',
    );
  });

  it('HTTP/2 without its required suite (toolkit noHTTP2Cipher.bad)', async () => {
    await refusedFile(
      [...tlsFiles(), '  cipher_suites:', '    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', '  max_version: TLS12'],
      'tls_server_config.cipher_suites',
      4,
      'HTTP/2 needs TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'http2: false',
    );
  });

  it('an unknown curve (toolkit inventedCurves.bad)', async () => {
    await refusedFile([...tlsFiles(), '  curve_preferences:', '    - CurveP257'], 'tls_server_config.curve_preferences[0]', 5, 'unknown curve: "CurveP257"');
  });
});

describe('refused: HTTP headers', () => {
  it('a header outside the allow-list (toolkit headers_extra_header.bad)', async () => {
    await refusedFile(['http_server_config:', '  headers:', '    Content-Type: foo'], 'http_server_config.headers.Content-Type', 3, 'HTTP header "Content-Type" can not be configured');
  });

  it('header names are case-sensitive, as in the toolkit', async () => {
    await refusedFile(['http_server_config:', '  headers:', '    x-frame-options: deny'], 'http_server_config.headers.x-frame-options', 3, 'can not be configured', 'write "X-Frame-Options"');
  });

  it('X-Content-Type-Options other than nosniff (toolkit content_type_options.bad)', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    X-Content-Type-Options: sniff'],
      'http_server_config.headers.X-Content-Type-Options',
      3,
      'invalid value for X-Content-Type-Options. Expected one of: ["nosniff"], but got: "sniff"',
    );
  });

  it('X-Frame-Options other than deny or sameorigin (toolkit frame_options.bad)', async () => {
    await refusedFile(
      ['http_server_config:', '  headers:', '    X-Frame-Options: foo'],
      'http_server_config.headers.X-Frame-Options',
      3,
      'invalid value for X-Frame-Options. Expected one of: ["deny" "sameorigin"], but got: "foo"',
    );
  });

  it('an empty or control-character value', async () => {
    const issues = await issuesOf(
      loadConfigObject({ http_server_config: { headers: { 'Strict-Transport-Security': '', 'Content-Security-Policy': "default-src 'self'\r\nSet-Cookie: x" } } }),
    );
    issueAt(issues, 'http_server_config.headers.Strict-Transport-Security', 'empty value');
    issueAt(issues, 'http_server_config.headers.Content-Security-Policy', 'control character');
  });

  it('a value outside Latin-1 (Node cannot write it: every scrape would fail)', async () => {
    const issues = await issuesOf(loadConfigObject({ http_server_config: { headers: { 'Content-Security-Policy': "default-src 'self' https://€.example" } } }));
    issueAt(issues, 'http_server_config.headers.Content-Security-Policy', 'outside Latin-1');
  });
});

describe('refused: basic auth users', () => {
  it('a plaintext password (toolkit user_list_invalid.bad), without echoing it', async () => {
    const issue = await refusedFile(
      [...tlsFiles(), 'basic_auth_users:', '  john: doe'],
      'basic_auth_users.john',
      5,
      'crypto/bcrypt: hashedSecret too short to be a bcrypted password',
      'scrapeguard hash-password',
    );
    expect(issue.message).not.toMatch(/\bdoe\b/);
  });

  it('malformed hashes', async () => {
    const tail = hashA.slice(7);
    const issues = await issuesOf(
      loadConfigObject({
        basic_auth_users: {
          prefix: `$3a$10$${tail}`,
          cost: `$2b$03$${tail}`,
          highcost: `$2b$32$${tail}`,
          long: `${hashA}x`,
          alphabet: `$2b$10$${tail.slice(0, -1)}!`,
          costdigits: `$2b$1x$${tail}`,
          number: 123456,
          nothing: null,
        },
      }),
    );
    issueAt(issues, 'basic_auth_users.prefix', 'must start with $2a$, $2b$ or $2y$');
    issueAt(issues, 'basic_auth_users.cost', 'cost 3 is outside allowed inclusive range 4..31');
    issueAt(issues, 'basic_auth_users.highcost', 'cost 32 is outside');
    issueAt(issues, 'basic_auth_users.long', 'exactly 60 characters');
    issueAt(issues, 'basic_auth_users.alphabet', 'bcrypt base64 alphabet');
    issueAt(issues, 'basic_auth_users.costdigits', 'cost must be two digits');
    issueAt(issues, 'basic_auth_users.number', 'too short');
    issueAt(issues, 'basic_auth_users.nothing', 'no bcrypt hash given for user "nothing"');
    for (const issue of issues) expect(issue.message).not.toContain(tail.slice(0, 20));
  });

  it('an empty user name, or one with a colon', async () => {
    const issues = await issuesOf(loadConfigFile(write(['basic_auth_users:', `  "": ${hashA}`, `  "a:b": ${hashA}`])));
    expect(issueAt(issues, 'basic_auth_users[""]', 'empty user name').line).toBe(2);
    expect(issueAt(issues, 'basic_auth_users["a:b"]', 'contains ":"', 'RFC 7617').line).toBe(3);
  });
});

describe('refused: rate limit and limits', () => {
  it('burst 0 with an interval refuses every request (toolkit rate_limiter_one_second)', async () => {
    await refusedFile(['rate_limit:', '  interval: "1s"', '  burst: 0'], 'rate_limit.burst', 3, 'at least 1', 'refuses every request');
  });

  it('an interval without burst, and burst without interval', async () => {
    await refusedFile(['rate_limit:', '  interval: 1s'], 'rate_limit', 1, 'missing burst');
    await refusedFile(['rate_limit:', '  burst: 10'], 'rate_limit', 1, 'interval is missing');
  });

  it('negative or malformed durations', async () => {
    await refusedFile(['rate_limit:', '  interval: -1s', '  burst: 1'], 'rate_limit.interval', 2, 'must not be negative', '"-1s"');
    await refusedFile(['rate_limit:', '  interval: 30', '  burst: 1', '  extra: 1'], 'rate_limit.extra', 4, 'unknown key');
    await refusedFile(['rate_limit:', '  interval: 1x', '  burst: 1'], 'rate_limit.interval', 2, 'invalid duration "1x"');
    await refusedFile(['rate_limit:', '  interval: 1.5', '  burst: 1'], 'rate_limit.interval', 2, 'must be an integer', '"1.5s"');
    await refusedFile(['rate_limit:', '  interval: -2s', '  burst: -1'], 'rate_limit.burst', 3, 'must be at least 0');
  });

  it('limits out of range', async () => {
    const file = write([
      'limits:',
      '  max_connections: 0',
      '  read_header_timeout: 0s',
      '  request_timeout: soon',
      '  idle_timeout: -5s',
      '  max_header_bytes: -1',
      '  max_concurrent_bcrypt: 2.5',
      '  per_client_rate_limit:',
      '    interval: 1s',
      '    burst: 0',
    ]);
    const issues = await issuesOf(loadConfigFile(file));
    expect(issues.map((i) => [i.path, i.line])).toEqual([
      ['limits.max_connections', 2],
      ['limits.read_header_timeout', 3],
      ['limits.request_timeout', 4],
      ['limits.idle_timeout', 5],
      ['limits.max_header_bytes', 6],
      ['limits.max_concurrent_bcrypt', 7],
      ['limits.per_client_rate_limit.burst', 10],
    ]);
    expect(issues[0]!.message).toContain('must be at least 1, got 0');
    expect(issues[1]!.message).toContain('must be greater than 0');
    expect(issues[2]!.message).toContain('invalid duration "soon"');
  });

  it('a header timeout longer than the request timeout', async () => {
    await refusedFile(['limits:', '  request_timeout: 5s'], 'limits.request_timeout', 2, 'read_header_timeout (10s, the default) must not exceed request_timeout (5s)');
    await refusedFile(['limits:', '  read_header_timeout: 1m', '  request_timeout: 30s'], 'limits.read_header_timeout', 2, 'must not exceed');
  });

  it('a sub-millisecond timeout (a typo for seconds)', async () => {
    await refusedFile(['limits:', '  read_header_timeout: 10ns'], 'limits.read_header_timeout', 2, 'must be at least 1ms', '"10ns"');
  });

  it('a timeout beyond what Node timers take', async () => {
    await refusedFile(['limits:', '  idle_timeout: 600h'], 'limits.idle_timeout', 2, 'too large');
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

describe('secrets never appear in messages', () => {
  it('neither the private key, an inline key, nor a password value', async () => {
    const password = 'hunter2-Correct-Horse';
    const keyBody = pki.server.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const wrongKeyBody = pki.serverRsa.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    const checks: (() => Promise<unknown>)[] = [
      // Mismatching inline key.
      () => loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.serverRsa.keyPem }, basic_auth_users: { alice: password } }),
      // Key pasted where a path or a certificate belongs.
      () => loadConfigObject({ tls_server_config: { cert_file: pki.server.keyPem, key: pki.server.keyPem } }),
      () => loadConfigObject({ tls_server_config: { cert: pki.server.keyPem, key_file: pki.server.keyFile, client_auth_type: pki.server.keyPem } }),
      () => loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem, client_ca: pki.server.keyPem, client_auth_type: 'RequireAndVerifyClientCert' } }),
      () => loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem.replace(/\n[A-Za-z0-9+/]{8}/, '\n!!!!!!!!') } }),
      // File form with inline secrets.
      () => loadConfigFile(write(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, ...pemLines('key', pki.serverRsa.keyPem), 'basic_auth_users:', `  alice: ${password}`, `  bob: "${password}${password}${password}"`])),
      () => loadConfigFile(write(['tls_server_config:', ...pemLines('key', pki.server.keyPem), '  cert_filse: x', 'basic_auth_users:', `  alice: [${password}]`])),
    ];
    for (const check of checks) {
      const err = await check().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      const text = [(err as ConfigError).message, ...(err as ConfigError).issues.map((i) => `${i.path} ${i.message}`)].join('\n');
      expect(text).not.toContain(password);
      expect(text).not.toContain('PRIVATE KEY-----');
      for (const line of [...keyBody, ...wrongKeyBody]) expect(text).not.toContain(line.slice(0, 24));
    }
  });
});

describe('resolved config hygiene', () => {
  it('never serializes or inspects the private key', async () => {
    const { inspect } = await import('node:util');
    const pki = await testPki();
    const config = await loadConfigObject({ tls_server_config: { cert: pki.server.certPem, key: pki.server.keyPem } });
    expect(config.tls?.keyPem).toBe(pki.server.keyPem);
    expect(JSON.stringify(config)).not.toContain('PRIVATE KEY');
    expect(inspect(config, { depth: 10 })).not.toContain('PRIVATE KEY');
    expect(JSON.stringify({ ...config.tls })).not.toContain('PRIVATE KEY');
  });
});

describe('OpenSSL has the last word', () => {
  it('refuses a key OpenSSL will not serve with (512-bit RSA), naming the key path', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { generate } = await import('selfsigned');
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 512 });
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keyType: 'rsa',
      algorithm: 'sha256',
      keyPair: {
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
      },
    });
    const error = await loadConfigObject({ tls_server_config: { cert: pems.cert, key: pems.private } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const issue = (error as ConfigError).issues[0]!;
    expect(issue.path).toBe('tls_server_config.cert');
    expect(issue.message).toMatch(/OpenSSL refuses .*key too small/);
    expect(issue.message).not.toContain('PRIVATE KEY');
  });
});

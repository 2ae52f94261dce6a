/**
 * What the config loader accepts, against exporter-toolkit's web/testdata good cases: defaults,
 * TLS from files and inline PEM, client CAs and SAN policies, curves, ciphers, headers, users, rate
 * limits and limits; Go durations as yaml.v2 reads them; and what it accepts with a warning.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject, parseGoDuration } from '../src/config/load.js';
import { issuesOf } from './helpers/config-issues.js';
import { dir, hashA, hashB, issueAt, pemLines, pki, tlsFiles, useConfigFiles, write } from './helpers/config-files.js';

useConfigFiles();

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

  it.each(['', '1', '30', 's', '.s', '1x', '1 s', ' 1s', '1s ', '1.2.3s', '--1s', '1e9', '9999999999999999999h'])('refuses %j', (input) => {
    expect(parseGoDuration(input)).toBeUndefined();
  });

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
      write([
        'tls_server_config:',
        `  cert_file: ${pki.serverRsa.certFile}`,
        ...pemLines('key', pki.serverRsa.keyPem),
        '  client_auth_type: "RequireAnyClientCert"',
      ]),
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
    const all = await loadConfigFile(write([...tlsFiles(), '  curve_preferences:', '    - CurveP256', '    - CurveP384', '    - CurveP521', '    - X25519']));
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
      write([
        ...tlsFiles(),
        '  cipher_suites:',
        '    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
        '  max_version: TLS12',
        'http_server_config:',
        '  http2: false',
      ]),
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
    const config = await loadConfigFile(
      write(['tls_server_config:', `  cert_file: ${pki.serverExpired.certFile}`, `  key_file: ${pki.serverExpired.keyFile}`]),
    );
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

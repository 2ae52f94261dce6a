/**
 * The config loader refuses TLS settings that cannot serve or would silently weaken TLS: missing,
 * unreadable, swapped, mismatched or encrypted certificates and keys; client CA and client_auth_type
 * mistakes; unknown or insecure versions, cipher suites and curves; a key OpenSSL will not use.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { issuesOf } from './helpers/config-issues.js';
import { dir, issueAt, pemLines, pki, refusedFile, tlsFiles, useConfigFiles, write } from './helpers/config-files.js';

useConfigFiles();

describe('refused: certificate and key', () => {
  it('missing cert (toolkit certPath_empty.bad, cert_empty.bad)', async () => {
    await refusedFile(
      ['tls_server_config:', '  cert_file: ""', `  key_file: ${pki.server.keyFile}`],
      'tls_server_config.cert_file',
      2,
      'missing one of cert or cert_file',
    );
    await refusedFile(
      ['tls_server_config:', '  cert: ""', `  key_file: ${pki.server.keyFile}`],
      'tls_server_config.cert',
      2,
      'missing one of cert or cert_file',
    );
    await refusedFile(['tls_server_config:', `  key_file: ${pki.server.keyFile}`], 'tls_server_config', 1, 'missing one of cert or cert_file');
  });

  it('missing key (toolkit keyPath_empty.bad, key_empty.bad)', async () => {
    await refusedFile(
      ['tls_server_config:', `  cert_file: ${pki.server.certFile}`, '  key_file: ""'],
      'tls_server_config.key_file',
      3,
      'missing one of key or key_file',
    );
    await refusedFile(['tls_server_config:', `  cert_file: ${pki.server.certFile}`, '  key: ""'], 'tls_server_config.key', 3, 'missing one of key or key_file');
    await refusedFile(
      ['tls_server_config:', '  client_auth_type: RequestClientCert', `  cert_file: ${pki.server.certFile}`],
      'tls_server_config',
      1,
      'missing one of key or key_file',
    );
  });

  it('unreadable files name the key, the absolute path and the OS reason (certPath_invalid, keyPath_invalid)', async () => {
    const file = write(['tls_server_config:', '  cert_file: "somefile"', '  key_file: "otherfile"']);
    const issues = await issuesOf(loadConfigFile(file));
    const cert = issueAt(
      issues,
      'tls_server_config.cert_file',
      `cannot read cert_file ${JSON.stringify(join(dir, 'somefile'))}`,
      'ENOENT',
      'no such file or directory',
    );
    expect(cert.line).toBe(2);
    expect(issueAt(issues, 'tls_server_config.key_file', 'cannot read key_file', 'ENOENT').line).toBe(3);
  });

  it('a directory instead of a file', async () => {
    await refusedFile(['tls_server_config:', `  cert_file: ${dir}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'EISDIR');
  });

  it('a certificate that is not PEM', async () => {
    const junk = join(dir, 'junk.crt');
    writeFileSync(junk, 'not a certificate\n');
    await refusedFile(
      ['tls_server_config:', `  cert_file: ${junk}`, `  key_file: ${pki.server.keyFile}`],
      'tls_server_config.cert_file',
      2,
      'contains no PEM certificate',
    );
  });

  it('a PEM certificate block with garbage inside', async () => {
    const bad = join(dir, 'bad-block.crt');
    writeFileSync(bad, `${pki.server.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
    await refusedFile(
      ['tls_server_config:', `  cert_file: ${bad}`, `  key_file: ${pki.server.keyFile}`],
      'tls_server_config.cert_file',
      2,
      'PEM block #2 is not a valid X.509 certificate',
    );
  });

  it('an empty certificate file', async () => {
    const empty = join(dir, 'empty.crt');
    writeFileSync(empty, '');
    await refusedFile(['tls_server_config:', `  cert_file: ${empty}`, `  key_file: ${pki.server.keyFile}`], 'tls_server_config.cert_file', 2, 'is empty');
  });

  it('a key that cannot be parsed', async () => {
    const bad = join(dir, 'bad.key');
    writeFileSync(bad, '-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n', { mode: 0o600 });
    await refusedFile(
      ['tls_server_config:', `  cert_file: ${pki.server.certFile}`, `  key_file: ${bad}`],
      'tls_server_config.key_file',
      3,
      'is not a valid private key',
    );
  });

  it('certificate and key swapped', async () => {
    const issues = await issuesOf(loadConfigFile(write(['tls_server_config:', `  cert_file: ${pki.server.keyFile}`, `  key_file: ${pki.server.certFile}`])));
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
    const issues = await issuesOf(
      loadConfigObject({ tls_server_config: { cert: 'server.crt', key: 'server.key', client_auth_type: 'RequireAndVerifyClientCert', client_ca: 'ca.crt' } }),
    );
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
    await refusedFile(
      ['tls_server_config:', '  min_version: TLS13', '  cipher_suites: []'],
      'tls_server_config',
      1,
      'min_version, cipher_suites',
      'TLS stays off',
    );
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
    await refusedFile(
      [...tlsFiles(), `  client_auth_type: "${type}"`],
      'tls_server_config.client_auth_type',
      4,
      `client_auth_type ${type} verifies client certificates`,
      'system',
    );
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
    await refusedFile(
      [...tlsFiles(), '  client_auth_type: RequireVerified'],
      'tls_server_config.client_auth_type',
      4,
      'invalid ClientAuth: "RequireVerified"',
      'RequireAndVerifyClientCert',
    );
  });
});

describe('refused: versions, ciphers, curves', () => {
  it('an unknown TLS version (toolkit wrongTLSVersion.bad)', async () => {
    await refusedFile([...tlsFiles(), '  min_version: TLS111'], 'tls_server_config.min_version', 4, 'unknown TLS version: "TLS111"');
  });

  it('min_version above max_version, explicit or by default', async () => {
    await refusedFile(
      [...tlsFiles(), '  min_version: TLS13', '  max_version: TLS12'],
      'tls_server_config.min_version',
      4,
      'min_version TLS13 is above max_version TLS12',
    );
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
    await refusedFile(
      [...tlsFiles(), '  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]'],
      'tls_server_config.cipher_suites[0]',
      4,
      'insecure cipher: "TLS_RSA_WITH_AES_128_CBC_SHA"',
      "Go's list of insecure",
    );
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

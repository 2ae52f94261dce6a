/**
 * Client certificates on the standalone server over real TLS handshakes, mirroring
 * exporter-toolkit's web/tls_config_test.go: every client_auth_type against every kind of client
 * certificate (Go crypto/tls semantics, TLS 1.2 and 1.3), client_allowed_sans (exact, canonical IPs,
 * fail closed without a certificate) and the SAN parsing behind it.
 */
import { X509Certificate } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import type { WebConfigInput, TlsServerConfigInput } from '../src/config/schema.js';
import { canonicalIp, compileAllowedSans, splitSubjectAltName, subjectAltNames } from '../src/tls/client-cert.js';
import { generateClientCert } from '../src/tools/pki/generate.js';
import type { TestCert } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { clientIpv6, expectRefused, expectServed, pki, start, tlsConfig, useTlsServer, withClientCert } from './helpers/tls-server.js';

useTlsServer();

type ClientKind = 'none' | 'valid' | 'otherCa' | 'selfSigned' | 'expired' | 'notYetValid';
const CLIENTS: readonly ClientKind[] = ['none', 'valid', 'otherCa', 'selfSigned', 'expired', 'notYetValid'];

function clientCert(kind: ClientKind): TestCert | undefined {
  switch (kind) {
    case 'none':
      return undefined;
    case 'valid':
      return pki.client;
    case 'otherCa':
      return pki.clientOtherCa;
    case 'selfSigned':
      return pki.clientSelfSigned;
    case 'expired':
      return pki.clientExpired;
    case 'notYetValid':
      return pki.clientNotYetValid;
  }
}

type Policy = NonNullable<TlsServerConfigInput['client_auth_type']>;

/** Go's crypto/tls semantics: does a client presenting `kind` get served under `policy`? */
function goAccepts(policy: Policy, kind: ClientKind): boolean {
  switch (policy) {
    case 'NoClientCert':
    case 'RequestClientCert':
      return true;
    case 'RequireAnyClientCert':
    case 'RequireClientCert':
      return kind !== 'none';
    case 'VerifyClientCertIfGiven':
      return kind === 'none' || kind === 'valid';
    case 'RequireAndVerifyClientCert':
      return kind === 'valid';
  }
}

const POLICIES: readonly Policy[] = [
  'NoClientCert',
  'RequestClientCert',
  'RequireAnyClientCert',
  'RequireClientCert',
  'VerifyClientCertIfGiven',
  'RequireAndVerifyClientCert',
];

const MATRIX = (['TLS12', 'TLS13'] as const).flatMap((version) =>
  POLICIES.flatMap((policy) => CLIENTS.map((client) => ({ version, policy, client, ok: goAccepts(policy, client) }))),
);

describe('client_auth_type × client certificate (Go crypto/tls semantics)', () => {
  test('the matrix is the one Go defines', () => {
    // A guard against an accidentally all-true/all-false table.
    expect(MATRIX).toHaveLength(72);
    expect(MATRIX.filter((r) => r.ok)).toHaveLength(2 * (6 + 6 + 5 + 5 + 2 + 1));
  });

  test.each(MATRIX)('$version $policy, client cert $client → served: $ok', async ({ version, policy, client, ok }) => {
    const config: TlsServerConfigInput =
      policy === 'NoClientCert'
        ? tlsConfig({ client_auth_type: policy, max_version: version })
        : tlsConfig({ client_auth_type: policy, client_ca_file: pki.ca.certFile, max_version: version });
    const s = await start({ tls_server_config: config });
    const r = await scrape(s.url, withClientCert(clientCert(client)));
    if (ok) {
      expectServed(r);
      expect(r.protocol).toBe(version === 'TLS12' ? 'TLSv1.2' : 'TLSv1.3');
    } else {
      expectRefused(r);
    }
  });

  test('VerifyClientCertIfGiven: a bad certificate closes the connection (never a 403) and is logged', async () => {
    // VerifyClientCertIfGiven is decided after OpenSSL's handshake (rejectUnauthorized is off so
    // that "no certificate" passes); the refusal must still be a closed connection and logged.
    const s = await start({ tls_server_config: tlsConfig({ client_auth_type: 'VerifyClientCertIfGiven', client_ca_file: pki.ca.certFile }) });
    const r = await scrape(s.url, withClientCert(pki.clientOtherCa));
    expectRefused(r);
    const refused = s.logs.find((l) => l.message === 'TLS client certificate refused');
    expect(refused?.level).toBe('warn');
    expect(refused?.fields.reason).toBe('unknown_ca');
    expect(String(refused?.fields.detail)).toMatch(/client certificate rejected/);
    expect(String(refused?.fields.subject)).toContain('CN=prometheus');
    // The same server still serves a good client afterwards.
    expectServed(await scrape(s.url, withClientCert(pki.client)));
  });
});

describe('client_allowed_sans', () => {
  const sansConfig = (allowed: string[], cert = pki.ca): WebConfigInput => ({
    tls_server_config: tlsConfig({
      client_auth_type: 'RequireAndVerifyClientCert',
      client_ca_file: cert.certFile,
      client_allowed_sans: allowed,
    }),
  });

  test('allowed SAN passes; a verified cert without it is refused and the log shows the SANs FOUND', async () => {
    const s = await start(sansConfig(['prometheus']));
    expectServed(await scrape(s.url, withClientCert(pki.client)));
    const r = await scrape(s.url, withClientCert(pki.clientWrongSan));
    expectRefused(r);
    const line = s.logs.find((l) => l.message === 'TLS client certificate refused');
    expect(line, JSON.stringify(s.logs)).toBeDefined();
    expect(line!.fields.reason).toBe('san_not_allowed');
    const reason = String(line!.fields.detail);
    expect(reason).toContain('could not find allowed SANs in client cert, found: [intruder]');
    // exporter-toolkit prints the allowed list here; scrapeguard prints what the client had.
    expect(reason).not.toContain('prometheus');
  });

  test('the common name is not a SAN: CN=scraper is not matched', async () => {
    const s = await start(sansConfig(['scraper']));
    expectRefused(await scrape(s.url, withClientCert(pki.clientMultiSan)));
    const reason = String(s.logs.find((l) => l.message === 'TLS client certificate refused')?.fields.detail);
    expect(reason).toContain('found: [scraper@example.com 10.0.0.7 spiffe://cluster/ns/monitoring/sa/prometheus]');
  });

  test.each([
    ['URI', 'spiffe://cluster/ns/monitoring/sa/prometheus'],
    ['e-mail', 'scraper@example.com'],
    ['IP', '10.0.0.7'],
  ])('multi-SAN cert is matched by its %s SAN', async (_kind, allowed) => {
    const s = await start(sansConfig(['someone-else', allowed]));
    expectServed(await scrape(s.url, withClientCert(pki.clientMultiSan)));
  });

  test('matching is exact: a prefix of a SAN does not match', async () => {
    const s = await start(sansConfig(['spiffe://cluster/ns/monitoring', '10.0.0', 'scraper@example']));
    expectRefused(await scrape(s.url, withClientCert(pki.clientMultiSan)));
  });

  test('IPv6 SANs compare in canonical (Go net.IP.String) form', async () => {
    // The certificate encodes 2001:db8::7; OpenSSL prints it as 2001:DB8:0:0:0:0:0:7.
    expect(new X509Certificate(clientIpv6.certPem).subjectAltName).toMatch(/IP Address:2001:DB8:0:0:0:0:0:7/i);
    const s = await start(sansConfig(['2001:db8::7']));
    expectServed(await scrape(s.url, withClientCert(clientIpv6)));

    const other = await start(sansConfig(['2001:db8::8']));
    expectRefused(await scrape(other.url, withClientCert(clientIpv6)));
    const reason = String(other.logs.find((l) => l.message === 'TLS client certificate refused')?.fields.detail);
    expect(reason).toContain('found: [2001:db8::7]');
  });

  test("an IPv4-mapped IPv6 SAN is compared in Go's form (the dotted quad)", async () => {
    const pair = await generateClientCert(pki.ca, { commonName: 'mapped', sans: ['::ffff:10.0.0.8'] });
    // Encoded as the 16-byte mapped address, not mangled (selfsigned used to write ::ffff:10).
    expect(new X509Certificate(pair.certPem).subjectAltName).toMatch(/^IP Address:0:0:0:0:0:FFFF:A00:8$/i);
    const cert = { ...pair, certFile: '', keyFile: '' };
    const s = await start(sansConfig(['10.0.0.8']));
    expectServed(await scrape(s.url, withClientCert(cert)));
    const other = await start(sansConfig(['10.0.0.9']));
    expectRefused(await scrape(other.url, withClientCert(cert)));
    expect(String(other.logs.find((l) => l.message === 'TLS client certificate refused')?.fields.detail)).toContain('found: [10.0.0.8]');
  });

  test('without a certificate the allow-list fails closed under VerifyClientCertIfGiven', async () => {
    const s = await start({
      tls_server_config: tlsConfig({ client_auth_type: 'VerifyClientCertIfGiven', client_ca_file: pki.ca.certFile, client_allowed_sans: ['prometheus'] }),
    });
    expectRefused(await scrape(s.url, withClientCert(undefined)));
    expectServed(await scrape(s.url, withClientCert(pki.client)));
  });
});

describe('splitSubjectAltName / canonicalIp (unit)', () => {
  test('quoted values keep their commas; IPv6 is canonicalised', () => {
    expect(splitSubjectAltName('DNS:a, URI:"x, y", IP Address:0:0:0:0:0:0:0:1')).toEqual([
      { type: 'DNS', value: 'a' },
      { type: 'URI', value: 'x, y' },
      { type: 'IP Address', value: '0:0:0:0:0:0:0:1' },
    ]);
    expect(splitSubjectAltName('email:"a\\"b@x", DNS:z')).toEqual([
      { type: 'email', value: 'a"b@x' },
      { type: 'DNS', value: 'z' },
    ]);
    expect(splitSubjectAltName(undefined)).toEqual([]);
    expect(splitSubjectAltName('')).toEqual([]);
  });

  test('canonicalIp matches Go net.IP.String', () => {
    expect(canonicalIp('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(canonicalIp('2001:DB8:0:0:0:0:0:7')).toBe('2001:db8::7');
    expect(canonicalIp('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    // RFC 5952: a single zero group is not compressed.
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(canonicalIp('10.0.0.7')).toBe('10.0.0.7');
    // Go prints an IPv4-mapped address as the IPv4 dotted quad.
    expect(canonicalIp('0:0:0:0:0:FFFF:A00:7')).toBe('10.0.0.7');
    expect(canonicalIp('::ffff:10.0.0.7')).toBe('10.0.0.7');
  });

  test('subjectAltNames of a real certificate and the compiled allow-list', () => {
    const sans = subjectAltNames(new X509Certificate(pki.clientMultiSan.certPem));
    expect(sans).toEqual({
      dns: [],
      email: ['scraper@example.com'],
      ip: ['10.0.0.7'],
      uri: ['spiffe://cluster/ns/monitoring/sa/prometheus'],
    });
    expect(compileAllowedSans(['10.0.0.7'])(sans)).toBe(true);
    expect(compileAllowedSans(['scraper'])(sans)).toBe(false);
    expect(compileAllowedSans(['2001:DB8::7'])(subjectAltNames(new X509Certificate(clientIpv6.certPem)))).toBe(true);
  });
});

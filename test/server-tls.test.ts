/**
 * The standalone server over REAL sockets and REAL TLS handshakes, mirroring exporter-toolkit's
 * own TLS suite (web/tls_config_test.go, web/handler_test.go): every client_auth_type against
 * every kind of client certificate, client_allowed_sans, TLS versions, cipher suites, curves,
 * HTTP/2 negotiation, plain HTTP and garbage on the TLS port, security headers, routing, rate
 * limits, the connection cap and the self-metrics the server keeps about all of it.
 */
import { X509Certificate } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { hash } from '@node-rs/bcrypt';
import { Counter, Registry } from 'prom-client';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import type { WebConfigInput, TlsServerConfigInput } from '../src/config/schema.js';
import type { LogFields, Logger } from '../src/log.js';
import { canonicalIp, compileAllowedSans, splitSubjectAltName, subjectAltNames } from '../src/tls/client-cert.js';
import { generateClientCert } from '../src/tools/pki/generate.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import { scrape, scrapeHttp2, type ScrapeOptions, type ScrapeResult } from './helpers/client.js';

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields;
}

function capturingLogger(lines: LogLine[]): Logger {
  const at = (level: LogLine['level']) => (message: string, fields?: LogFields) => lines.push({ level, message, fields: fields ?? {} });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface Running {
  guard: Guard;
  port: number;
  /** `https://127.0.0.1:PORT` (the server certificate names 127.0.0.1). */
  base: string;
  url: string;
  logs: LogLine[];
}

let pki: TestPki;
/** Client cert (signed by `ca`) with an IPv6 SAN written uncompressed. */
let clientIpv6: TestCert;
const guards: Guard[] = [];

beforeAll(async () => {
  pki = await testPki();
  const pair = await generateClientCert(pki.ca, { commonName: 'v6-scraper', sans: ['2001:db8:0:0:0:0:0:7'] });
  clientIpv6 = { ...pair, certFile: '', keyFile: '' };
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

function sourceRegistry(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [registry] });
  c.inc(3);
  return registry;
}

async function start(config: WebConfigInput, extra: Partial<GuardOptions> = {}): Promise<Running> {
  const logs: LogLine[] = [];
  const guard = await createGuard({ config, source: sourceRegistry(), logger: capturingLogger(logs), watch: false, ...extra });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  const port = bound!.port;
  const base = `https://127.0.0.1:${port}`;
  return { guard, port, base, url: `${base}${extra.telemetryPath ?? '/metrics'}`, logs };
}

/** `tls_server_config` with the ECDSA server cert (by file) plus `extra`. */
function tlsConfig(extra: TlsServerConfigInput = {}): TlsServerConfigInput {
  return { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ...extra };
}

function withClientCert(cert: TestCert | undefined, options: ScrapeOptions = {}): ScrapeOptions {
  return { ca: pki.ca.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}), ...options };
}

function expectServed(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

/** A refused handshake or a connection closed right after it: no HTTP status ever arrives. */
function expectRefused(r: ScrapeResult): void {
  expect(r.status, `unexpectedly answered ${r.status}`).toBeUndefined();
  expect(r.error).toBeDefined();
}

/** Opens a raw TCP connection, writes `bytes` (if any) and collects what comes back until close. */
function rawExchange(port: number, bytes: Buffer | string | undefined, giveUpMs = 3000): Promise<{ data: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    const socket = netConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: false, ms: performance.now() - t0 });
    }, giveUpMs);
    socket.on('connect', () => {
      if (bytes !== undefined) socket.write(bytes);
    });
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks).toString('latin1'), closed: true, ms: performance.now() - t0 });
    });
  });
}

/** A TLS connection that completes its handshake (or fails), kept open for the caller. */
function openTls(port: number): Promise<{ socket?: TLSSocket; error?: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca.certPem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ error: 'timeout' });
    }, 3000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve({ socket });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ error: 'closed' });
    });
  });
}

/** One HTTPS GET from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function scrapeFrom(localAddress: string, url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { agent: false, ca: pki.ca.certPem, localAddress, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    req.end();
  });
}

async function counterValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return NaN;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

// ---------------------------------------------------------------------------------------------
// 1. client_auth_type × client certificate
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// 2. client_allowed_sans
// ---------------------------------------------------------------------------------------------

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

  test('an IPv4-mapped IPv6 SAN is compared in Go\'s form (the dotted quad)', async () => {
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

// ---------------------------------------------------------------------------------------------
// 3. TLS versions
// ---------------------------------------------------------------------------------------------

describe('TLS versions', () => {
  // OpenSSL 3 refuses TLS < 1.2 at its default security level, on both sides.
  const legacyClient = (v: 'TLSv1' | 'TLSv1.1'): ScrapeOptions =>
    withClientCert(undefined, { minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' });

  test('default config negotiates TLS 1.3', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const r = await scrape(s.url, withClientCert(undefined));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1.3');
  });

  test('min_version TLS13 refuses a client that stops at TLS 1.2', async () => {
    const s = await start({ tls_server_config: tlsConfig({ min_version: 'TLS13' }) });
    expectRefused(await scrape(s.url, withClientCert(undefined, { maxVersion: 'TLSv1.2' })));
    expectServed(await scrape(s.url, withClientCert(undefined)));
  });

  test('max_version TLS12 negotiates TLS 1.2 with a default client', async () => {
    const s = await start({ tls_server_config: tlsConfig({ max_version: 'TLS12' }) });
    const r = await scrape(s.url, withClientCert(undefined));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1.2');
  });

  test('default min_version (TLS12) refuses a TLS 1.1 client', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const r = await scrape(s.url, legacyClient('TLSv1.1'));
    expectRefused(r);
  });

  test('min_version TLS11 accepts that same TLS 1.1 client (so the refusal above is the server)', async () => {
    const s = await start({ tls_server_config: tlsConfig({ min_version: 'TLS11' }) });
    const r = await scrape(s.url, legacyClient('TLSv1.1'));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1.1');
  });

  test('min_version TLS10 accepts a TLS 1.0 client', async () => {
    // Node 20 / OpenSSL 3.0 can still speak TLS 1.0 once both sides drop to SECLEVEL=0 (SHA-1
    // handshake signatures); scrapeguard does that on the server when min_version < TLS12.
    const s = await start({ tls_server_config: tlsConfig({ min_version: 'TLS10' }) });
    const r = await scrape(s.url, legacyClient('TLSv1'));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1');
    // A modern client still gets TLS 1.3 from the same server.
    const modern = await scrape(s.url, withClientCert(undefined));
    expect(modern.protocol).toBe('TLSv1.3');
  });
});

// ---------------------------------------------------------------------------------------------
// 4. cipher_suites
// ---------------------------------------------------------------------------------------------

describe('cipher_suites', () => {
  test('max_version TLS12 + one suite: that suite is negotiated', async () => {
    const s = await start({
      tls_server_config: tlsConfig({ max_version: 'TLS12', cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] }),
      http_server_config: { http2: false },
    });
    const r = await scrape(s.url, withClientCert(undefined));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1.2');
    expect(r.cipher).toBe('ECDHE-ECDSA-AES256-GCM-SHA384');
  });

  test('a client offering only a suite outside the list fails the handshake', async () => {
    const s = await start({
      tls_server_config: tlsConfig({ max_version: 'TLS12', cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] }),
      http_server_config: { http2: false },
    });
    expectRefused(await scrape(s.url, withClientCert(undefined, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })));
    // Control: the same client offering the listed suite is served.
    expectServed(await scrape(s.url, withClientCert(undefined, { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' })));
  });

  test('server order wins when several listed suites are offered (prefer_server_cipher_suites default)', async () => {
    const s = await start({
      tls_server_config: tlsConfig({
        max_version: 'TLS12',
        cipher_suites: ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
      }),
    });
    const r = await scrape(s.url, withClientCert(undefined, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305' }));
    expectServed(r);
    expect(r.cipher).toBe('ECDHE-ECDSA-CHACHA20-POLY1305');
  });

  test('TLS 1.3 still works when cipher_suites lists only TLS 1.2 suites (Go semantics)', async () => {
    const s = await start({
      tls_server_config: tlsConfig({ cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }),
    });
    const r = await scrape(s.url, withClientCert(undefined));
    expectServed(r);
    expect(r.protocol).toBe('TLSv1.3');
    expect(r.cipher).toMatch(/^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
  });

  test('RSA server certificate with TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', async () => {
    const s = await start({
      tls_server_config: {
        cert_file: pki.serverRsa.certFile,
        key_file: pki.serverRsa.keyFile,
        max_version: 'TLS12',
        cipher_suites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
      },
    });
    const r = await scrape(s.url, { ca: pki.rsaCa.certPem });
    expect(r.error, r.errorMessage).toBeUndefined();
    expect(r.status).toBe(200);
    expect(r.cipher).toBe('ECDHE-RSA-AES128-GCM-SHA256');
    // HTTP/2 over that suite, too (it is the RFC 7540 mandatory one).
    const h2 = await scrapeHttp2(s.url, { ca: pki.rsaCa.certPem });
    expect(h2.status).toBe(200);
    expect(h2.alpn).toBe('h2');
  });

  test('with HTTP/2 on, a suite list without an HTTP/2-capable suite is refused at load (as Go)', async () => {
    await expect(
      createGuard({
        config: { tls_server_config: tlsConfig({ max_version: 'TLS12', cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] }) },
        source: sourceRegistry(),
        logger: capturingLogger([]),
        watch: false,
      }),
    ).rejects.toThrow(/HTTP\/2 needs/);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. curve_preferences
// ---------------------------------------------------------------------------------------------

describe('curve_preferences', () => {
  test.each(['TLS12', 'TLS13'] as const)('[CurveP384] negotiates P-384 (%s)', async (version) => {
    const s = await start({ tls_server_config: tlsConfig({ curve_preferences: ['CurveP384'], max_version: version }) });
    const r = await scrape(s.url, withClientCert(undefined));
    expectServed(r);
    expect(r.group).toMatch(/^(P-384|secp384r1)$/);
  });

  test('a client offering only X25519 fails against [CurveP384]', async () => {
    const s = await start({ tls_server_config: tlsConfig({ curve_preferences: ['CurveP384'] }) });
    expectRefused(await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'X25519' })));
    expectRefused(await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'X25519', maxVersion: 'TLSv1.2' })));
  });

  test('TLS 1.2: the server\'s curve order wins (prefer_server_cipher_suites default)', async () => {
    const s = await start({ tls_server_config: tlsConfig({ curve_preferences: ['CurveP521', 'CurveP256'], max_version: 'TLS12' }) });
    const r = await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'P-256:P-521' }));
    expectServed(r);
    expect(r.group).toMatch(/^(P-521|secp521r1)$/);
    const only256 = await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'P-256' }));
    expectServed(only256);
    expect(only256.group).toMatch(/^(P-256|prime256v1)$/);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. HTTP/2
// ---------------------------------------------------------------------------------------------

describe('HTTP/2', () => {
  test('default: h2 is negotiated by ALPN, and HTTP/1.1 clients still work', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const h2 = await scrapeHttp2(s.url, withClientCert(undefined));
    expect(h2.error, h2.errorMessage).toBeUndefined();
    expect(h2.status).toBe(200);
    expect(h2.alpn).toBe('h2');
    expect(h2.body).toContain('demo_events_total 3');
    const h1 = await scrape(s.url, withClientCert(undefined));
    expectServed(h1);
  });

  test('http2: false — h2 is not offered, HTTP/1.1 works', async () => {
    const s = await start({ tls_server_config: tlsConfig(), http_server_config: { http2: false } });
    const h2 = await scrapeHttp2(s.url, withClientCert(undefined));
    expect(h2.status === 200 && h2.alpn === 'h2').toBe(false);
    // What ALPN does the server pick when offered both? Not h2.
    const probe = await new Promise<string | false | null>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: s.port, ca: pki.ca.certPem, servername: 'localhost', ALPNProtocols: ['h2', 'http/1.1'] });
      socket.once('secureConnect', () => {
        resolve(socket.alpnProtocol);
        socket.destroy();
      });
      socket.once('error', reject);
    });
    expect(probe).not.toBe('h2');
    expectServed(await scrape(s.url, withClientCert(undefined)));
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Non-TLS traffic on the TLS port
// ---------------------------------------------------------------------------------------------

describe('non-TLS traffic on the TLS port', () => {
  test('plain HTTP request → 400 with Go\'s exact body', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const r = await scrape(`http://127.0.0.1:${s.port}/metrics`);
    expect(r.status).toBe(400);
    expect(r.body).toBe('Client sent an HTTP request to an HTTPS server.\n');
    // The same on the wire, and the connection is closed.
    const raw = await rawExchange(s.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(raw.closed).toBe(true);
    expect(raw.data).toMatch(/^HTTP\/1\.[01] 400 Bad Request\r\n/);
    expect(raw.data.endsWith('\r\n\r\nClient sent an HTTP request to an HTTPS server.\n')).toBe(true);
  });

  test('garbage bytes → connection closed without an answer', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const raw = await rawExchange(s.port, Buffer.from([0x00, 0x01, 0x02, 0xff, 0x13, 0x37, 0x0a, 0x0d]));
    expect(raw.closed).toBe(true);
    expect(raw.data).toBe('');
    expect(raw.ms).toBeLessThan(1000);
  });

  test('a connection that sends nothing is closed after limits.read_header_timeout', async () => {
    const s = await start({ tls_server_config: tlsConfig(), limits: { read_header_timeout: '300ms' } });
    const raw = await rawExchange(s.port, undefined, 3000);
    expect(raw.closed).toBe(true);
    expect(raw.data).toBe('');
    expect(raw.ms).toBeGreaterThanOrEqual(250);
    expect(raw.ms).toBeLessThan(1500);
  });

  test.each([true, false])('a TLS handshake that stalls mid-ClientHello is closed after read_header_timeout (http2: %s)', async (http2) => {
    // Node hands handshake errors (ERR_TLS_HANDSHAKE_TIMEOUT included) to the server's
    // 'clientError' listener and leaves closing the socket to it.
    const s = await start({ tls_server_config: tlsConfig(), http_server_config: { http2 }, limits: { read_header_timeout: '300ms' } });
    // A TLS record header announcing a 512-byte ClientHello that never arrives in full.
    const raw = await rawExchange(s.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]), 3000);
    expect(raw.closed).toBe(true);
    expect(raw.data).toBe('');
    expect(raw.ms).toBeGreaterThanOrEqual(250);
    expect(raw.ms).toBeLessThan(1500);
    // Two deadlines guard the handshake (Node's handshakeTimeout and the server's absolute
    // limits.handshake_timeout from accept, equal here): whichever fires first logs it.
    expect(
      s.logs.some(
        (l) => (l.message === 'TLS handshake error' && /timeout/i.test(String(l.fields.reason))) || (l.message === 'connection refused' && l.fields.reason === 'handshake_timeout'),
      ),
    ).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// close() with connections still open
// ---------------------------------------------------------------------------------------------

describe('close() does not wait for clients to hang up', () => {
  test.each(['idle TLS connection', 'stalled handshake', 'silent TCP connection'] as const)('close(0) with a %s returns promptly and closes it', async (kind) => {
    const s = await start({ tls_server_config: tlsConfig() });
    let clientClosed = false;
    const markClosed = () => {
      clientClosed = true;
    };
    let held: { destroy(): void } | undefined;
    try {
      if (kind === 'idle TLS connection') {
        const c = await openTls(s.port);
        expect(c.error).toBeUndefined();
        c.socket!.on('close', markClosed);
        c.socket!.on('error', () => {});
        held = c.socket;
      } else {
        const raw = netConnect({ host: '127.0.0.1', port: s.port });
        raw.on('error', () => {});
        raw.on('close', markClosed);
        await new Promise((r) => raw.once('connect', r));
        if (kind === 'stalled handshake') raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
        held = raw;
        await new Promise((r) => setTimeout(r, 50));
      }
      const t0 = performance.now();
      const closing = s.guard.close(0);
      const outcome = await Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still waiting'), 2000))]);
      expect(outcome).toBe('closed');
      expect(performance.now() - t0).toBeLessThan(1000);
      await expect.poll(() => clientClosed).toBe(true);
    } finally {
      held?.destroy();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 8. Security headers
// ---------------------------------------------------------------------------------------------

describe('http_server_config.headers', () => {
  const HEADERS = {
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'X-XSS-Protection': '1; mode=block',
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'deny',
  };

  test.each([
    ['HTTP/1.1', scrape],
    ['HTTP/2', scrapeHttp2],
  ] as const)('all five appear, once each, on 200, 401 and 404 (%s)', async (_proto, client) => {
    const s = await start({
      tls_server_config: tlsConfig(),
      http_server_config: { headers: HEADERS },
      basic_auth_users: { alice: await hash('secret', { cost: 4 }) },
    });
    const ok = await client(s.url, withClientCert(undefined, { auth: 'alice:secret' }));
    const unauthorized = await client(s.url, withClientCert(undefined));
    const missing = await client(`${s.base}/other`, withClientCert(undefined, { auth: 'alice:secret' }));
    expect([ok.status, unauthorized.status, missing.status]).toEqual([200, 401, 404]);
    for (const r of [ok, unauthorized, missing]) {
      for (const [name, value] of Object.entries(HEADERS)) {
        expect(r.headers[name.toLowerCase()], `${name} on ${r.status}`).toBe(value);
      }
    }
    expect(unauthorized.headers['www-authenticate']).toMatch(/^Basic/);
  });
});

// ---------------------------------------------------------------------------------------------
// 9. Routing
// ---------------------------------------------------------------------------------------------

describe('routing', () => {
  test('GET and HEAD /metrics, POST → 405, other paths → 404', async () => {
    const s = await start({ tls_server_config: tlsConfig() });
    const get = await scrape(s.url, withClientCert(undefined));
    expectServed(get);
    expect(get.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);

    const head = await scrape(s.url, withClientCert(undefined, { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-type']).toBe(get.headers['content-type']);

    const post = await scrape(s.url, withClientCert(undefined, { method: 'POST' }));
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.body).not.toContain('demo_events_total');

    for (const path of ['/other', '/metrics/', '/metricsx', '/']) {
      const r = await scrape(`${s.base}${path}`, withClientCert(undefined));
      expect(r.status, path).toBe(404);
      expect(r.body).not.toContain('demo_events_total');
    }
    // A query string does not change the route.
    expect((await scrape(`${s.url}?x=1`, withClientCert(undefined))).status).toBe(200);
  });

  test("telemetryPath '/custom'", async () => {
    const s = await start({ tls_server_config: tlsConfig() }, { telemetryPath: '/custom' });
    expectServed(await scrape(`${s.base}/custom`, withClientCert(undefined)));
    expect((await scrape(`${s.base}/metrics`, withClientCert(undefined))).status).toBe(404);
  });
});

// ---------------------------------------------------------------------------------------------
// 10. Limits
// ---------------------------------------------------------------------------------------------

describe('limits', () => {
  const expectRetryAfter = (r: ScrapeResult) => {
    expect(r.status).toBe(429);
    const retry = r.headers['retry-after'];
    expect(typeof retry).toBe('string');
    expect(retry).toMatch(/^\d+$/);
    expect(Number(retry)).toBeGreaterThanOrEqual(1);
  };

  test('rate_limit {interval: 1s, burst: 2}: the third rapid request gets 429 + Retry-After', async () => {
    const s = await start({ tls_server_config: tlsConfig(), rate_limit: { interval: '1s', burst: 2 } });
    const results: ScrapeResult[] = [];
    for (let i = 0; i < 3; i++) results.push(await scrape(s.url, withClientCert(undefined)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 429]);
    expectRetryAfter(results[2]!);
    // Global: another client address is refused as well.
    expect(await scrapeFrom('127.0.0.2', s.url)).toBe(429);
  });

  test('limits.per_client_rate_limit: per remote address', async () => {
    const s = await start({ tls_server_config: tlsConfig(), limits: { per_client_rate_limit: { interval: '1s', burst: 2 } } });
    const results: ScrapeResult[] = [];
    for (let i = 0; i < 3; i++) results.push(await scrape(s.url, withClientCert(undefined)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 429]);
    expectRetryAfter(results[2]!);
    // Another client has its own bucket.
    expect(await scrapeFrom('127.0.0.2', s.url)).toBe(200);
  });

  test('limits.max_connections: 2 — a third concurrent connection is closed', async () => {
    const s = await start({ tls_server_config: tlsConfig(), limits: { max_connections: 2 } });
    const a = await openTls(s.port);
    const b = await openTls(s.port);
    try {
      expect(a.error).toBeUndefined();
      expect(b.error).toBeUndefined();
      const c = await openTls(s.port);
      c.socket?.destroy();
      expect(c.socket).toBeUndefined();
      expect(c.error).toBeDefined();
      const r = await scrape(s.url, withClientCert(undefined));
      expectRefused(r);
    } finally {
      a.socket?.destroy();
      b.socket?.destroy();
    }
    // Once the held connections are gone, new ones are served again.
    let again: ScrapeResult | undefined;
    for (let i = 0; i < 50; i++) {
      again = await scrape(s.url, withClientCert(undefined));
      if (again.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expectServed(again!);
  });
});

// ---------------------------------------------------------------------------------------------
// 11. Self-metrics
// ---------------------------------------------------------------------------------------------

describe('self-metrics', () => {
  test('handshake errors are counted; the serving certificate expiry is exported', async () => {
    const self = new Registry();
    const s = await start(
      { tls_server_config: tlsConfig({ client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: pki.ca.certFile, client_allowed_sans: ['prometheus'] }) },
      { selfMetrics: self },
    );
    const notAfter = Math.floor(new Date(new X509Certificate(pki.server.certPem).validTo).getTime() / 1000);
    expect(await counterValue(self, 'scrapeguard_serving_certificate_not_after_seconds')).toBe(notAfter);

    const name = 'scrapeguard_tls_handshake_errors_total';
    expect(await counterValue(self, name)).toBe(0);
    expectServed(await scrape(s.url, withClientCert(pki.client)));
    expect(await counterValue(self, name)).toBe(0);

    // Untrusted certificate: refused inside OpenSSL.
    expectRefused(await scrape(s.url, withClientCert(pki.clientOtherCa)));
    await expect.poll(() => counterValue(self, name)).toBe(1);
    // Trusted certificate without an allowed SAN: refused by the policy.
    expectRefused(await scrape(s.url, withClientCert(pki.clientWrongSan)));
    await expect.poll(() => counterValue(self, name, { reason: 'san_not_allowed' })).toBe(1);
    // Plain HTTP on the TLS port.
    await scrape(`http://127.0.0.1:${s.port}/metrics`);
    await expect.poll(() => counterValue(self, name, { reason: 'plain_http' })).toBe(1);
    expect(await counterValue(self, name)).toBe(3);

    expect(await counterValue(self, 'scrapeguard_requests_total', { code: '200' })).toBe(1);
  });

  test('VerifyClientCertIfGiven refusal of an expired certificate is counted as expired', async () => {
    const self = new Registry();
    const s = await start(
      { tls_server_config: tlsConfig({ client_auth_type: 'VerifyClientCertIfGiven', client_ca_file: pki.ca.certFile }) },
      { selfMetrics: self },
    );
    expectRefused(await scrape(s.url, withClientCert(pki.clientExpired)));
    await expect.poll(() => counterValue(self, 'scrapeguard_tls_handshake_errors_total', { reason: 'expired' })).toBe(1);
  });

  test('rate-limit refusals are counted by scope', async () => {
    const self = new Registry();
    const s = await start({ tls_server_config: tlsConfig(), rate_limit: { interval: '10s', burst: 1 } }, { selfMetrics: self });
    await scrape(s.url, withClientCert(undefined));
    expect((await scrape(s.url, withClientCert(undefined))).status).toBe(429);
    expect(await counterValue(self, 'scrapeguard_rate_limited_total', { scope: 'global' })).toBe(1);
    expect(await counterValue(self, 'scrapeguard_requests_total', { code: '429' })).toBe(1);
  });
});

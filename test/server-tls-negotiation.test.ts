/**
 * What the standalone server negotiates over real TLS handshakes: TLS versions (min/max, the
 * TLS 1.2 default floor), cipher suites (Go's semantics for TLS 1.3 and server order), curve
 * preferences, and HTTP/2 by ALPN.
 */
import { connect as tlsConnect } from 'node:tls';
import { describe, expect, test } from 'vitest';
import { createGuard } from '../src/guard.js';
import { scrape, scrapeHttp2, type ScrapeOptions } from './helpers/client.js';
import { capturingLogger } from './helpers/logger.js';
import { expectRefused, expectServed, pki, sourceRegistry, start, tlsConfig, useTlsServer, withClientCert } from './helpers/tls-server.js';

useTlsServer();

describe('TLS versions', () => {
  // OpenSSL 3 refuses TLS < 1.2 at its default security level, on both sides.
  const legacyClient = (v: 'TLSv1' | 'TLSv1.1'): ScrapeOptions => withClientCert(undefined, { minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' });

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

  test("TLS 1.2: the server's curve order wins (prefer_server_cipher_suites default)", async () => {
    const s = await start({ tls_server_config: tlsConfig({ curve_preferences: ['CurveP521', 'CurveP256'], max_version: 'TLS12' }) });
    const r = await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'P-256:P-521' }));
    expectServed(r);
    expect(r.group).toMatch(/^(P-521|secp521r1)$/);
    const only256 = await scrape(s.url, withClientCert(undefined, { ecdhCurve: 'P-256' }));
    expectServed(only256);
    expect(only256.group).toMatch(/^(P-256|prime256v1)$/);
  });
});

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

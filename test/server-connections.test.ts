/**
 * How the standalone server treats connections over real sockets: plain HTTP and garbage on the
 * TLS port, stalled connections and handshakes (read_header_timeout), close() with clients still
 * connected, rate limits and the connection cap, and the self-metrics it keeps about refusals.
 */
import { X509Certificate } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { scrape, type ScrapeResult } from './helpers/client.js';
import {
  counterValue,
  expectRefused,
  expectServed,
  openTls,
  pki,
  rawExchange,
  scrapeFrom,
  start,
  tlsConfig,
  useTlsServer,
  withClientCert,
} from './helpers/tls-server.js';

useTlsServer();

describe('non-TLS traffic on the TLS port', () => {
  test("plain HTTP request → 400 with Go's exact body", async () => {
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
        (l) =>
          (l.message === 'TLS handshake error' && /timeout/i.test(String(l.fields.reason))) ||
          (l.message === 'connection refused' && l.fields.reason === 'handshake_timeout'),
      ),
    ).toBe(true);
  });
});

describe('close() does not wait for clients to hang up', () => {
  test.each(['idle TLS connection', 'stalled handshake', 'silent TCP connection'] as const)(
    'close(0) with a %s returns promptly and closes it',
    async (kind) => {
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
    },
  );
});

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

describe('self-metrics', () => {
  test('handshake errors are counted; the serving certificate expiry is exported', async () => {
    const self = new Registry();
    const s = await start(
      {
        tls_server_config: tlsConfig({ client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: pki.ca.certFile, client_allowed_sans: ['prometheus'] }),
      },
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

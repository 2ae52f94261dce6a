/**
 * What the standalone server answers over HTTPS: the security headers of
 * http_server_config.headers, and routing (GET and HEAD on the telemetry path, 405, 404, a custom
 * telemetryPath).
 */
import { hash } from '@node-rs/bcrypt';
import { describe, expect, test } from 'vitest';
import { scrape, scrapeHttp2 } from './helpers/client.js';
import { expectServed, start, tlsConfig, useTlsServer, withClientCert } from './helpers/tls-server.js';

useTlsServer();

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

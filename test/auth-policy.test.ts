/**
 * What surrounds authentication over REAL HTTPS: auth_excluded_paths, brute-force backoff
 * (429 + Retry-After, exponential, reset on success, off unless configured), and the self-metrics
 * that count failure reasons, access denials and hold-offs.
 * At the end, every log line and audit line the file produced is scanned for every credential it
 * used (test/helpers/identity.ts).
 */
import { Registry } from 'prom-client';
import { describe, expect, test } from 'vitest';
import { bearer, expectInvalidToken, expectServed, file, get, newToken, sha256, start, tls, useIdentityHarness } from './helpers/identity.js';

useIdentityHarness({ minCredentials: 10, minAuditLines: 15 });

describe('auth_excluded_paths', () => {
  test('listed paths answer 200 OK without credentials; the metrics still need them', async () => {
    const token = newToken();
    const g = await start({
      tls_server_config: tls(),
      bearer_auth: { tokens: [{ name: 'p', token_sha256: sha256(token) }] },
      auth_excluded_paths: ['/healthz', '/ready'],
    });
    for (const path of ['/healthz', '/ready']) {
      const r = await get(`${g.base}${path}`);
      expect(r.status).toBe(200);
      expect(r.body).toBe('OK\n');
    }
    expect((await get(`${g.base}/healthz`, undefined, { method: 'POST' })).status).toBe(405);
    expect((await get(g.url)).status).toBe(401);
    expect((await get(`${g.base}/other`)).status).toBe(401); // not excluded: authentication first
    expect(g.audit[0]).toMatchObject({ path: '/healthz', status: 200, principal: null });
  });

  test('the telemetry path is refused unless forced; forced, it is served to anonymous', async () => {
    const token = newToken();
    const bearerAuth = { tokens: [{ name: 'p', token_sha256: sha256(token) }] };
    await expect(start({ tls_server_config: tls(), bearer_auth: bearerAuth, auth_excluded_paths: ['/metrics'] })).rejects.toThrow(/telemetry path/);
    await expect(start({ tls_server_config: tls(), bearer_auth: bearerAuth, auth_excluded_paths: ['/custom'] }, { telemetryPath: '/custom' })).rejects.toThrow(
      /\/custom is the telemetry path/,
    );
    const g = await start({ tls_server_config: tls(), bearer_auth: bearerAuth, auth_excluded_paths: [{ path: '/metrics', force: true }] });
    expectServed(await get(g.url));
    expect(g.audit[0]).toMatchObject({ principal: 'anonymous', auth_method: 'none' });
  });
});

describe('brute-force backoff', () => {
  test('429 + Retry-After after N failures; exponential; a success resets the count', async () => {
    const token = newToken();
    const g = await start({
      tls_server_config: tls(),
      bearer_auth: { tokens: [{ name: 'p', token_sha256: sha256(token) }] },
      limits: { auth_failure_backoff: { threshold: 3, base_delay: '1s', max_delay: '8s' } },
    });
    // Two failures, then a success: the count starts over.
    for (let i = 0; i < 2; i++) expectInvalidToken(await get(g.url, bearer(newToken())));
    expectServed(await get(g.url, bearer(token)));
    for (let i = 0; i < 2; i++) expectInvalidToken(await get(g.url, bearer(newToken())));
    expectServed(await get(g.url, bearer(token)));

    // Three failures in a row: held off for 1s; the next request is refused before any check.
    for (let i = 0; i < 3; i++) expectInvalidToken(await get(g.url, bearer(newToken())));
    const held = await get(g.url, bearer(token));
    expect(held.status).toBe(429);
    expect(held.headers['retry-after']).toBe('1');
    expect(g.audit.at(-1)?.reason).toBe('auth_backoff');
    // Held off means held off: even without a credential the answer is 429.
    expect((await get(g.url)).status).toBe(429);
    await new Promise((r) => setTimeout(r, 1050));
    expectInvalidToken(await get(g.url, bearer(newToken()))); // 4th failure: 2s
    const again = await get(g.url, bearer(token));
    expect(again.status).toBe(429);
    expect(Number(again.headers['retry-after'])).toBe(2);
    await new Promise((r) => setTimeout(r, 2050));
    expectServed(await get(g.url, bearer(token)));
  });

  test('off unless configured (exporter-toolkit behaviour)', async () => {
    const token = newToken();
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'p', token_sha256: sha256(token) }] } });
    for (let i = 0; i < 12; i++) expectInvalidToken(await get(g.url, bearer(newToken())));
    expectServed(await get(g.url, bearer(token)));
  });
});

describe('self-metrics', () => {
  test('auth failure reasons, access denials and backoff hold-offs are counted', async () => {
    const ok = newToken();
    const revokedToken = newToken();
    const outsider = newToken();
    const revoked = file('metrics-revoked.txt', `${sha256(revokedToken)}\n`);
    const self = new Registry();
    const g = await start(
      {
        tls_server_config: tls(),
        bearer_auth: {
          tokens: [
            { name: 'ok', token_sha256: sha256(ok), groups: ['ops'] },
            { name: 'gone', token_sha256: sha256(revokedToken), groups: ['ops'] },
            { name: 'outsider', token_sha256: sha256(outsider), groups: ['marketing'] },
          ],
          revoked_sha256_file: revoked,
        },
        access_rules: { rules: [{ groups: ['ops'] }] },
        limits: { auth_failure_backoff: { threshold: 2, base_delay: '10s', max_delay: '10s', forget_after: '1m' } },
      },
      { selfMetrics: self },
    );
    expectServed(await get(g.url, bearer(ok)));
    expect((await get(g.url, bearer(outsider))).status).toBe(403);
    expectInvalidToken(await get(g.url, bearer(revokedToken)));
    expectInvalidToken(await get(g.url, bearer(newToken())));
    expect((await get(g.url, bearer(ok))).status).toBe(429);
    const text = await self.metrics();
    expect(text).toContain('scrapeguard_auth_failures_total{reason="revoked"} 1');
    expect(text).toContain('scrapeguard_auth_failures_total{reason="invalid_token"} 1');
    expect(text).toContain('scrapeguard_auth_failures_total{reason="insufficient_scope"} 0');
    expect(text).toContain('scrapeguard_access_denied_total{reason="no_rule"} 1');
    expect(text).toContain('scrapeguard_access_denied_total{reason="empty"} 0');
    expect(text).toContain('scrapeguard_rate_limited_total{scope="auth_failures"} 1');
    expect(text).toContain('scrapeguard_audit_write_errors_total 0');
    expect(g.logs.some((l) => l.startsWith('info access denied') && l.includes('"principal":"outsider"'))).toBe(true);
    expect(g.logs.some((l) => l.startsWith('warn authentication failures from client'))).toBe(true);
  });
});

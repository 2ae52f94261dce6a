/**
 * Static bearer tokens over REAL HTTPS: right, wrong and missing tokens, the scheme's case, HTTP/2,
 * expiry, the revocation file and token_file changed while the guard runs (fail closed on a broken
 * file), and the audit record of each request.
 * At the end, every log line and audit line the file produced is scanned for every credential it
 * used (test/helpers/identity.ts).
 */
import { writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { scrapeHttp2 } from './helpers/client.js';
import {
  basic,
  bearer,
  eventually,
  expectInvalidToken,
  expectServed,
  file,
  get,
  newToken,
  pki,
  sha256,
  start,
  tls,
  useIdentityHarness,
} from './helpers/identity.js';

useIdentityHarness({ minCredentials: 5, minAuditLines: 20 });

describe('bearer_auth', () => {
  test('right token → 200; wrong → 401 invalid_token; missing → challenge without error', async () => {
    const token = newToken();
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'prometheus', token_sha256: sha256(token), groups: ['ops'] }] } });
    expectServed(await get(g.url, bearer(token)));
    expectInvalidToken(await get(g.url, bearer(newToken())));
    expectInvalidToken(await get(g.url, bearer(sha256(token)))); // the digest itself is not a token
    const missing = await get(g.url);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    // A malformed bearer value is invalid_request (RFC 6750 §3.1).
    const malformed = await get(g.url, 'Bearer two words');
    expect(malformed.status).toBe(401);
    expect(malformed.headers['www-authenticate']).toBe('Bearer realm="metrics", error="invalid_request"');
    // Basic is not enabled: it is refused, never passed on.
    const wrongScheme = await get(g.url, basic('prometheus', token));
    expect(wrongScheme.status).toBe(401);
    expect(wrongScheme.headers['www-authenticate']).toBe('Bearer realm="metrics"');

    expect(g.audit[0]).toMatchObject({ principal: 'prometheus', auth_method: 'bearer', groups: ['ops'], status: 200, reason: null });
    expect(g.audit.slice(1).map((a) => [a.status, a.reason, a.principal])).toEqual([
      [401, 'invalid_token', null],
      [401, 'invalid_token', null],
      [401, 'missing', null],
      [401, 'malformed', null],
      [401, 'malformed', null],
    ]);
  });

  test('scheme is case-insensitive (RFC 7235 §2.1); HTTP/2 carries the header the same way', async () => {
    const token = newToken();
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'p', token_sha256: sha256(token) }] } });
    expectServed(await get(g.url, `bearer ${token}`));
    expectServed(await get(g.url, `BEARER ${token}`));
    const h2 = await scrapeHttp2(g.url, { ca: pki.ca.certPem, headers: { authorization: bearer(token) } });
    expect(h2.alpn).toBe('h2');
    expectServed(h2);
    expectInvalidToken(await scrapeHttp2(g.url, { ca: pki.ca.certPem, headers: { authorization: bearer(newToken()) } }));
  });

  test('expired token → 401 invalid_token, audit reason expired; a future expiry is served', async () => {
    const old = newToken();
    const current = newToken();
    const g = await start({
      tls_server_config: tls(),
      bearer_auth: {
        tokens: [
          { name: 'old', token_sha256: sha256(old), expires_at: '2020-01-01T00:00:00Z' },
          { name: 'current', token_sha256: sha256(current), expires_at: '2999-01-01T00:00:00Z' },
        ],
      },
    });
    expectInvalidToken(await get(g.url, bearer(old)));
    expectServed(await get(g.url, bearer(current)));
    expect(g.audit.map((a) => a.reason)).toEqual(['expired', null]);
  });

  test('revocation file: revoked on start; editing the file revokes a live token without restart', async () => {
    const a = newToken();
    const b = newToken();
    const revoked = file('revoked.txt', `# revoked tokens\n${sha256(a)}\n`);
    const g = await start(
      {
        tls_server_config: tls(),
        bearer_auth: {
          tokens: [
            { name: 'a', token_sha256: sha256(a) },
            { name: 'b', token_sha256: sha256(b) },
          ],
          revoked_sha256_file: revoked,
        },
      },
      { watch: true, watchPollMs: 100 },
    );
    expectInvalidToken(await get(g.url, bearer(a)));
    expectServed(await get(g.url, bearer(b)));
    expect(g.audit.map((r) => r.reason)).toEqual(['revoked', null]);

    writeFileSync(revoked, `${sha256(a)}\n${sha256(b).toUpperCase()}\n`);
    await eventually(async () => (await get(g.url, bearer(b))).status === 401);
    expectInvalidToken(await get(g.url, bearer(b)));
    expect(g.audit.at(-1)?.reason).toBe('revoked');
    // Un-revoking works the same way.
    writeFileSync(revoked, '');
    await eventually(async () => (await get(g.url, bearer(b))).status === 200);
  });

  test('a broken revocation file keeps the last good config (fail closed, not open)', async () => {
    const a = newToken();
    const revoked = file('revoked-broken.txt', `${sha256(a)}\n`);
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'a', token_sha256: sha256(a) }], revoked_sha256_file: revoked } });
    writeFileSync(revoked, 'not-a-digest\n');
    expect(await g.guard.reload()).toBe(false);
    expectInvalidToken(await get(g.url, bearer(a)));
    expect(g.logs.some((l) => l.includes('reload failed') && l.includes('line 1'))).toBe(true);
  });

  test('token_file: read at load, rotated in place while running', async () => {
    const first = newToken();
    const second = newToken();
    const tokenFile = file('prometheus.token', `${first}\n`);
    const g = await start(
      { tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'k8s', token_file: tokenFile, groups: ['ops'] }] } },
      { watch: true, watchPollMs: 100 },
    );
    expectServed(await get(g.url, bearer(first)));
    writeFileSync(tokenFile, second);
    await eventually(async () => (await get(g.url, bearer(second))).status === 200);
    expectInvalidToken(await get(g.url, bearer(first)));
    expect(g.audit.at(-2)).toMatchObject({ principal: 'k8s', groups: ['ops'] });
  });
});

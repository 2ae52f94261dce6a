/**
 * Client-certificate identities over REAL mTLS (principal from DNS or URI SAN, groups from OU or
 * a SAN map, the audit record field by field), and several methods on one guard: each credential
 * selects its method, with no fall-through from a wrong credential to a valid certificate.
 * At the end, every log line and audit line the file produced is scanned for every credential it
 * used (test/helpers/identity.ts).
 */
import { hash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  basic,
  bearer,
  expectInvalidToken,
  expectServed,
  file,
  get,
  guards,
  mint,
  mtls,
  newToken,
  opsClient,
  pki,
  secret,
  sha256,
  signingKey,
  start,
  useIdentityHarness,
  type Running,
  type SigningKey,
} from './helpers/identity.js';

useIdentityHarness({ minCredentials: 3, minAuditLines: 8 });

describe('client_cert_auth', () => {
  test('principal from the DNS SAN, groups from OU', async () => {
    const g = await start({ tls_server_config: mtls(), client_cert_auth: { principal_from: 'san_dns', groups_from: 'ou' } });
    expectServed(await get(g.url, undefined, { cert: opsClient.certPem, key: opsClient.keyPem }));
    expect(g.audit[0]).toMatchObject({ principal: 'ops-scraper.monitoring.svc', auth_method: 'client_cert', groups: ['ops'] });
    // No certificate and no other method: nothing to challenge with → 403.
    const none = await get(g.url);
    expect(none.status).toBe(403);
    expect(none.headers['www-authenticate']).toBeUndefined();
    expect(g.audit[1]?.reason).toBe('missing');
  });

  test('principal from the URI SAN (SPIFFE), groups from a SAN map; cn', async () => {
    const spiffe = 'spiffe://cluster/ns/monitoring/sa/prometheus';
    const g = await start({
      tls_server_config: mtls(),
      client_cert_auth: { principal_from: 'san_uri', groups_from: { san_map: { [spiffe]: ['ops', 'compliance'] } } },
    });
    expectServed(await get(g.url, undefined, { cert: pki.clientMultiSan.certPem, key: pki.clientMultiSan.keyPem }));
    expect(g.audit[0]).toMatchObject({ principal: spiffe, groups: ['ops', 'compliance'] });
    // A verified certificate without a URI SAN has no identity here → 403, logged.
    const r = await get(g.url, undefined, { cert: pki.client.certPem, key: pki.client.keyPem });
    expect(r.status).toBe(403);
    expect(g.audit[1]?.reason).toBe('no_identity');

    const byCn = await start({ tls_server_config: mtls(), client_cert_auth: { principal_from: 'cn' } });
    expectServed(await get(byCn.url, undefined, { cert: pki.client.certPem, key: pki.client.keyPem }));
    expect(byCn.audit[0]?.principal).toBe('prometheus');
  });

  test('audit record of an mTLS scrape, field by field', async () => {
    const g = await start({ tls_server_config: mtls(), client_cert_auth: { principal_from: 'san_dns', groups_from: 'ou' } });
    const before = Date.now();
    const r = await get(g.url, undefined, { cert: opsClient.certPem, key: opsClient.keyPem });
    expectServed(r);
    const a = g.audit[0]!;
    expect(Object.keys(a).sort()).toEqual(
      [
        'auth_method',
        'bytes',
        'client_cert_subject',
        'duration_ms',
        'groups',
        'method',
        'path',
        'principal',
        'reason',
        'remote_address',
        'series_returned',
        'series_withheld',
        'status',
        'time',
        'tls_version',
      ].sort(),
    );
    expect(Date.parse(a.time)).toBeGreaterThanOrEqual(before - 1000);
    expect(a.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(a.principal).toBe('ops-scraper.monitoring.svc');
    expect(a.auth_method).toBe('client_cert');
    expect(a.groups).toEqual(['ops']);
    expect(a.remote_address).toBe('127.0.0.1');
    expect(a.tls_version).toBe(r.protocol);
    expect(a.client_cert_subject).toContain('CN=ops-scraper');
    expect(a.client_cert_subject).toContain('OU=ops');
    expect(a.method).toBe('GET');
    expect(a.path).toBe('/metrics');
    expect(a.status).toBe(200);
    expect(a.bytes).toBe(Buffer.byteLength(r.body));
    // The exposition pass counts what it wrote and what the caller's rule withheld (no rule here).
    expect(a.series_returned).toBe(r.body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length);
    expect(a.series_returned).toBeGreaterThan(0);
    expect(a.series_withheld).toBe(0);
    expect(a.duration_ms).toBeGreaterThan(0);
    expect(a.duration_ms).toBeLessThan(5000);
    expect(a.reason).toBeNull();
  });
});

describe('several methods at once', () => {
  let g: Running;
  let token: string;
  let jwtKey: SigningKey;
  const password = secret('correct horse battery staple');
  beforeAll(async () => {
    token = newToken();
    jwtKey = await signingKey('mixed');
    const jwks = file('mixed-jwks.json', JSON.stringify({ keys: [jwtKey.jwk] }));
    g = await start({
      tls_server_config: mtls(),
      basic_auth_users: { alice: await hash(password, { cost: 4 }) },
      bearer_auth: { tokens: [{ name: 'static-prom', token_sha256: sha256(token) }] },
      jwt_auth: { jwks_file: jwks, issuer: 'https://issuer.example', audience: 'metrics' },
      client_cert_auth: { principal_from: 'san_dns', groups_from: 'ou' },
    });
    guards.splice(guards.indexOf(g.guard), 1); // shared by this block
  });
  afterAll(() => g.guard.close(0));

  test('each credential selects its method', async () => {
    const n = g.audit.length;
    expectServed(await get(g.url, basic('alice', password)));
    expectServed(await get(g.url, bearer(token)));
    expectServed(await get(g.url, bearer(await mint(jwtKey))));
    expectServed(await get(g.url, undefined, { cert: opsClient.certPem, key: opsClient.keyPem }));
    expect(g.audit.slice(n).map((a) => [a.auth_method, a.principal])).toEqual([
      ['basic', 'alice'],
      ['bearer', 'static-prom'],
      ['jwt', 'prometheus'],
      ['client_cert', 'ops-scraper.monitoring.svc'],
    ]);
  });

  test('a wrong credential fails even with a valid client certificate (no fall-through)', async () => {
    const cert = { cert: opsClient.certPem, key: opsClient.keyPem };
    const wrongBasic = await get(g.url, basic('alice', 'nope'), cert);
    expect(wrongBasic.status).toBe(401);
    expect(wrongBasic.headers['www-authenticate']).toBe('Basic realm="metrics"');
    expectInvalidToken(await get(g.url, bearer(newToken()), cert));
    expectInvalidToken(await get(g.url, bearer(await mint(jwtKey, { aud: 'other' })), cert));
    const otherScheme = await get(g.url, 'Digest username="alice"', cert);
    expect(otherScheme.status).toBe(401);
  });

  test('a JWT-shaped bearer value goes to jwt_auth only', async () => {
    // JWT-shaped bearer values go to jwt_auth only; the choice depends on the credential's shape.
    expectInvalidToken(await get(g.url, bearer('aaa.bbb.ccc')));
  });

  test('missing credential → 401 with one challenge per scheme', async () => {
    const r = await get(g.url);
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="metrics", Bearer realm="metrics"');
  });
});

/**
 * JWTs over REAL HTTPS: a local JWK Set (issuer, audience, expiry, scope, kid, alg none, HS256
 * with secret_file, principal_claim) and a JWK Set served by a real local HTTP server (fetched once,
 * cached, refetched on an unknown kid after the cooldown, kept while the IdP is down, 503 when no
 * key was ever fetched).
 * At the end, every log line and audit line the file produced is scanned for every credential it
 * used (test/helpers/identity.ts).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, test } from 'vitest';
import type { WebConfigInput } from '../src/config/schema.js';
import {
  bearer,
  dir,
  expectInvalidToken,
  expectServed,
  file,
  get,
  mint,
  pki,
  secret,
  servers,
  signingKey,
  start,
  tls,
  unsignedJwt,
  useIdentityHarness,
  type SigningKey,
} from './helpers/identity.js';

useIdentityHarness({ minCredentials: 25, minAuditLines: 25 });

describe('jwt_auth with a local JWK Set', () => {
  let key: SigningKey;
  let other: SigningKey;
  let jwksFile: string;
  beforeAll(async () => {
    key = await signingKey('k1');
    other = await signingKey('k1'); // same kid, different key: a forgery attempt
    jwksFile = file('jwks.json', JSON.stringify({ keys: [key.jwk] }));
  });
  const config = (extra: Record<string, unknown> = {}): WebConfigInput => ({
    tls_server_config: tls(),
    jwt_auth: {
      jwks_file: jwksFile,
      issuer: 'https://issuer.example',
      audience: 'metrics',
      required_scopes: ['metrics:read'],
      groups_claim: 'groups',
      ...extra,
    },
  });

  test('valid token → 200 with principal from sub and groups from the claim', async () => {
    const g = await start(config());
    expectServed(await get(g.url, bearer(await mint(key, { scope: 'openid metrics:read', groups: ['developers', 'ops'] }))));
    expectServed(await get(g.url, bearer(await mint(key, { sub: 'svc-b', scp: ['metrics:read'] }))));
    expect(g.audit.map((a) => [a.principal, a.auth_method, a.groups])).toEqual([
      ['prometheus', 'jwt', ['developers', 'ops']],
      ['svc-b', 'jwt', []],
    ]);
  });

  test('wrong issuer, wrong audience, expired, foreign key, garbage, no exp → 401 invalid_token', async () => {
    const g = await start(config());
    const cases = [
      await mint(key, { scope: 'metrics:read', iss: 'https://evil.example' }),
      await mint(key, { scope: 'metrics:read', aud: 'other-service' }),
      await mint(key, { scope: 'metrics:read', expiresIn: -120 }),
      await mint(other, { scope: 'metrics:read' }),
      secret('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'),
    ];
    // A token without exp would never expire: refused.
    cases.push(
      secret(
        await new SignJWT({ scope: 'metrics:read' })
          .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
          .setSubject('forever')
          .setIssuer('https://issuer.example')
          .setAudience('metrics')
          .sign(key.privateKey),
      ),
    );
    for (const jwt of cases) expectInvalidToken(await get(g.url, bearer(jwt)));
    expect(g.audit.map((a) => a.reason)).toEqual(['invalid_token', 'invalid_token', 'expired', 'invalid_token', 'invalid_token', 'invalid_token']);
    expect(g.audit.every((a) => a.auth_method === 'jwt' && a.principal === null)).toBe(true);
  });

  test('missing scope → 403 insufficient_scope naming the scope (RFC 6750 §3.1)', async () => {
    const g = await start(config());
    const r = await get(g.url, bearer(await mint(key, { scope: 'openid profile' })));
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="metrics", error="insufficient_scope", scope="metrics:read"');
    expect(g.audit[0]).toMatchObject({ status: 403, reason: 'insufficient_scope', auth_method: 'jwt' });
  });

  test('unknown kid → 401 (no key to verify with)', async () => {
    const g = await start(config());
    expectInvalidToken(await get(g.url, bearer(await mint(key, { scope: 'metrics:read', kid: 'k-unknown' }))));
    expect(g.audit[0]?.reason).toBe('unknown_key');
  });

  test('alg none is refused; an HS256 token is refused without secret_file', async () => {
    const g = await start(config());
    expectInvalidToken(
      await get(g.url, bearer(unsignedJwt({ sub: 'admin', iss: 'https://issuer.example', aud: 'metrics', scope: 'metrics:read', exp: 9999999999 }))),
    );
    // HS256 "signed" with the public key's text: the classic algorithm-confusion forgery.
    const hs = await new SignJWT({ scope: 'metrics:read' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setSubject('admin')
      .setIssuer('https://issuer.example')
      .setAudience('metrics')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(key.jwk)));
    expectInvalidToken(await get(g.url, bearer(secret(hs))));
  });

  test('HS256 with secret_file is accepted, and only with that secret', async () => {
    const hmac = secret(randomBytes(32).toString('hex'));
    const secretFile = file('hmac.secret', `${hmac}\n`);
    const g = await start({ tls_server_config: tls(), jwt_auth: { secret_file: secretFile, algorithms: ['HS256'], issuer: 'local', audience: 'metrics' } });
    const sign = async (s: string) =>
      secret(
        await new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('ci')
          .setIssuer('local')
          .setAudience('metrics')
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(s)),
      );
    expectServed(await get(g.url, bearer(await sign(hmac))));
    expectInvalidToken(await get(g.url, bearer(await sign(secret(randomBytes(32).toString('hex'))))));
  });

  test('principal_claim picks another claim; a token without it is refused', async () => {
    const g = await start(config({ principal_claim: 'client_id' }));
    const withClaim = secret(
      await new SignJWT({ client_id: 'prom-oauth2', scope: 'metrics:read' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://issuer.example')
        .setAudience('metrics')
        .setExpirationTime('5m')
        .sign(key.privateKey),
    );
    expectServed(await get(g.url, bearer(withClaim)));
    expectInvalidToken(await get(g.url, bearer(await mint(key, { scope: 'metrics:read' }))));
    expect(g.audit[0]?.principal).toBe('prom-oauth2');
  });
});

describe('jwt_auth with a JWK Set URL', () => {
  /** A real HTTP server on loopback serving `keys`, counting fetches. */
  async function jwksServer(initial: JWK[]): Promise<{ url: string; set(keys: JWK[]): void; fetches: () => number; stop(): Promise<void> }> {
    let keys = initial;
    let count = 0;
    const server = createServer((req, res) => {
      count++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys }));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    return {
      url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      set: (k) => (keys = k),
      fetches: () => count,
      stop: () => new Promise((r) => server.close(() => r())),
    };
  }

  test('fetches once, caches, refetches on an unknown kid after the cooldown, bounded for unknown kids', async () => {
    const k1 = await signingKey('k1');
    const k2 = await signingKey('k2');
    const jwks = await jwksServer([k1.jwk]);
    const g = await start({
      tls_server_config: tls(),
      jwt_auth: { jwks_url: jwks.url, issuer: 'https://issuer.example', audience: 'metrics', jwks_cooldown: '1s' },
    });
    expectServed(await get(g.url, bearer(await mint(k1))));
    expectServed(await get(g.url, bearer(await mint(k1))));
    expect(jwks.fetches()).toBe(1);

    // The IdP rotates to a new key: a token with the new kid triggers one refetch.
    jwks.set([k1.jwk, k2.jwk]);
    await new Promise((r) => setTimeout(r, 1100));
    expectServed(await get(g.url, bearer(await mint(k2))));
    expect(jwks.fetches()).toBe(2);

    // A flood of unknown kids cannot make the guard hammer the IdP: at most one fetch per cooldown.
    for (let i = 0; i < 5; i++) expectInvalidToken(await get(g.url, bearer(await mint(k2, { kid: `bogus-${i}` }))));
    expect(jwks.fetches()).toBeLessThanOrEqual(3);
    expect(g.audit.slice(-5).every((a) => a.reason === 'unknown_key')).toBe(true);
  });

  test('reloads that keep the URL keep the fetched key set (no refetch, still verifying)', async () => {
    const k1 = await signingKey('k1');
    const jwks = await jwksServer([k1.jwk]);
    const configFile = join(dir, 'jwks-url-reload.yml');
    const write = (header: string) =>
      writeFileSync(
        configFile,
        [
          'tls_server_config:',
          `  cert_file: ${pki.server.certFile}`,
          `  key_file: ${pki.server.keyFile}`,
          'http_server_config:',
          '  headers:',
          `    X-Frame-Options: ${header}`,
          'jwt_auth:',
          `  jwks_url: ${jwks.url}`,
          '  issuer: https://issuer.example',
          '  audience: metrics',
        ].join('\n'),
      );
    write('deny');
    const g = await start(configFile as unknown as WebConfigInput);
    expectServed(await get(g.url, bearer(await mint(k1))));
    for (const header of ['sameorigin', 'deny']) {
      write(header);
      expect(await g.guard.reload()).toBe(true);
      const r = await get(g.url, bearer(await mint(k1)));
      expectServed(r);
      expect(r.headers['x-frame-options']).toBe(header);
    }
    expect(jwks.fetches()).toBe(1);
  });

  test('IdP down after the keys went stale: the last fetched keys keep verifying', async () => {
    const k1 = await signingKey('k1');
    const jwks = await jwksServer([k1.jwk]);
    const g = await start({
      tls_server_config: tls(),
      jwt_auth: { jwks_url: jwks.url, issuer: 'https://issuer.example', audience: 'metrics', jwks_max_age: '1s', jwks_cooldown: '1s', jwks_timeout: '500ms' },
    });
    expectServed(await get(g.url, bearer(await mint(k1))));
    await jwks.stop();
    await new Promise((r) => setTimeout(r, 1100));
    expectServed(await get(g.url, bearer(await mint(k1))));
    // Still no way in for an unknown key.
    expectInvalidToken(await get(g.url, bearer(await mint(k1, { kid: 'other' }))));
    expect(g.audit.map((a) => a.reason)).toEqual([null, null, 'unknown_key']);
  });

  test('JWK Set unreachable → 503 with Retry-After (fail closed, not counted as a guess)', async () => {
    const k1 = await signingKey('k1');
    const jwks = await jwksServer([k1.jwk]);
    await jwks.stop();
    const g = await start({
      tls_server_config: tls(),
      jwt_auth: { jwks_url: jwks.url, issuer: 'https://issuer.example', audience: 'metrics', jwks_timeout: '1s' },
    });
    const r = await get(g.url, bearer(await mint(k1)));
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(g.audit[0]?.reason).toBe('jwks_unavailable');
  });

  test('IdP failing: a flood of unknown kids costs at most one fetch per cooldown, and known kids keep verifying', async () => {
    const k1 = await signingKey('k1');
    let up = true;
    let fetches = 0;
    const server = createServer((_req, res) => {
      fetches++;
      res.writeHead(up ? 200 : 500, { 'content-type': 'application/json' });
      res.end(up ? JSON.stringify({ keys: [k1.jwk] }) : '{}');
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
    const g = await start({
      tls_server_config: tls(),
      jwt_auth: { jwks_url: url, issuer: 'https://issuer.example', audience: 'metrics', jwks_cooldown: '1s', jwks_timeout: '1s' },
    });
    expectServed(await get(g.url, bearer(await mint(k1))));
    expect(fetches).toBe(1);
    up = false;
    // Past the cooldown an unknown kid may trigger one refetch; it fails, and the next 19 must not
    // each start another (jose's cooldown counts from the last success only).
    await new Promise((r) => setTimeout(r, 1100));
    for (let i = 0; i < 20; i++) {
      expectInvalidToken(await get(g.url, bearer(await mint(k1, { kid: `bogus-${i}` }))));
      if (i % 5 === 0) expectServed(await get(g.url, bearer(await mint(k1))));
    }
    expect(fetches).toBe(2);
  });
});

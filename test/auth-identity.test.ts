/**
 * Identity over REAL HTTPS: static bearer tokens, JWTs (local JWK Set, a JWK Set served over a
 * real local HTTP server and refetched on an unknown kid, HMAC secret), client-certificate
 * identities, several methods at once without fall-through, auth_excluded_paths, brute-force
 * backoff, revocation and token files changed while the guard runs, and the audit record of each
 * request checked field by field. At the end, every log line and audit line the file produced is
 * scanned for every credential it used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../src/guard.js';
import type { WebConfigInput, TlsServerConfigInput } from '../src/config/schema.js';
import type { AuditRecord } from '../src/audit/audit.js';
import type { LogFields, Logger } from '../src/log.js';
import { generateClientCert } from '../src/tools/pki/generate.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import { scrape, scrapeHttp2, type ScrapeOptions, type ScrapeResult } from './helpers/client.js';

// ---------------------------------------------------------------------------------------------
// Harness: every log and audit line of the file is kept for the credential scan at the end.
// ---------------------------------------------------------------------------------------------

const allLogLines: string[] = [];
const allAuditLines: string[] = [];
/** Every credential the file sends or configures (tokens, JWTs, passwords, secrets). */
const credentials = new Set<string>();
const secret = <T extends string>(s: T): T => {
  credentials.add(s);
  return s;
};

function capturingLogger(lines: string[]): Logger {
  const at = (level: string) => (message: string, fields?: LogFields) => {
    const line = `${level} ${message} ${JSON.stringify(fields ?? {})}`;
    lines.push(line);
    allLogLines.push(line);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface Running {
  guard: Guard;
  url: string;
  base: string;
  logs: string[];
  audit: AuditRecord[];
}

let pki: TestPki;
let opsClient: TestCert;
let dir: string;
const guards: Guard[] = [];
const servers: Server[] = [];

function sourceRegistry(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [registry] });
  c.inc(3);
  return registry;
}

async function start(config: WebConfigInput, extra: Partial<GuardOptions> = {}): Promise<Running> {
  const logs: string[] = [];
  const audit: AuditRecord[] = [];
  const guard = await createGuard({
    config,
    baseDir: dir,
    source: sourceRegistry(),
    logger: capturingLogger(logs),
    watch: false,
    audit: (r) => {
      audit.push(r);
      allAuditLines.push(JSON.stringify(r));
    },
    ...extra,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  const base = `https://127.0.0.1:${bound!.port}`;
  return { guard, url: `${base}/metrics`, base, logs, audit };
}

function tls(extra: TlsServerConfigInput = {}): TlsServerConfigInput {
  return { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ...extra };
}

/** TLS that verifies client certificates when given (for client_cert_auth). */
function mtls(): TlsServerConfigInput {
  return tls({ client_ca_file: pki.ca.certFile, client_auth_type: 'VerifyClientCertIfGiven' });
}

function get(url: string, authorization?: string, options: ScrapeOptions = {}): Promise<ScrapeResult> {
  return scrape(url, { ca: pki.ca.certPem, ...(authorization !== undefined ? { headers: { authorization } } : {}), ...options });
}

const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const newToken = () => secret(randomBytes(32).toString('base64url'));

function expectServed(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status, r.body).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

function expectInvalidToken(r: ScrapeResult): void {
  expect(r.status).toBe(401);
  expect(r.headers['www-authenticate']).toBe('Bearer realm="metrics", error="invalid_token"');
  expect(r.body).not.toContain('demo_events_total');
}

function file(name: string, contents: string): string {
  const path = join(dir, name);
  writeFileSync(path, contents, { mode: 0o600 });
  return path;
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-identity-'));
  const pair = await generateClientCert(pki.ca, { commonName: 'ops-scraper', sans: ['ops-scraper.monitoring.svc'], organizationalUnit: 'ops' });
  opsClient = { ...pair, certFile: '', keyFile: '' };
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

// ---------------------------------------------------------------------------------------------
// Static bearer tokens
// ---------------------------------------------------------------------------------------------

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
      { tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'a', token_sha256: sha256(a) }, { name: 'b', token_sha256: sha256(b) }], revoked_sha256_file: revoked } },
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
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'k8s', token_file: tokenFile, groups: ['ops'] }] } }, { watch: true, watchPollMs: 100 });
    expectServed(await get(g.url, bearer(first)));
    writeFileSync(tokenFile, second);
    await eventually(async () => (await get(g.url, bearer(second))).status === 200);
    expectInvalidToken(await get(g.url, bearer(first)));
    expect(g.audit.at(-2)).toMatchObject({ principal: 'k8s', groups: ['ops'] });
  });
});

// ---------------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------------

interface SigningKey {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
  kid: string;
}

async function signingKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, kid };
}

interface MintOptions {
  sub?: string;
  iss?: string;
  aud?: string;
  scope?: string;
  scp?: string[];
  groups?: string[];
  expiresIn?: number;
  kid?: string;
}

async function mint(key: SigningKey, o: MintOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (o.scope !== undefined) claims.scope = o.scope;
  if (o.scp !== undefined) claims.scp = o.scp;
  if (o.groups !== undefined) claims.groups = o.groups;
  const jwt = await new SignJWT(claims)
    .setProtectedHeader({ alg: key.jwk.alg!, kid: o.kid ?? key.kid })
    .setSubject(o.sub ?? 'prometheus')
    .setIssuer(o.iss ?? 'https://issuer.example')
    .setAudience(o.aud ?? 'metrics')
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresIn ?? 300))
    .sign(key.privateKey);
  return secret(jwt);
}

function unsignedJwt(payload: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return secret(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
}

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
    jwt_auth: { jwks_file: jwksFile, issuer: 'https://issuer.example', audience: 'metrics', required_scopes: ['metrics:read'], groups_claim: 'groups', ...extra },
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
    expectInvalidToken(await get(g.url, bearer(unsignedJwt({ sub: 'admin', iss: 'https://issuer.example', aud: 'metrics', scope: 'metrics:read', exp: 9999999999 }))));
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
      secret(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('ci').setIssuer('local').setAudience('metrics').setExpirationTime('5m').sign(new TextEncoder().encode(s)));
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
    const g = await start({ tls_server_config: tls(), jwt_auth: { jwks_url: jwks.url, issuer: 'https://issuer.example', audience: 'metrics', jwks_timeout: '1s' } });
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

// ---------------------------------------------------------------------------------------------
// Client certificates, several methods, excluded paths, backoff
// ---------------------------------------------------------------------------------------------

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
      ['auth_method', 'bytes', 'client_cert_subject', 'duration_ms', 'groups', 'method', 'path', 'principal', 'reason', 'remote_address', 'series_returned', 'series_withheld', 'status', 'time', 'tls_version'].sort(),
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

describe('auth_excluded_paths', () => {
  test('listed paths answer 200 OK without credentials; the metrics still need them', async () => {
    const token = newToken();
    const g = await start({ tls_server_config: tls(), bearer_auth: { tokens: [{ name: 'p', token_sha256: sha256(token) }] }, auth_excluded_paths: ['/healthz', '/ready'] });
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
    await expect(
      start({ tls_server_config: tls(), bearer_auth: bearerAuth, auth_excluded_paths: ['/custom'] }, { telemetryPath: '/custom' }),
    ).rejects.toThrow(/\/custom is the telemetry path/);
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

// ---------------------------------------------------------------------------------------------
// Credential scan over the whole file
// ---------------------------------------------------------------------------------------------

afterAll(() => {
  expect(credentials.size).toBeGreaterThan(20);
  expect(allAuditLines.length).toBeGreaterThan(40);
  const haystack = [...allLogLines, ...allAuditLines];
  for (const c of credentials) {
    // The whole credential, and for JWTs the signature part alone.
    const needles = [c, ...(c.split('.').length === 3 ? [c.split('.')[2]!].filter((s) => s.length > 8) : [])];
    for (const needle of needles) {
      const hit = haystack.find((line) => line.includes(needle));
      expect(hit, `a credential leaked into: ${hit}`).toBeUndefined();
    }
  }
});

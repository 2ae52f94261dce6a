/**
 * The harness of the identity suites over real HTTPS (test/auth-bearer.test.ts, auth-jwt,
 * auth-client-cert, auth-policy): guards started on 127.0.0.1 with an audit sink, request and
 * assertion helpers, JWT minting, and a credential scan. Every credential a file sends or
 * configures goes through `secret()`; every log and audit line the file produces is kept; after
 * the file's last test, none of those lines may contain any of those credentials.
 *
 * `pki`, `opsClient` and `dir` are live bindings: call `useIdentityHarness()` once at the top of a
 * test file and read them inside tests (each test file runs in its own module graph).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { createGuard, type Guard, type GuardOptions } from '../../src/guard.js';
import type { WebConfigInput, TlsServerConfigInput } from '../../src/config/schema.js';
import type { AuditRecord } from '../../src/audit/audit.js';
import { generateClientCert } from '../../src/tools/pki/generate.js';
import { testPki, type TestCert, type TestPki } from './pki.js';
import { scrape, type ScrapeOptions, type ScrapeResult } from './client.js';
import { textLogger } from './logger.js';

/** Every log line and audit line the test file produced, for the credential scan. */
export const allLogLines: string[] = [];
export const allAuditLines: string[] = [];
/** Every credential the file sends or configures (tokens, JWTs, passwords, secrets). */
export const credentials = new Set<string>();
/** Registers `s` as a credential for the scan and returns it. */
export const secret = <T extends string>(s: T): T => {
  credentials.add(s);
  return s;
};

export interface Running {
  guard: Guard;
  url: string;
  base: string;
  logs: string[];
  audit: AuditRecord[];
}

export let pki: TestPki;
export let opsClient: TestCert;
export let dir: string;
/** Guards and servers a test started; closed after each test (a block that shares one removes it). */
export const guards: Guard[] = [];
export const servers: Server[] = [];

/** A registry with one counter, `demo_events_total 3`, which `expectServed` looks for. */
export function sourceRegistry(): Registry {
  const registry = new Registry();
  const c = new Counter({ name: 'demo_events_total', help: 'Demo counter.', registers: [registry] });
  c.inc(3);
  return registry;
}

/** Starts a guard on 127.0.0.1 (port from the OS) with a text logger and an audit sink; closed after the test. */
export async function start(config: WebConfigInput, extra: Partial<GuardOptions> = {}): Promise<Running> {
  const logs: string[] = [];
  const audit: AuditRecord[] = [];
  const guard = await createGuard({
    config,
    baseDir: dir,
    source: sourceRegistry(),
    logger: textLogger(logs, allLogLines),
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

/** `tls_server_config` with the ECDSA server certificate, plus `extra`. */
export function tls(extra: TlsServerConfigInput = {}): TlsServerConfigInput {
  return { cert_file: pki.server.certFile, key_file: pki.server.keyFile, ...extra };
}

/** TLS that verifies client certificates when given (for client_cert_auth). */
export function mtls(): TlsServerConfigInput {
  return tls({ client_ca_file: pki.ca.certFile, client_auth_type: 'VerifyClientCertIfGiven' });
}

/** One HTTPS GET trusting the test CA, with `authorization` when given. */
export function get(url: string, authorization?: string, options: ScrapeOptions = {}): Promise<ScrapeResult> {
  return scrape(url, { ca: pki.ca.certPem, ...(authorization !== undefined ? { headers: { authorization } } : {}), ...options });
}

/** Authorization header values, a SHA-256 hex digest, and a fresh random token (registered as a credential). */
export const bearer = (token: string) => `Bearer ${token}`;
export const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const newToken = () => secret(randomBytes(32).toString('base64url'));

/** A 200 with the source registry's body. */
export function expectServed(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status, r.body).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

/** A 401 with the RFC 6750 invalid_token challenge and no metrics. */
export function expectInvalidToken(r: ScrapeResult): void {
  expect(r.status).toBe(401);
  expect(r.headers['www-authenticate']).toBe('Bearer realm="metrics", error="invalid_token"');
  expect(r.body).not.toContain('demo_events_total');
}

/** Writes `contents` to `name` in the scratch directory (mode 0600) and returns its path. */
export function file(name: string, contents: string): string {
  const path = join(dir, name);
  writeFileSync(path, contents, { mode: 0o600 });
  return path;
}

/** Polls `check` every 50 ms until it holds; throws after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Registers the beforeAll that creates the PKI, the ops client certificate and the scratch
 * directory; the afterEach that closes every guard and server a test started; and the afterAll
 * credential scan, which also checks the file sent at least `minCredentials` credentials and wrote
 * at least `minAuditLines` audit lines (so the scan cannot pass by scanning nothing).
 */
export function useIdentityHarness(minimum: { minCredentials: number; minAuditLines: number }): void {
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

  afterAll(() => {
    expect(credentials.size).toBeGreaterThanOrEqual(minimum.minCredentials);
    expect(allAuditLines.length).toBeGreaterThanOrEqual(minimum.minAuditLines);
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
}

/** An asymmetric JWT signing key with its public JWK (kid, alg, use: sig). */
export interface SigningKey {
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: JWK;
  kid: string;
}

export async function signingKey(kid: string, alg = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, kid };
}

/** Claims of a minted JWT; defaults: sub prometheus, iss https://issuer.example, aud metrics, 300 s. */
export interface MintOptions {
  sub?: string;
  iss?: string;
  aud?: string;
  scope?: string;
  scp?: string[];
  groups?: string[];
  expiresIn?: number;
  kid?: string;
}

/** Signs a JWT with `key` (registered as a credential). */
export async function mint(key: SigningKey, o: MintOptions = {}): Promise<string> {
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

/** An `alg: none` JWT (registered as a credential). */
export function unsignedJwt(payload: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return secret(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
}

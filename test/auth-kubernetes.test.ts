/**
 * `jwt_auth.kubernetes` against a local Kubernetes-style OIDC issuer (real node:https server,
 * certificate from the test PKI, discovery document + JWK Set as kube-apiserver serves them) and
 * tokens with the real projected-token claim layout, over REAL HTTPS to the guard: the principal
 * `system:serviceaccount:NS:NAME` and the service-account groups in access rules; audience,
 * issuer, expiry, `warnafter`, `sub` consistency and pod binding refused as they must be;
 * discovery failures answer 503 (fail closed, our side); the cluster CA is verified; the guard's
 * own token goes only to the discovery origin; config errors for what cannot be safe.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { JwtAuthInput, WebConfigInput } from '../src/config/schema.js';
import { loadConfigObject } from '../src/config/load.js';
import type { AuditRecord } from '../src/audit/audit.js';
import type { LogFields, Logger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape, type ScrapeResult } from './helpers/client.js';
import { issuesOf } from './helpers/config-issues.js';
import { startServiceAccountIssuer, type ServiceAccountIssuer } from './helpers/oidc-issuer.js';

let pki: TestPki;
let dir: string;
let issuer: ServiceAccountIssuer;
const guards: Guard[] = [];
const tokens = new Set<string>();
const lines: string[] = [];

function logger(into: string[]): Logger {
  const at = (level: string) => (message: string, fields?: LogFields) => {
    const line = `${level} ${message} ${JSON.stringify(fields ?? {})}`;
    into.push(line);
    lines.push(line);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function start(jwt: Partial<JwtAuthInput> & { kubernetes?: JwtAuthInput['kubernetes'] }, extra: WebConfigInput = {}) {
  const logs: string[] = [];
  const audit: AuditRecord[] = [];
  const registry = new Registry();
  new Counter({ name: 'demo_events_total', help: 'Demo.', registers: [registry] }).inc(3);
  const guard = await createGuard({
    config: {
      tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
      jwt_auth: { issuer: issuer.issuer, audience: 'scrapeguard', kubernetes: { ca_file: pki.rsaCa.certFile }, ...jwt },
      ...extra,
    },
    baseDir: dir,
    source: registry,
    logger: logger(logs),
    watch: false,
    audit: (r) => {
      audit.push(r);
      lines.push(JSON.stringify(r));
    },
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { url: `https://127.0.0.1:${bound!.port}/metrics`, logs, audit };
}

async function mint(...args: Parameters<ServiceAccountIssuer['mint']>): Promise<string> {
  const t = await issuer.mint(...args);
  tokens.add(t);
  return t;
}

const get = (url: string, token?: string) =>
  scrape(url, { ca: pki.ca.certPem, ...(token !== undefined ? { headers: { authorization: `Bearer ${token}` } } : {}) });

function served(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status, r.body).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-k8s-'));
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
  await issuer?.close();
});

describe('jwt_auth.kubernetes', () => {
  test('a projected token of monitoring/prometheus → principal system:serviceaccount:monitoring:prometheus with the service-account groups; rules can name it', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const g = await start(
      {},
      {
        access_rules: {
          rules: [
            { principals: ['system:serviceaccount:monitoring:prometheus'], methods: ['jwt'] },
            { groups: ['system:serviceaccounts:tenant-a'], allow_metrics: ['nothing_.*'] },
          ],
        },
      },
    );
    served(await get(g.url, await mint()));
    expect(g.audit[0]).toMatchObject({
      principal: 'system:serviceaccount:monitoring:prometheus',
      auth_method: 'jwt',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'],
      status: 200,
    });
    // Another namespace's service account matches the group rule and sees none of the metrics.
    const other = await get(g.url, await mint({ namespace: 'tenant-a', serviceAccount: 'scraper' }));
    expect(other.status).toBe(200);
    expect(other.body).not.toContain('demo_events_total');
    // A service account no rule names is refused.
    expect((await get(g.url, await mint({ namespace: 'default', serviceAccount: 'default' }))).status).toBe(403);
    // Discovery once, the key set once: not per scrape.
    expect(issuer.requests.map((r) => r.path)).toEqual(['/.well-known/openid-configuration', '/openid/v1/jwks']);
    expect(issuer.requests.every((r) => r.authorization === undefined)).toBe(true);
  });

  test('refused: other audience, other issuer, unknown key, expired, past warnafter, sub not matching, no kubernetes.io claim, legacy secret token', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const g = await start({});
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, string, string][] = [
      ['api-server audience', await mint({ audience: issuer.issuer }), 'invalid_token'],
      ['other issuer', await mint({ override: { iss: 'https://other.example' } }), 'invalid_token'],
      ['foreign key', await mint({ foreignKey: true }), 'invalid_token'],
      ['expired', await mint({ override: { exp: now - 3600, iat: now - 7200, nbf: now - 7200 } }), 'expired'],
      ['past warnafter', await mint({ ttlSec: 365 * 86400, warnAfter: now - 600 }), 'expired'],
      ['sub mismatch', await mint({ override: { sub: 'system:serviceaccount:kube-system:admin' } }), 'invalid_token'],
      ['no kubernetes.io', await mint({ override: { 'kubernetes.io': undefined } }), 'invalid_token'],
      [
        'legacy secret token',
        await mint({
          override: {
            iss: 'kubernetes/serviceaccount',
            exp: undefined,
            'kubernetes.io': undefined,
            'kubernetes.io/serviceaccount/namespace': 'monitoring',
            'kubernetes.io/serviceaccount/service-account.name': 'prometheus',
          },
        }),
        'invalid_token',
      ],
    ];
    for (const [what, token, reason] of cases) {
      const r = await get(g.url, token);
      expect(r.status, what).toBe(401);
      expect(r.headers['www-authenticate'], what).toBe('Bearer realm="metrics", error="invalid_token"');
      expect(g.audit.at(-1)?.reason, what).toBe(reason);
    }
    // Still accepted: a valid one (so none of the above failed for a setup reason).
    served(await get(g.url, await mint()));
  });

  test('require_pod_binding refuses a token not bound to a pod (kubectl create token)', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const g = await start({ kubernetes: { ca_file: pki.rsaCa.certFile, require_pod_binding: true } });
    expect((await get(g.url, await mint({ pod: false }))).status).toBe(401);
    served(await get(g.url, await mint()));
    const loose = await start({});
    served(await get(loose.url, await mint({ pod: false })));
  });

  test('discovery failures fail closed with 503: issuer mismatch, HTTP 403, a CA that did not sign the issuer; then recover', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    issuer.discovery = { ...issuer.discovery, issuer: 'https://evil.example' };
    const g = await start({ jwks_cooldown: '1s' });
    const token = await mint();
    const r = await get(g.url, token);
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('5');
    expect(g.audit.at(-1)?.reason).toBe('jwks_unavailable');
    expect(g.logs.some((l) => l.includes('not the configured'))).toBe(true);
    // After the cooldown, a fixed discovery document is used.
    issuer.discovery = { ...issuer.discovery, issuer: issuer.issuer };
    await new Promise((resolve) => setTimeout(resolve, 1100));
    served(await get(g.url, token));

    issuer.discoveryStatus = 403;
    const forbidden = await start({ jwks_cooldown: '1s' });
    expect((await get(forbidden.url, token)).status).toBe(503);
    expect(forbidden.logs.some((l) => l.includes('HTTP 403') && l.includes('service-account-issuer-discovery'))).toBe(true);

    issuer.discoveryStatus = 200;
    const wrongCa = await start({ kubernetes: { ca_file: pki.otherCa.certFile } });
    expect((await get(wrongCa.url, token)).status).toBe(503);
  });

  test("token_file: the guard's own token goes to the discovery origin (re-read per fetch), never elsewhere", async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const own = join(dir, 'own-token');
    const ownToken = await mint({ namespace: 'shop', serviceAccount: 'api' });
    writeFileSync(own, `${ownToken}\n`, { mode: 0o600 });
    const g = await start({ kubernetes: { ca_file: pki.rsaCa.certFile, token_file: own } });
    served(await get(g.url, await mint()));
    expect(issuer.requests.map((r) => r.authorization)).toEqual([`Bearer ${ownToken}`, `Bearer ${ownToken}`]);

    // A discovery document pointing its key set at another origin: the token is not sent there.
    await issuer.close();
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const elsewhere = await startServiceAccountIssuer(pki.serverRsa);
    try {
      issuer.discovery = { ...issuer.discovery, jwks_uri: `${elsewhere.issuer}/openid/v1/jwks` };
      const g2 = await start({ kubernetes: { ca_file: pki.rsaCa.certFile, token_file: own } });
      // The other server's keys do not verify this issuer's tokens: refused, but the point is the header.
      await get(g2.url, await mint());
      expect(elsewhere.requests.map((r) => [r.path, r.authorization])).toEqual([['/openid/v1/jwks', undefined]]);
    } finally {
      await elsewhere.close();
    }
  });

  test('jwks_url instead of discovery: fetched with the cluster CA (not the system roots), no discovery request', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const g = await start({ jwks_url: `${issuer.issuer}/openid/v1/jwks` });
    served(await get(g.url, await mint()));
    expect(issuer.requests.map((r) => r.path)).toEqual(['/openid/v1/jwks']);
  });

  test('jwks_file: fully offline (kubectl get --raw /openid/v1/jwks > file), no request to the issuer', async () => {
    issuer = await startServiceAccountIssuer(pki.serverRsa);
    const jwks = await fetchJwks(issuer);
    const file = join(dir, 'cluster-jwks.json');
    writeFileSync(file, jwks);
    const before = issuer.requests.length;
    const g = await start({ jwks_file: file, kubernetes: {} });
    served(await get(g.url, await mint()));
    expect(issuer.requests.length).toBe(before);
  });
});

async function fetchJwks(i: ServiceAccountIssuer): Promise<string> {
  const r = await scrape(`${i.issuer}/openid/v1/jwks`, { ca: pki.rsaCa.certPem });
  return r.body;
}

describe('jwt_auth.kubernetes config', () => {
  test('refused: no audience, no issuer or several, claims that do not apply, http discovery off loopback, missing files', async () => {
    const issues = await issuesOf(
      loadConfigObject({
        jwt_auth: {
          principal_claim: 'email',
          groups_claim: 'groups',
          required_scopes: ['x'],
          kubernetes: { token_file: join(dir, 'nope'), ca_file: join(dir, 'nope.crt') },
        },
      }),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(byPath['jwt_auth.audience']).toContain('a token for the API server (the default audience) could be replayed there');
    expect(byPath['jwt_auth.issuer']).toContain('kubernetes needs issuer');
    expect(byPath['jwt_auth.principal_claim']).toContain('does not apply with kubernetes');
    expect(byPath['jwt_auth.groups_claim']).toContain('does not apply with kubernetes');
    expect(byPath['jwt_auth.required_scopes']).toContain('does not apply with kubernetes');
    expect(byPath['jwt_auth.kubernetes.token_file']).toContain('no such file');
    expect(byPath['jwt_auth.kubernetes.ca_file']).toContain('cannot read ca_file');

    const several = await issuesOf(loadConfigObject({ jwt_auth: { issuer: ['https://a', 'https://b'], audience: 'x', kubernetes: {} } }));
    expect(several[0]!.message).toContain('exactly one issuer');
    const http = await issuesOf(loadConfigObject({ jwt_auth: { issuer: 'http://kubernetes.default.svc', audience: 'x', kubernetes: {} } }));
    expect(http[0]).toMatchObject({ path: 'jwt_auth.issuer' });
    expect(http[0]!.message).toContain('https://');
    const unknown = await issuesOf(loadConfigObject({ jwt_auth: { issuer: 'https://k', audience: 'x', kubernetes: { pod_binding: true } } }));
    expect(unknown[0]).toMatchObject({ path: 'jwt_auth.kubernetes.pod_binding' });
  });

  test('resolved: discovery URL from the issuer, CA read, token file absolute, pod binding off by default', async () => {
    const tokenFile = join(dir, 'sa-token');
    writeFileSync(tokenFile, 'x');
    const config = await loadConfigObject(
      {
        jwt_auth: {
          issuer: 'https://kubernetes.default.svc.cluster.local/',
          audience: 'scrapeguard',
          kubernetes: { ca_file: pki.rsaCa.certFile, token_file: 'sa-token' },
        },
      },
      { baseDir: dir },
    );
    expect(config.jwtAuth!.kubernetes).toEqual({
      discoveryUrl: 'https://kubernetes.default.svc.cluster.local/.well-known/openid-configuration',
      caPem: pki.rsaCa.certPem,
      tokenFile,
      requirePodBinding: false,
    });
    expect(config.jwtAuth!.principalClaim).toBe('sub');
  });
});

afterAll(() => {
  for (const t of tokens) {
    const sig = t.split('.')[2]!;
    const hit = lines.find((l) => l.includes(sig));
    expect(hit, `a token leaked into: ${hit}`).toBeUndefined();
  }
});

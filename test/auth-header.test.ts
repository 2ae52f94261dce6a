/**
 * `header_auth` (API keys in a named header) over REAL HTTPS: right, wrong, missing, revoked and
 * expired keys; a key file; groups in access rules and `methods: [header]`; no fall-through
 * between the key header and `Authorization`; brute-force backoff; the audit principal is the key
 * name; config errors name file, line and key; `scrapeguard token --header` makes a key whose
 * entry the loader accepts. At the end every log and audit line is scanned for every key used.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Registry } from 'prom-client';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createGuard, type Guard } from '../src/guard.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { loadConfigFile, loadConfigObject } from '../src/config/load.js';
import type { AuditRecord } from '../src/audit/audit.js';
import type { LogFields, Logger } from '../src/log.js';
import { tokenCommand } from '../src/tools/cli/token.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape, scrapeHttp2, type ScrapeResult } from './helpers/client.js';
import { issuesOf } from './helpers/config-issues.js';

const allLines: string[] = [];
const keys = new Set<string>();
const newKey = () => {
  const k = randomBytes(32).toString('base64url');
  keys.add(k);
  return k;
};
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

let pki: TestPki;
let dir: string;
const guards: Guard[] = [];

function logger(lines: string[]): Logger {
  const at = (level: string) => (message: string, fields?: LogFields) => {
    const line = `${level} ${message} ${JSON.stringify(fields ?? {})}`;
    lines.push(line);
    allLines.push(line);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

async function start(config: WebConfigInput, selfMetrics?: Registry, watch = false) {
  const logs: string[] = [];
  const audit: AuditRecord[] = [];
  const registry = new Registry();
  new Counter({ name: 'demo_events_total', help: 'Demo.', registers: [registry] }).inc(3);
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...config },
    baseDir: dir,
    source: registry,
    logger: logger(logs),
    watch,
    ...(watch ? { watchPollMs: 100 } : {}),
    audit: (r) => {
      audit.push(r);
      allLines.push(JSON.stringify(r));
    },
    ...(selfMetrics ? { selfMetrics } : {}),
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return { url: `https://127.0.0.1:${bound!.port}/metrics`, logs, audit };
}

const get = (url: string, headers: Record<string, string> = {}) => scrape(url, { ca: pki.ca.certPem, headers });

function served(r: ScrapeResult): void {
  expect(r.error, `${r.error}: ${r.errorMessage}`).toBeUndefined();
  expect(r.status, r.body).toBe(200);
  expect(r.body).toContain('demo_events_total 3');
}

function refused(r: ScrapeResult): void {
  expect(r.status).toBe(401);
  expect(r.headers['www-authenticate']).toBe('ApiKey realm="metrics"');
  expect(r.body).not.toContain('demo_events_total');
}

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-header-auth-'));
});

afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

describe('header_auth', () => {
  test('right key → 200 with the key name as principal; wrong, digest, empty → 401; missing → ApiKey challenge', async () => {
    const key = newKey();
    const g = await start({ header_auth: { keys: [{ name: 'saas-scraper', key_sha256: sha256(key), groups: ['ops'] }] } });
    served(await get(g.url, { 'X-API-Key': key }));
    served(await get(g.url, { 'x-api-key': key })); // header names are case-insensitive
    refused(await get(g.url, { 'X-API-Key': newKey() }));
    refused(await get(g.url, { 'X-API-Key': sha256(key) })); // the digest is not the key
    refused(await get(g.url, { 'X-API-Key': `${key} extra` }));
    const missing = await get(g.url);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('ApiKey realm="metrics"');
    expect(g.audit[0]).toMatchObject({ principal: 'saas-scraper', auth_method: 'header', groups: ['ops'], status: 200, reason: null });
    expect(g.audit.slice(2).map((a) => [a.status, a.reason, a.auth_method])).toEqual([
      [401, 'invalid_token', 'header'],
      [401, 'invalid_token', 'header'],
      [401, 'malformed', 'header'],
      [401, 'missing', null],
    ]);
  });

  test('the key sent several times (as Prometheus builds with prometheus/common#981 do) is refused, with a warning naming the cause', async () => {
    const key = newKey();
    const g = await start({ header_auth: { keys: [{ name: 'p', key_sha256: sha256(key) }] } });
    // Node joins repeated header lines with ", " (HTTP/1.1 and HTTP/2 alike): this is what arrives.
    refused(await get(g.url, { 'X-API-Key': `${key}, ${key}, ${key}` }));
    expect(g.audit.at(-1)).toMatchObject({ status: 401, reason: 'malformed', auth_method: 'header' });
    const warning = g.logs.find((l) => l.startsWith('warn the API key header arrived several times'));
    expect(warning).toContain('prometheus/common#981');
    expect(warning).toContain('"copies":3');
    // Two different values are malformed too, without that hint.
    refused(await get(g.url, { 'X-API-Key': `${key}, ${newKey()}` }));
    expect(g.logs.filter((l) => l.startsWith('warn the API key header arrived')).length).toBe(1);
    served(await get(g.url, { 'X-API-Key': key }));
  });

  test('HTTP/2 carries the key header the same way; a custom header name is honoured', async () => {
    const key = newKey();
    const g = await start({ header_auth: { header: 'X-Scrape-Key', keys: [{ name: 'p', key_sha256: sha256(key) }] } });
    const h2 = await scrapeHttp2(g.url, { ca: pki.ca.certPem, headers: { 'x-scrape-key': key } });
    expect(h2.alpn).toBe('h2');
    served(h2);
    // The default header name means nothing when another is configured.
    expect((await get(g.url, { 'X-API-Key': key })).status).toBe(401);
  });

  test('no fall-through: the key as a bearer token, or key header plus Authorization, is refused', async () => {
    const key = newKey();
    const token = newKey();
    const g = await start({
      header_auth: { keys: [{ name: 'k', key_sha256: sha256(key) }] },
      bearer_auth: { tokens: [{ name: 't', token_sha256: sha256(token) }] },
    });
    served(await get(g.url, { 'X-API-Key': key }));
    served(await get(g.url, { authorization: `Bearer ${token}` }));
    const missing = await get(g.url);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="metrics", ApiKey realm="metrics"');
    // A key is not a bearer token and the reverse: each method checks only its own digests.
    expect((await get(g.url, { authorization: `Bearer ${key}` })).status).toBe(401);
    refused(await get(g.url, { 'X-API-Key': token }));
    // Two valid credentials at once: refused rather than choosing one.
    const both = await get(g.url, { 'X-API-Key': key, authorization: `Bearer ${token}` });
    expect(both.status).toBe(401);
    expect(g.audit.at(-1)).toMatchObject({ status: 401, reason: 'malformed', auth_method: 'header', principal: null });
  });

  test('expired and revoked keys are refused; a key_file is read and hashed; its name is the principal', async () => {
    const old = newKey();
    const gone = newKey();
    const fromFile = newKey();
    const keyFile = join(dir, 'api-key');
    writeFileSync(keyFile, `${fromFile}\n`, { mode: 0o600 });
    const revoked = join(dir, 'revoked-keys');
    writeFileSync(revoked, `# revoked API keys\n${sha256(gone)}\n`, { mode: 0o600 });
    const g = await start({
      header_auth: {
        keys: [
          { name: 'old', key_sha256: sha256(old), expires_at: '2020-01-01T00:00:00Z' },
          { name: 'gone', key_sha256: sha256(gone) },
          { name: 'mounted', key_file: keyFile, expires_at: '2999-01-01T00:00:00Z' },
        ],
        revoked_sha256_file: revoked,
      },
    });
    refused(await get(g.url, { 'X-API-Key': old }));
    refused(await get(g.url, { 'X-API-Key': gone }));
    served(await get(g.url, { 'X-API-Key': fromFile }));
    expect(g.audit.map((a) => [a.status, a.reason, a.principal])).toEqual([
      [401, 'expired', null],
      [401, 'revoked', null],
      [200, null, 'mounted'],
    ]);
    expect(g.logs.some((l) => l.includes('"name":"old"') && l.includes('"method":"header"'))).toBe(true);
  });

  test('groups feed access rules; methods: [header] tells a key from a bearer token of the same name; backoff counts wrong keys', async () => {
    const ops = newKey();
    const outsider = newKey();
    const token = newKey();
    const self = new Registry();
    const g = await start(
      {
        header_auth: {
          keys: [
            { name: 'shared-name', key_sha256: sha256(ops), groups: ['ops'] },
            { name: 'outsider', key_sha256: sha256(outsider), groups: ['marketing'] },
          ],
        },
        bearer_auth: { tokens: [{ name: 'shared-name', token_sha256: sha256(token), groups: ['ops'] }] },
        access_rules: { rules: [{ groups: ['ops'], methods: ['header'], allow_metrics: ['demo_.*'] }] },
        limits: { auth_failure_backoff: { threshold: 2, base_delay: '10s', max_delay: '10s', forget_after: '1m' } },
      },
      self,
    );
    served(await get(g.url, { 'X-API-Key': ops }));
    expect((await get(g.url, { 'X-API-Key': outsider })).status).toBe(403);
    expect((await get(g.url, { authorization: `Bearer ${token}` })).status).toBe(403);
    refused(await get(g.url, { 'X-API-Key': newKey() }));
    refused(await get(g.url, { 'X-API-Key': newKey() }));
    // Held off now, even with the right key.
    expect((await get(g.url, { 'X-API-Key': ops })).status).toBe(429);
    const text = await self.metrics();
    expect(text).toContain('scrapeguard_auth_failures_total{reason="invalid_token"} 2');
    expect(text).toContain('scrapeguard_rate_limited_total{scope="auth_failures"} 1');
  });
});

describe('header_auth files while running', () => {
  test('a key_file rotated in place and a revocation file edited take effect without restart', async () => {
    const first = newKey();
    const second = newKey();
    const keyFile = join(dir, 'rotating-key');
    writeFileSync(keyFile, first, { mode: 0o600 });
    const revoked = join(dir, 'revoked-live');
    writeFileSync(revoked, '', { mode: 0o600 });
    const other = newKey();
    const g = await start(
      {
        header_auth: {
          keys: [
            { name: 'k8s', key_file: keyFile },
            { name: 'other', key_sha256: sha256(other) },
          ],
          revoked_sha256_file: revoked,
        },
        // The polls before the reload lands are failed attempts: no backoff, so a slow reload cannot turn them into 429s.
        limits: { auth_failure_backoff: { threshold: 0 } },
      },
      undefined,
      true,
    );
    served(await get(g.url, { 'X-API-Key': first }));
    writeFileSync(keyFile, second, { mode: 0o600 });
    await eventually(async () => (await get(g.url, { 'X-API-Key': second })).status === 200);
    refused(await get(g.url, { 'X-API-Key': first }));
    served(await get(g.url, { 'X-API-Key': other }));
    writeFileSync(revoked, `${sha256(other)}\n`, { mode: 0o600 });
    await eventually(async () => (await get(g.url, { 'X-API-Key': other })).status === 401);
    expect(g.audit.at(-1)).toMatchObject({ reason: 'revoked' });
  });
});

async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('header_auth config', () => {
  test('errors name the file, line and key; no message echoes a key', async () => {
    const key = newKey();
    const file = join(dir, 'bad-header-auth.yml');
    writeFileSync(
      file,
      [
        'header_auth:',
        '  header: Authorization',
        '  keys:',
        '    - name: a',
        `      key_sha256: ${key}`,
        '    - name: b',
        `      key_sha256: ${sha256(key)}`,
        '      key_file: /nonexistent',
        '    - key_sha256: ' + sha256(newKey()),
        '    - name: d',
        `      token_sha256: ${sha256(newKey())}`,
        '',
      ].join('\n'),
    );
    const issues = await issuesOf(loadConfigFile(file));
    const at = (path: string) => issues.find((i) => i.path === path);
    expect(at('header_auth.header')).toMatchObject({ file, line: 2 });
    expect(at('header_auth.header')!.message).toContain('choose a dedicated one such as X-API-Key');
    expect(at('header_auth.keys[0].key_sha256')).toMatchObject({ file, line: 5 });
    expect(at('header_auth.keys[0].key_sha256')!.message).toContain('`scrapeguard token --header` prints it');
    expect(at('header_auth.keys[1]')!.message).toBe('set either key_sha256 or key_file, not both');
    expect(at('header_auth.keys[2].name')!.message).toContain('every key needs a name');
    expect(at('header_auth.keys[3].token_sha256')).toMatchObject({ line: 11 });
    expect(at('header_auth.keys[3].token_sha256')!.message).toContain('expected one of: name, key_sha256, key_file, groups, expires_at');
    for (const i of issues) expect(i.message).not.toContain(key);
  });

  test('refused: reserved or invalid header names, an empty key list, duplicate names and keys, a key file with spaces', async () => {
    const key = newKey();
    for (const header of ['Cookie', 'x-forwarded-for', 'Proxy-Foo', 'bad header', '']) {
      const issues = await issuesOf(loadConfigObject({ header_auth: { header, keys: [{ name: 'a', key_sha256: sha256(key) }] } }));
      expect(issues.map((i) => i.path)).toContain('header_auth.header');
    }
    expect((await issuesOf(loadConfigObject({ header_auth: { keys: [] } })))[0]!.message).toContain('needs at least one key');
    const dup = await issuesOf(
      loadConfigObject({
        header_auth: {
          keys: [
            { name: 'a', key_sha256: sha256(key) },
            { name: 'a', key_sha256: sha256(key) },
          ],
        },
      }),
    );
    expect(dup.map((i) => i.message)).toEqual(
      expect.arrayContaining([expect.stringContaining('duplicate key name "a"'), expect.stringContaining('same key as entry 0')]),
    );
    const spaced = join(dir, 'spaced-key');
    writeFileSync(spaced, 'two words\n', { mode: 0o600 });
    const shape = await issuesOf(loadConfigObject({ header_auth: { keys: [{ name: 'a', key_file: spaced }] } }, { baseDir: dir }));
    expect(shape[0]!.message).toContain('one header value of visible ASCII');
  });

  test('resolved: lower-case header (default x-api-key), digests only, file dependencies tracked', async () => {
    const key = newKey();
    const keyFile = join(dir, 'k2');
    writeFileSync(keyFile, key, { mode: 0o600 });
    const config = await loadConfigObject({
      tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile },
      header_auth: { keys: [{ name: 'a', key_file: keyFile }] },
    });
    expect(config.headerAuth).toEqual({ header: 'x-api-key', keys: [{ name: 'a', sha256: sha256(key), groups: [] }], revoked: [] });
    expect(config.dependsOn).toContain(keyFile);
    expect(JSON.stringify(config)).not.toContain(key);
    const plain = await loadConfigObject({ header_auth: { header: 'X-Scrape-Key', keys: [{ name: 'a', key_sha256: sha256(key) }] } });
    expect(plain.headerAuth!.header).toBe('x-scrape-key');
    expect(plain.warnings.join('\n')).toContain('header_auth is set but TLS is off');
  });
});

describe('scrapeguard token --header', () => {
  test('prints a key once and a header_auth entry the loader accepts; the key authenticates', async () => {
    let out = '';
    let err = '';
    const io = {
      cwd: dir,
      env: {},
      stdin: process.stdin,
      stdout: { write: (s: string) => ((out += s), true) },
      stderr: { write: (s: string) => ((err += s), true) },
    };
    const code = await tokenCommand(['--header', 'X-API-Key', '--name', 'vendor', '--groups', 'ops'], io as never);
    expect(code).toBe(0);
    const [key, ...rest] = out.split('\n');
    keys.add(key!);
    const doc = parseYaml(rest.join('\n')) as WebConfigInput;
    expect(doc.header_auth).toEqual({ header: 'X-API-Key', keys: [{ name: 'vendor', key_sha256: sha256(key!), groups: ['ops'] }] });
    expect(err).toContain('http_headers');
    const g = await start(doc);
    served(await get(g.url, { 'X-API-Key': key! }));
    await expect(tokenCommand(['--header', 'bad header'], io as never)).rejects.toThrow('--header must be an HTTP header name');
  });
});

afterAll(() => {
  expect(keys.size).toBeGreaterThan(10);
  for (const k of keys) {
    const hit = allLines.find((l) => l.includes(k));
    expect(hit, `a key leaked into: ${hit}`).toBeUndefined();
  }
});

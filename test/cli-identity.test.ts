/**
 * `scrapeguard token`, `scrapeguard jwt` (mint and keygen) and `check` on the identity sections,
 * run in-process through the real dispatcher; what they print is used for real: the token and
 * its YAML entry, and the key pair with a minted JWT, each authenticate a scrape over HTTPS.
 */
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { Counter, Registry } from 'prom-client';
import { parse } from 'yaml';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { runMain } from '../src/tools/cli/run.js';
import { createGuard, type Guard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { scrape } from './helpers/client.js';
import { runCli } from './helpers/cli.js';

let dir: string;
let pki: TestPki;
const guards: Guard[] = [];
const cli = (argv: string[]) => runCli((a, io) => runMain(a, io), argv, { cwd: dir });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-cli-identity-'));
  pki = await testPki();
});
afterEach(async () => {
  await Promise.all(guards.splice(0).map((g) => g.close(0)));
});

/** Serves with `config` (plus TLS) and scrapes once with `authorization`. */
async function scrapeWith(config: Record<string, unknown>, authorization: string): Promise<number | undefined> {
  const registry = new Registry();
  new Counter({ name: 'demo_events_total', help: 'Demo.', registers: [registry] }).inc();
  const guard = await createGuard({
    config: { tls_server_config: { cert_file: pki.server.certFile, key_file: pki.server.keyFile }, ...config },
    baseDir: dir,
    source: registry,
    logger: silentLogger,
    watch: false,
  });
  guards.push(guard);
  const [bound] = await guard.listen('127.0.0.1:0');
  return (await scrape(`https://127.0.0.1:${bound!.port}/metrics`, { ca: pki.ca.certPem, headers: { authorization } })).status;
}

describe('scrapeguard token', () => {
  test('prints a 256-bit token once and a bearer_auth entry holding only its digest', async () => {
    const r = await cli(['token', '--name', 'prom-k8s', '--groups', 'ops, sre']);
    expect(r.code).toBe(0);
    const [token, ...rest] = r.stdout.split('\n');
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes base64url
    const yaml = rest.join('\n');
    expect(yaml).not.toContain(token!);
    expect(r.stderr).not.toContain(token!);
    const doc = parse(yaml) as { bearer_auth: { tokens: { name: string; token_sha256: string; groups: string[] }[] } };
    expect(doc.bearer_auth.tokens[0]).toMatchObject({ name: 'prom-k8s', groups: ['ops', 'sre'] });
    expect(doc.bearer_auth.tokens[0]!.token_sha256).toMatch(/^[0-9a-f]{64}$/);

    // The printed entry is a valid config that `check` accepts and that admits the token.
    const configFile = join(dir, 'token-config.yml');
    writeFileSync(configFile, `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\n${yaml}`);
    const check = await cli(['check', '--web.config.file', configFile]);
    expect(check.stdout).toContain('SUCCESS');
    expect(await scrapeWith(doc, `Bearer ${token}`)).toBe(200);
    expect(await scrapeWith(doc, `Bearer ${token}x`)).toBe(401);
  });

  test('two runs give different tokens', async () => {
    const a = (await cli(['token'])).stdout.split('\n')[0];
    const b = (await cli(['token'])).stdout.split('\n')[0];
    expect(a).not.toBe(b);
  });

  test('--out writes the token to a 0600 file and never prints it; refuses to overwrite', async () => {
    const r = await cli(['token', '--out', 'prom.token', '--expires-at', '2999-01-01T00:00:00Z']);
    expect(r.code).toBe(0);
    const token = readFileSync(join(dir, 'prom.token'), 'utf8').trim();
    expect(statSync(join(dir, 'prom.token')).mode & 0o777).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain(token);
    const doc = parse(r.stdout.replace(/^#.*\n/, '')) as Record<string, unknown>;
    expect(doc).toMatchObject({ bearer_auth: { tokens: [{ name: 'prometheus', expires_at: '2999-01-01T00:00:00Z' }] } });
    expect(await scrapeWith(doc, `Bearer ${token}`)).toBe(200);
    const again = await cli(['token', '--out', 'prom.token']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('--force');
  });

  test('usage errors and --help', async () => {
    expect((await cli(['token', '--bytes', '8'])).stderr).toContain('--bytes must be an integer from 32 to 128');
    expect((await cli(['token', '--expires-at', 'soon'])).stderr).toContain('RFC 3339');
    const help = await cli(['token', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: scrapeguard token');
  });
});

describe('scrapeguard jwt', () => {
  test('keygen writes a 0600 key and a public jwks.json; a minted JWT authenticates', async () => {
    const keys = join(dir, 'jwt');
    const gen = await cli(['jwt', 'keygen', '--out', 'jwt', '--kid', 'dev-1']);
    expect(gen.code, gen.stderr).toBe(0);
    expect(statSync(join(keys, 'jwt-signing.key')).mode & 0o777).toBe(0o600);
    const jwks = JSON.parse(readFileSync(join(keys, 'jwks.json'), 'utf8')) as { keys: Record<string, unknown>[] };
    expect(jwks.keys[0]).toMatchObject({ kid: 'dev-1', alg: 'ES256', use: 'sig', kty: 'EC' });
    expect(jwks.keys[0]).not.toHaveProperty('d');

    const mint = await cli([
      'jwt',
      '--key',
      'jwt/jwt-signing.key',
      '--sub',
      'prometheus',
      '--scope',
      'metrics:read openid',
      '--ttl',
      '10m',
      '--iss',
      'dev',
      '--aud',
      'metrics',
      '--groups',
      'ops',
    ]);
    expect(mint.code, mint.stderr).toBe(0);
    // The old flag name still works, and says what it is called now.
    expect(mint.stderr).toBe('warning: --key is now --key-file (the old name still works, and will be removed in 1.0)\n');
    const jwt = mint.stdout.trim();
    expect(decodeProtectedHeader(jwt)).toMatchObject({ alg: 'ES256', kid: 'dev-1', typ: 'JWT' });
    const claims = decodeJwt(jwt);
    expect(claims).toMatchObject({ sub: 'prometheus', scope: 'metrics:read openid', iss: 'dev', aud: 'metrics', groups: ['ops'] });
    expect(claims.exp! - claims.iat!).toBe(600);

    const jwtAuth = { jwks_file: join(keys, 'jwks.json'), issuer: 'dev', audience: 'metrics', required_scopes: ['metrics:read'] };
    expect(await scrapeWith({ jwt_auth: jwtAuth }, `Bearer ${jwt}`)).toBe(200);
    const noScope = (await cli(['jwt', '--key-file', 'jwt/jwt-signing.key', '--sub', 'p', '--iss', 'dev', '--aud', 'metrics'])).stdout.trim();
    expect(await scrapeWith({ jwt_auth: jwtAuth }, `Bearer ${noScope}`)).toBe(403);
  });

  test('RSA and EdDSA keys; HS256 with a secret file', async () => {
    for (const alg of ['RS256', 'EdDSA']) {
      const out = `jwt-${alg}`;
      expect((await cli(['jwt', 'keygen', '--out', out, '--alg', alg])).code).toBe(0);
      const jwt = (await cli(['jwt', '--key-file', `${out}/jwt-signing.key`, '--sub', 's'])).stdout.trim();
      expect(decodeProtectedHeader(jwt).alg).toBe(alg);
      expect(await scrapeWith({ jwt_auth: { jwks_file: `${out}/jwks.json` } }, `Bearer ${jwt}`)).toBe(200);
    }
    writeFileSync(join(dir, 'hs.secret'), `${'k'.repeat(40)}\n`, { mode: 0o600 });
    const hs = (await cli(['jwt', '--key-file', 'hs.secret', '--alg', 'HS256', '--sub', 'ci'])).stdout.trim();
    expect(await scrapeWith({ jwt_auth: { secret_file: 'hs.secret', algorithms: ['HS256'] } }, `Bearer ${hs}`)).toBe(200);
  });

  test('usage errors and --help', async () => {
    expect((await cli(['jwt', '--sub', 'x'])).stderr).toContain('--key-file FILE is required');
    expect((await cli(['jwt', '--key-file', 'nope.key', '--sub', 'x'])).stderr).toContain('ENOENT');
    expect((await cli(['jwt', '--key-file', 'hs.secret', '--sub', 'x', '--ttl', 'forever'])).stderr).toContain('--ttl');
    expect((await cli(['jwt', 'keygen'])).stderr).toContain('--out DIR is required');
    expect((await cli(['jwt', 'keygen', '--out', 'x', '--alg', 'HS256'])).stderr).toContain('--alg must be one of');
    const help = await cli(['jwt', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('jwt keygen');
    expect((await cli(['--help'])).stdout).toMatch(/token .*\n.*jwt /);
  });
});

describe('scrapeguard check', () => {
  test('reports identity-section errors with file and line', async () => {
    const file = join(dir, 'bad-identity.yml');
    writeFileSync(file, ['access_rules:', '  rules:', '    - groups: [ops]', '      allow_metrics: ["node_("]'].join('\n'));
    const r = await cli(['check', '--web.config.file', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:4:`);
    expect(r.stderr).toContain('access_rules.rules[0].allow_metrics[0]');
  });
});

/**
 * The scrape-config generator without a Prometheus: requirements derived from real configs
 * (certificates generated at test time), the matching checks and their warnings, version gating,
 * every auth kind rendered from hand-built requirements, the checks promtool does not do, the
 * CLI's streams and errors, and `generateScrapeConfig(guard.config)`. test/e2e/scrape-config-prometheus.test.ts
 * proves the output against a real Prometheus.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { generate } from 'selfsigned';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../src/config/load.js';
import type { ResolvedConfig } from '../src/config/schema.js';
import { ScrapeguardError } from '../src/errors.js';
import { createGuard } from '../src/guard.js';
import { generateServerCert } from '../src/tools/pki/generate.js';
import {
  generateScrapeConfig,
  operatorManifestsFromRequirements,
  scrapeConfigFromRequirements,
  type GeneratedScrapeConfig,
  type ScrapeConfigOptions,
} from '../src/tools/scrape-config/generate.js';
import { parseTarget } from '../src/tools/scrape-config/plan.js';
import { checkPrometheusJob, type PrometheusScrapeJob } from '../src/tools/scrape-config/prometheus.js';
import { deriveRequirements, type ScrapeRequirements } from '../src/tools/scrape-config/requirements.js';
import { parsePrometheusVersion, supports } from '../src/tools/scrape-config/versions.js';
import { scrapeConfigCommand } from '../src/tools/cli/scrape-config.js';
import { silentLogger } from '../src/log.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';

const PASSWORD = 'scrape-me-please';
const V242 = { major: 2, minor: 42 } as const;

let pki: TestPki;
let passwordHash: string;
beforeAll(async () => {
  pki = await testPki();
  passwordHash = await hash(PASSWORD, { cost: 4 });
});

const tmp = () => mkdtempSync(join(tmpdir(), 'scrapeguard-sc-'));

/** A directory holding a web-config.yml (and the server's own files), as a server would. */
function serverDir(doc: (p: TestPki) => Record<string, unknown>, extraFiles: Record<string, string> = {}): string {
  const dir = tmp();
  copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
  copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
  copyFileSync(pki.ca.certFile, join(dir, 'client-ca.crt'));
  for (const [name, contents] of Object.entries(extraFiles)) writeFileSync(join(dir, name), contents, { mode: 0o600 });
  writeFileSync(join(dir, 'web-config.yml'), JSON.stringify(doc(pki)), { mode: 0o600 });
  return dir;
}

/** A scraper's credentials directory in the `init` layout. */
function credentialsDir(files: { ca?: TestCert; client?: TestCert; key?: TestCert; password?: string; token?: string }): string {
  const dir = tmp();
  if (files.ca) copyFileSync(files.ca.certFile, join(dir, 'ca.crt'));
  if (files.client) copyFileSync(files.client.certFile, join(dir, 'client.crt'));
  if (files.client || files.key) copyFileSync((files.key ?? files.client)!.keyFile, join(dir, 'client.key'));
  if (files.password !== undefined) writeFileSync(join(dir, 'password'), files.password, { mode: 0o600 });
  if (files.token !== undefined) writeFileSync(join(dir, 'token'), files.token, { mode: 0o600 });
  return dir;
}

const tlsSection = { cert_file: 'server.crt', key_file: 'server.key' };
const mtlsSection = { ...tlsSection, client_ca_file: 'client-ca.crt', client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['prometheus'] };

async function load(dir: string): Promise<ResolvedConfig> {
  return loadConfigFile(join(dir, 'web-config.yml'));
}

async function expectScrapeError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScrapeguardError);
  expect((error as ScrapeguardError).code).toBe('SCRAPE_CONFIG');
  expect((error as Error).message).toMatch(pattern);
}

/** No warning or YAML ever carries the password or a private key. */
function expectNoSecrets(out: GeneratedScrapeConfig | { yaml: string; warnings: string[] }): void {
  const text = out.yaml + out.warnings.join('\n');
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain('PRIVATE KEY');
}

describe('versions', () => {
  it('parses MAJOR.MINOR with an optional v and patch, and refuses the rest', () => {
    expect(parsePrometheusVersion('2.42')).toEqual({ major: 2, minor: 42 });
    expect(parsePrometheusVersion('v2.53.1')).toEqual({ major: 2, minor: 53 });
    expect(parsePrometheusVersion('3.0')).toEqual({ major: 3, minor: 0 });
    for (const bad of ['2', '1.8', 'latest', '2.x', '2.42.0.1', '']) expect(parsePrometheusVersion(bad), bad).toBeUndefined();
  });

  it('gates fields at the versions that introduced them', () => {
    expect(supports({ major: 2, minor: 34 }, 'tlsMinVersion')).toBe(false);
    expect(supports({ major: 2, minor: 35 }, 'tlsMinVersion')).toBe(true);
    expect(supports(V242, 'tlsMaxVersion')).toBe(true);
    expect(supports({ major: 2, minor: 40 }, 'tlsMaxVersion')).toBe(false);
    expect(supports({ major: 2, minor: 25 }, 'authorization')).toBe(false);
    expect(supports({ major: 2, minor: 26 }, 'oauth2')).toBe(false);
    expect(supports(V242, 'tlsInline')).toBe(false);
    expect(supports({ major: 3, minor: 0 }, 'httpHeaders')).toBe(true);
  });
});

describe('targets', () => {
  it('parses host:port, IPv4 and bracketed IPv6 (canonicalised)', () => {
    expect(parseTarget('metrics.internal:9443')).toEqual({ host: 'metrics.internal', port: 9443, address: 'metrics.internal:9443' });
    expect(parseTarget('10.0.0.1:1')).toMatchObject({ host: '10.0.0.1', port: 1 });
    expect(parseTarget('[0:0::1]:9443')).toEqual({ host: '::1', port: 9443, address: '[::1]:9443' });
  });

  it.each(['localhost', 'localhost:0', 'localhost:65536', '::1:9443', '[nothex]:1', 'http://x:1', 'a b:1', ':9443'])('refuses %j', (t) => {
    expect(() => parseTarget(t)).toThrow(/is not HOST:PORT/);
  });
});

describe('deriveRequirements', () => {
  it('reads the client-certificate policy, versions and the basic-auth user', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: { ...mtlsSection, min_version: 'TLS13' }, basic_auth_users: { alice: passwordHash } })));
    const req = deriveRequirements(config);
    expect(req).toMatchObject({
      scheme: 'https',
      tls: { clientCert: 'required', clientCertVerified: true, clientAllowedSans: ['prometheus'], minVersion: 'TLS13', maxVersion: 'TLS13' },
      auth: { kind: 'basic', username: 'alice', passwordHash },
      labelDrops: [],
    });
    expect(req.tls?.clientCaFile).toMatch(/client-ca\.crt$/);
    expect(req.tls?.serverCertFile).toMatch(/server\.crt$/);
  });

  it.each([
    ['NoClientCert', 'none', false],
    ['RequestClientCert', 'optional', false],
    ['VerifyClientCertIfGiven', 'optional', true],
    ['RequireAnyClientCert', 'required', false],
  ] as const)('%s → client certificate %s (verified: %s)', async (policy, demand, verified) => {
    const section =
      policy === 'NoClientCert' || policy === 'RequestClientCert' || policy === 'RequireAnyClientCert'
        ? { ...tlsSection }
        : { ...tlsSection, client_ca_file: 'client-ca.crt' };
    const config = await load(serverDir(() => ({ tls_server_config: { ...section, client_auth_type: policy } })));
    expect(deriveRequirements(config).tls).toMatchObject({ clientCert: demand, clientCertVerified: verified });
  });

  it('needs a choice among several users, and refuses an unknown one', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash, bob: passwordHash } })));
    expect(() => deriveRequirements(config)).toThrow(/2 users \(alice, bob\); choose/);
    expect(deriveRequirements(config, { username: 'bob' }).auth).toMatchObject({ kind: 'basic', username: 'bob' });
    expect(() => deriveRequirements(config, { username: 'carol' })).toThrow(/"carol" is not in basic_auth_users/);
  });

  it('plain HTTP without TLS; oauth2 without jwt_auth is refused', async () => {
    const config = await load(serverDir(() => ({})));
    expect(deriveRequirements(config)).toEqual({ scheme: 'http', labelDrops: [] });
    expect(() => deriveRequirements(config, { oauth2: { tokenUrl: 'https://idp/token', clientId: 'x' } })).toThrow(/no jwt_auth/);
    expect(() => deriveRequirements(config, { username: 'x' })).toThrow(/no basic_auth_users/);
  });
});

describe('generateScrapeConfig (matching a real config)', () => {
  it('mTLS + basic auth with a complete credentials directory: exact job for the default Prometheus 3.5, no warnings', async () => {
    const dir = serverDir(() => ({
      tls_server_config: { ...mtlsSection, min_version: 'TLS12', max_version: 'TLS12' },
      basic_auth_users: { alice: passwordHash },
    }));
    const creds = credentialsDir({ ca: pki.ca, client: pki.client, password: `${PASSWORD}\n` });
    const out = await generateScrapeConfig(await load(dir), {
      targets: ['localhost:9443', '[::1]:9443'],
      credentialsDir: creds,
      jobName: 'api',
      scrapeInterval: '15s',
    });
    expect(out.warnings).toEqual([]);
    expect(out.job).toEqual({
      job_name: 'api',
      scheme: 'https',
      metrics_path: '/metrics',
      scrape_interval: '15s',
      static_configs: [{ targets: ['localhost:9443', '[::1]:9443'] }],
      tls_config: {
        ca_file: join(creds, 'ca.crt'),
        cert_file: join(creds, 'client.crt'),
        key_file: join(creds, 'client.key'),
        min_version: 'TLS12',
        max_version: 'TLS12',
      },
      basic_auth: { username: 'alice', password_file: join(creds, 'password') },
      fallback_scrape_protocol: 'PrometheusText0.0.4',
    });
    expect(parse(out.yaml)).toEqual({ scrape_configs: [out.job] });
    expect(out.yaml).toMatch(/^# Generated by scrapeguard scrape-config from .*web-config\.yml for Prometheus 3\.5\+/);
    expectNoSecrets(out);
  });

  it('without a credentials directory looks next to the web config; a missing needed file is an error', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } }));
    await expectScrapeError(
      generateScrapeConfig(await load(dir), { targets: ['localhost:1'] }),
      new RegExp(`${join(dir, 'password')}" does not exist; give --password-file`),
    );
    writeFileSync(join(dir, 'password'), PASSWORD);
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'] });
    expect(out.job.basic_auth).toEqual({ username: 'alice', password_file: join(dir, 'password') });
  });

  it('with --credentials-dir a missing file is referenced anyway, with a warning', async () => {
    const dir = serverDir(() => ({ tls_server_config: mtlsSection, basic_auth_users: { alice: passwordHash } }));
    const creds = join(tmp(), 'later');
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'], credentialsDir: creds });
    expect(out.job.tls_config).toMatchObject({ ca_file: join(creds, 'ca.crt'), cert_file: join(creds, 'client.crt'), key_file: join(creds, 'client.key') });
    expect(out.job.basic_auth?.password_file).toBe(join(creds, 'password'));
    for (const name of ['ca.crt', 'client.crt', 'client.key', 'password']) {
      expect(out.warnings).toContainEqual(expect.stringContaining(`${join(creds, name)}" does not exist (yet); Prometheus drops the job silently`));
    }
  });

  it('explicit files must exist, and a certificate needs its key', async () => {
    const dir = serverDir(() => ({ tls_server_config: mtlsSection }));
    const config = await load(dir);
    await expectScrapeError(
      generateScrapeConfig(config, { targets: ['localhost:1'], files: { caFile: join(dir, 'nope.crt') } }),
      /CA file ".*nope\.crt" \(--ca-file\) does not exist/,
    );
    await expectScrapeError(generateScrapeConfig(config, { targets: ['localhost:1'], files: { certFile: pki.client.certFile } }), /needs its key file/);
  });

  it("uses the server's client CA file as ca_file when that CA signed the server certificate", async () => {
    const dir = serverDir(() => ({ tls_server_config: mtlsSection }));
    const out = await generateScrapeConfig(await load(dir), {
      targets: ['localhost:1'],
      files: { certFile: pki.client.certFile, keyFile: pki.client.keyFile },
    });
    expect(out.job.tls_config?.ca_file).toBe(join(dir, 'client-ca.crt'));
    expect(out.warnings).toEqual([]);
  });

  it('a self-signed server certificate is its own ca_file, with a warning', async () => {
    const self = await generateServerCert(null, { commonName: 'localhost', sans: ['localhost'] });
    const dir = serverDir(() => ({ tls_server_config: { cert_file: 'self.crt', key_file: 'self.key' } }), {
      'self.crt': self.certPem,
      'self.key': self.keyPem,
    });
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'] });
    expect(out.job.tls_config?.ca_file).toBe(join(dir, 'self.crt'));
    expect(out.warnings).toEqual([expect.stringMatching(/self-signed; Prometheus trusts it by its own file/)]);
  });

  it('no CA at all: system roots, with a warning naming the issuer', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection }));
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'] });
    expect(out.job.tls_config?.ca_file).toBeUndefined();
    expect(out.warnings).toEqual([expect.stringMatching(/no CA file for the server certificate \(issuer CN=test CA\).*--ca-file/)]);
  });

  it('warns when the CA file did not sign the server certificate', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection }));
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'], files: { caFile: pki.otherCa.certFile } });
    expect(out.job.tls_config?.ca_file).toBe(pki.otherCa.certFile);
    expect(out.warnings).toEqual([expect.stringMatching(/did not sign the server certificate .*"x509: certificate signed by unknown authority"/)]);
  });

  it('follows intermediates the server sends, and points at a missing one', async () => {
    const intermediate = await generate([{ name: 'commonName', value: 'test intermediate' }], {
      keyType: 'ec',
      curve: 'P-256',
      algorithm: 'sha256',
      ca: { key: pki.ca.keyPem, cert: pki.ca.certPem },
      extensions: [
        { name: 'basicConstraints', cA: true, critical: true },
        { name: 'keyUsage', keyCertSign: true, digitalSignature: true, critical: true },
      ],
    });
    const leaf = await generateServerCert({ certPem: intermediate.cert, keyPem: intermediate.private }, { commonName: 'localhost', sans: ['localhost'] });
    const withChain = serverDir(() => ({ tls_server_config: { cert_file: 'chain.crt', key_file: 'leaf.key' } }), {
      'chain.crt': `${leaf.certPem.trimEnd()}\n${intermediate.cert}`,
      'leaf.key': leaf.keyPem,
    });
    const full = await generateScrapeConfig(await load(withChain), { targets: ['localhost:1'], files: { caFile: pki.ca.certFile } });
    expect(full.warnings).toEqual([]);
    const leafOnly = serverDir(() => ({ tls_server_config: { cert_file: 'leaf.crt', key_file: 'leaf.key' } }), {
      'leaf.crt': leaf.certPem,
      'leaf.key': leaf.keyPem,
    });
    const missing = await generateScrapeConfig(await load(leafOnly), { targets: ['localhost:1'], files: { caFile: pki.ca.certFile } });
    expect(missing.warnings).toEqual([
      expect.stringMatching(/did not sign the server certificate \(issuer CN=test intermediate\).*the server sends no intermediate certificate/),
    ]);
  });

  it('sets server_name when a target is not in the certificate (IPs compared as IPs), and checks --server-name', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: tlsSection })));
    const base: ScrapeConfigOptions = { targets: [], files: { caFile: pki.ca.certFile } };
    const covered = await generateScrapeConfig(config, { ...base, targets: ['LOCALHOST:1', '127.0.0.1:2', '[0:0:0:0:0:0:0:1]:3'] });
    expect(covered.job.tls_config?.server_name).toBeUndefined();
    expect(covered.warnings).toEqual([]);

    const uncovered = await generateScrapeConfig(config, { ...base, targets: ['localhost:1', '10.0.0.5:9443', 'metrics.internal:9443'] });
    expect(uncovered.job.tls_config?.server_name).toBe('localhost');
    expect(uncovered.warnings).toEqual([
      'the server certificate does not name 10.0.0.5, metrics.internal (names: localhost, 127.0.0.1, ::1); server_name set to "localhost" (give a server name to choose another)',
    ]);

    const chosen = await generateScrapeConfig(config, { ...base, targets: ['10.0.0.5:9443'], serverName: '::1' });
    expect(chosen.job.tls_config?.server_name).toBe('::1');
    expect(chosen.warnings).toEqual([]);
    const wrong = await generateScrapeConfig(config, { ...base, targets: ['localhost:1'], serverName: 'metrics.internal' });
    expect(wrong.job.tls_config?.server_name).toBe('metrics.internal');
    expect(wrong.warnings).toEqual([expect.stringMatching(/not valid for server name "metrics\.internal" \(names: localhost, 127\.0\.0\.1, ::1\)/)]);
  });

  it('warns about client certificates the server will refuse, and never shows key material', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: mtlsSection })));
    const gen = (client: TestCert, key?: TestCert) =>
      generateScrapeConfig(config, {
        targets: ['localhost:1'],
        files: { caFile: pki.ca.certFile, certFile: client.certFile, keyFile: (key ?? client).keyFile },
      });
    expect((await gen(pki.client)).warnings).toEqual([]);
    expect((await gen(pki.clientOtherCa)).warnings).toEqual([
      expect.stringMatching(/\(issuer CN=other CA\) was not signed by the server's client CA: the handshake fails/),
    ]);
    expect((await gen(pki.clientWrongSan)).warnings).toEqual([expect.stringMatching(/has none of the SANs the server allows \(prometheus\); it has intruder/)]);
    expect((await gen(pki.clientExpired)).warnings).toEqual([
      expect.stringMatching(/client certificate ".*client-expired\.crt" expired on .*"x509: certificate has expired or is not yet valid"/),
    ]);
    expect((await gen(pki.clientNotYetValid)).warnings).toEqual([expect.stringMatching(/is not valid before/)]);
    const mismatch = await gen(pki.client, pki.clientWrongSan);
    expect(mismatch.warnings).toEqual([expect.stringMatching(/client key file ".*client-wrong-san\.key" is not the private key of/)]);
    expectNoSecrets(mismatch);
    expect(mismatch.warnings.join()).not.toContain(readFileSync(pki.clientWrongSan.keyFile, 'utf8').split('\n')[1]);
  });

  it('warns when the password file does not match the bcrypt hash, without showing it', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } }));
    const creds = credentialsDir({ ca: pki.ca, password: 'not-the-password' });
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'], credentialsDir: creds });
    expect(out.warnings).toEqual([
      `password file "${join(creds, 'password')}" does not hold the password of user "alice" (bcrypt hash mismatch): Prometheus will get 401 Unauthorized`,
    ]);
    expect(out.yaml + out.warnings.join()).not.toContain('not-the-password');
    const empty = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'], credentialsDir: credentialsDir({ ca: pki.ca, password: ' \n' }) });
    expect(empty.warnings).toEqual([expect.stringMatching(/password file ".*" is empty/)]);
  });

  it('warns about an expired server certificate', async () => {
    const dir = serverDir(() => ({ tls_server_config: { cert_file: 'expired.crt', key_file: 'expired.key' } }), {
      'expired.crt': pki.serverExpired.certPem,
      'expired.key': pki.serverExpired.keyPem,
    });
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'], files: { caFile: pki.ca.certFile } });
    expect(out.warnings).toEqual([expect.stringMatching(/^server certificate expired on /)]);
    const soon = await generateScrapeConfig(await load(dir), {
      targets: ['localhost:1'],
      files: { caFile: pki.ca.certFile },
      now: new Date(Date.now() - 2 * 86_400_000 - 3600_000),
    });
    // (That clock is before the test CA was made, hence a second warning about the CA.)
    expect(soon.warnings).toContainEqual(expect.stringMatching(/^server certificate expires on .*less than 14 days/));
  });

  it('gates TLS versions by Prometheus version and mirrors the server', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: { ...tlsSection, min_version: 'TLS13' } })));
    const at = async (v: string) =>
      (await generateScrapeConfig(config, { targets: ['localhost:1'], files: { caFile: pki.ca.certFile }, prometheusVersion: v })).job.tls_config;
    expect(await at('2.34')).toEqual({ ca_file: pki.ca.certFile });
    expect(await at('2.35')).toEqual({ ca_file: pki.ca.certFile, min_version: 'TLS13' });
    const capped = await load(serverDir(() => ({ tls_server_config: { ...tlsSection, min_version: 'TLS12', max_version: 'TLS12' } })));
    const capAt = async (v: string) =>
      (await generateScrapeConfig(capped, { targets: ['localhost:1'], files: { caFile: pki.ca.certFile }, prometheusVersion: v })).job.tls_config;
    expect(await capAt('2.40')).toEqual({ ca_file: pki.ca.certFile, min_version: 'TLS12' });
    expect(await capAt('2.41')).toEqual({ ca_file: pki.ca.certFile, min_version: 'TLS12', max_version: 'TLS12' });
    await expectScrapeError(generateScrapeConfig(config, { targets: ['localhost:1'], prometheusVersion: '1.8' }), /not MAJOR\.MINOR/);
  });

  it('plain HTTP: scheme http, a clear-text warning for credentials', async () => {
    const dir = serverDir(() => ({ basic_auth_users: { alice: passwordHash } }), { password: PASSWORD });
    const out = await generateScrapeConfig(await load(dir), { targets: ['localhost:1'] });
    expect(out.job).toMatchObject({ scheme: 'http', basic_auth: { username: 'alice', password_file: join(dir, 'password') } });
    expect(out.job.tls_config).toBeUndefined();
    expect(out.warnings).toEqual(["the server does not use TLS: the scraper's credentials travel in clear text"]);
  });

  it('refuses bad job names, paths, intervals and duplicate targets', async () => {
    const config = await load(serverDir(() => ({ tls_server_config: tlsSection })));
    const base = { targets: ['localhost:1'], files: { caFile: pki.ca.certFile } };
    await expectScrapeError(generateScrapeConfig(config, { ...base, jobName: 'a b' }), /job name/);
    await expectScrapeError(generateScrapeConfig(config, { ...base, metricsPath: 'metrics' }), /must start with "\/"/);
    await expectScrapeError(generateScrapeConfig(config, { ...base, scrapeInterval: '15' }), /not a Prometheus duration/);
    await expectScrapeError(generateScrapeConfig(config, { ...base, targets: ['localhost:1', 'localhost:1'] }), /given twice/);
    await expectScrapeError(generateScrapeConfig(config, { ...base, targets: [] }), /at least one target/);
  });
});

describe('bearer and JWT servers (identity sections read structurally)', () => {
  const TOKEN = 'bearer-token-value-0123456789';
  const sha = (t: string) => createHash('sha256').update(t).digest('hex');
  const jwtWith = (claims: Record<string, unknown>) =>
    [Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url'), Buffer.from(JSON.stringify(claims)).toString('base64url'), 'c2ln'].join('.');
  let tlsConfig: ResolvedConfig;
  beforeAll(async () => {
    tlsConfig = await load(serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } })));
  });
  const withIdentity = (extra: Record<string, unknown>, basic = true): ResolvedConfig => ({
    ...tlsConfig,
    ...(basic ? {} : { basicAuthUsers: new Map() }),
    ...extra,
  });
  const bearer = (tokens: { name: string; sha256: string; expiresAt?: number }[], revoked: string[] = []) => ({ bearerAuth: { tokens, revoked } });
  const jwt = { jwtAuth: { issuer: ['https://idp.example'], audience: ['metrics'], requiredScopes: ['metrics:read'], algorithms: ['ES256'] } };

  it('several methods need a choice (--auth); each choice derives its requirement', () => {
    const config = withIdentity({ ...bearer([{ name: 'prom', sha256: sha(TOKEN) }]), ...jwt });
    expect(() => deriveRequirements(config)).toThrow(/accepts basic, bearer, jwt; choose the credential Prometheus presents \(--auth\)/);
    expect(deriveRequirements(config, { auth: 'basic' }).auth).toMatchObject({ kind: 'basic', username: 'alice' });
    expect(deriveRequirements(config, { auth: 'bearer' }).auth).toEqual({
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'static',
      tokens: [{ name: 'prom', sha256: sha(TOKEN) }],
      revoked: [],
    });
    expect(deriveRequirements(config, { auth: 'jwt' }).auth).toEqual({
      kind: 'authorization',
      type: 'Bearer',
      tokenKind: 'jwt',
      issuers: ['https://idp.example'],
      audiences: ['metrics'],
      requiredScopes: ['metrics:read'],
    });
    // oauth2 implies jwt; the scopes default to what the server requires.
    expect(deriveRequirements(config, { oauth2: { tokenUrl: 'https://idp.example/token', clientId: 'prometheus' } }).auth).toEqual({
      kind: 'oauth2',
      tokenUrl: 'https://idp.example/token',
      clientId: 'prometheus',
      scopes: ['metrics:read'],
    });
    expect(() => deriveRequirements(config, { auth: 'none' })).toThrow(/without one every scrape gets 401/);
    expect(deriveRequirements(withIdentity({ ...jwt, clientCertAuth: { principalFrom: 'cn' } }), { auth: 'none' }).auth).toBeUndefined();
    expect(() => deriveRequirements(withIdentity(jwt, false), { auth: 'bearer' })).toThrow(/auth bearer was chosen, but the web config accepts jwt/);
    expect(deriveRequirements(withIdentity(jwt, false)).auth).toMatchObject({ kind: 'authorization', tokenKind: 'jwt' });
  });

  it('checks the token file by digest: unknown, revoked, expired, expiring', async () => {
    const creds = credentialsDir({ ca: pki.ca, token: `${TOKEN}\n` });
    const gen = (b: ReturnType<typeof bearer>) => generateScrapeConfig(withIdentity(b, false), { targets: ['localhost:1'], credentialsDir: creds });
    const ok = await gen(bearer([{ name: 'prom', sha256: sha(TOKEN) }]));
    expect(ok.job.authorization).toEqual({ type: 'Bearer', credentials_file: join(creds, 'token') });
    expect(ok.warnings).toEqual([]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha('other') }]))).warnings).toEqual([
      expect.stringMatching(/holds none of the bearer_auth tokens \(compared by SHA-256\): Prometheus will get 401/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN) }], [sha(TOKEN)]))).warnings).toEqual([
      expect.stringMatching(/token of "prom", which is revoked/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN), expiresAt: Date.now() - 1000 }]))).warnings).toEqual([
      expect.stringMatching(/which expired on/),
    ]);
    expect((await gen(bearer([{ name: 'prom', sha256: sha(TOKEN), expiresAt: Date.now() + 86_400_000 }]))).warnings).toEqual([
      expect.stringMatching(/expires on .*less than 14 days/),
    ]);
    for (const out of [ok, await gen(bearer([{ name: 'prom', sha256: sha('other') }]))]) expect(out.yaml + out.warnings.join()).not.toContain(TOKEN);
  });

  it('decodes the JWT in the credentials file: expired, issuer, audience, scopes, not a JWT', async () => {
    const now = Math.floor(Date.now() / 1000);
    const gen = async (token: string) =>
      (await generateScrapeConfig(withIdentity(jwt, false), { targets: ['localhost:1'], credentialsDir: credentialsDir({ ca: pki.ca, token }) })).warnings;
    expect(await gen(jwtWith({ iss: 'https://idp.example', aud: 'metrics', scope: 'metrics:read other', exp: now + 600 }))).toEqual([]);
    expect(await gen(jwtWith({ iss: 'https://idp.example', aud: ['x', 'metrics'], scp: ['metrics:read'], exp: now - 10 }))).toEqual([
      expect.stringMatching(/expired on .*keep the file fresh/),
    ]);
    expect(await gen(jwtWith({ iss: 'https://evil.example', aud: 'other', exp: now + 600 }))).toEqual([
      expect.stringMatching(/issued by "https:\/\/evil\.example", not by https:\/\/idp\.example/),
      expect.stringMatching(/is for audience other, not metrics/),
      expect.stringMatching(/lacks the scopes metrics:read/),
    ]);
    expect(await gen('not-a-jwt')).toEqual([expect.stringMatching(/does not hold a JWT/)]);
  });

  it('mirrors redaction.drop_labels (plus --labeldrop) as labeldrop regexes', async () => {
    const config = withIdentity({ redaction: { dropLabels: ['user_email', 'session_.*'], maskLabels: ['ip'] } });
    expect(deriveRequirements(config, { labelDrops: ['trace_id', 'user_email'] }).labelDrops).toEqual(['user_email', 'session_.*', 'trace_id', 'user_email']);
    const out = await generateScrapeConfig(config, {
      targets: ['localhost:1'],
      credentialsDir: credentialsDir({ ca: pki.ca, password: PASSWORD }),
      labelDrops: ['trace_id', 'user_email'],
    });
    expect(out.job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*|trace_id' }]);
  });

  it.each([
    ['(?!keep).*', /a lookaround/],
    ['(?<=x)y', /a lookaround/],
    ['(a)\\1', /a backreference/],
    ['(?<n>a)\\k<n>', /a named backreference|a \(\?<name>/],
    ['(?<name>a)', /\(\?<name>…\) group/],
  ])('refuses the label drop %j, which RE2 cannot compile', async (re, pattern) => {
    await expectScrapeError(scrapeConfigFromRequirements({ scheme: 'http', labelDrops: [re] }, { targets: ['localhost:1'] }), pattern);
  });

  it('accepts escaped look-alikes', async () => {
    const out = await scrapeConfigFromRequirements({ scheme: 'http', labelDrops: ['a\\(\\?=b', 'x\\\\1'] }, { targets: ['localhost:1'] });
    expect(out.job.metric_relabel_configs).toHaveLength(1);
  });

  it('--auth and --labeldrop on the command line', async () => {
    const dir = serverDir(() => ({ tls_server_config: tlsSection, basic_auth_users: { alice: passwordHash } }));
    const creds = credentialsDir({ ca: pki.ca, password: PASSWORD });
    const result = await runCli(
      scrapeConfigCommand,
      [
        '--web.config.file',
        'web-config.yml',
        '--target',
        'localhost:1',
        '--credentials-dir',
        creds,
        '--auth',
        'basic',
        '--labeldrop',
        'user_email',
        '--labeldrop',
        'session_.*',
      ],
      { cwd: dir },
    );
    expect(result.stderr).toBe('');
    const job = (parse(result.stdout) as { scrape_configs: PrometheusScrapeJob[] }).scrape_configs[0]!;
    expect(job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*' }]);
    const { runMain } = await import('../src/tools/cli/run.js');
    const bad = await runCli(
      (a, io) => runMain(['scrape-config', ...a], io),
      ['--web.config.file', 'web-config.yml', '--target', 'localhost:1', '--auth', 'token'],
      { cwd: dir },
    );
    expect(bad.stderr).toMatch(/^scrapeguard scrape-config: --auth must be basic, bearer, header, jwt or none, got "token"\n$/);
    const none = await runCli(
      (a, io) => runMain(['scrape-config', ...a], io),
      ['--web.config.file', 'web-config.yml', '--target', 'localhost:1', '--auth', 'bearer'],
      { cwd: dir },
    );
    expect(none.stderr).toMatch(/auth bearer was chosen, but the web config accepts basic/);
  });
});

describe('renderers for every auth kind (requirements built by hand)', () => {
  let serverCertPem: string;
  let creds: string;
  const tls = () => ({ serverCertPem, clientCert: 'none' as const, clientCertVerified: false, minVersion: 'TLS12' as const, maxVersion: 'TLS13' as const });
  beforeAll(() => {
    serverCertPem = pki.server.certPem;
    creds = credentialsDir({ ca: pki.ca, token: 'static-token\n' });
    writeFileSync(join(creds, 'client-secret'), 'oauth-secret', { mode: 0o600 });
  });
  const gen = (req: ScrapeRequirements, extra: Partial<ScrapeConfigOptions> = {}) =>
    scrapeConfigFromRequirements(req, { targets: ['localhost:9443'], credentialsDir: creds, ...extra });

  it('bearer token → authorization.credentials_file (legacy bearer_token_file before 2.26)', async () => {
    const req: ScrapeRequirements = { scheme: 'https', tls: tls(), auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, labelDrops: [] };
    const out = await gen(req);
    expect(out.job.authorization).toEqual({ type: 'Bearer', credentials_file: join(creds, 'token') });
    expect(out.warnings).toEqual([]);
    const old = await gen(req, { prometheusVersion: '2.25' });
    expect(old.job.authorization).toBeUndefined();
    expect(old.job.bearer_token_file).toBe(join(creds, 'token'));
    expect(old.job.tls_config?.min_version).toBeUndefined();
    const jwt = await gen({ ...req, auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'jwt' } }, { credentialsDir: tmp() });
    expect(jwt.warnings).toContainEqual(expect.stringMatching(/^JWT credentials file ".*token" does not exist \(yet\)/));
  });

  it('oauth2 client credentials with scopes and endpoint params; refused before 2.27 and for a bad URL', async () => {
    const req: ScrapeRequirements = {
      scheme: 'https',
      tls: tls(),
      auth: { kind: 'oauth2', tokenUrl: 'https://idp.example/token', clientId: 'prometheus', scopes: ['metrics:read'], endpointParams: { audience: 'api' } },
      labelDrops: [],
    };
    const out = await gen(req);
    expect(out.job.oauth2).toEqual({
      client_id: 'prometheus',
      client_secret_file: join(creds, 'client-secret'),
      token_url: 'https://idp.example/token',
      scopes: ['metrics:read'],
      endpoint_params: { audience: 'api' },
    });
    expect(out.yaml).not.toContain('oauth-secret');
    await expectScrapeError(gen(req, { prometheusVersion: '2.26' }), /oauth2 needs Prometheus 2\.27/);
    await expectScrapeError(gen({ ...req, auth: { kind: 'oauth2', tokenUrl: 'ftp://x', clientId: 'p', scopes: [] } }), /not an http\(s\) URL/);
  });

  it('label drops → one labeldrop rule; an invalid regex is refused', async () => {
    const out = await gen({ scheme: 'https', tls: tls(), labelDrops: ['user_email', 'session_.*'] });
    expect(out.job.metric_relabel_configs).toEqual([{ action: 'labeldrop', regex: 'user_email|session_.*' }]);
    await expectScrapeError(gen({ scheme: 'https', tls: tls(), labelDrops: ['(unclosed'] }), /not a valid regular expression/);
  });

  it('the operator renderer references every credential by secret key selector', async () => {
    const base = { selector: { app: 'api' }, namespace: 'shop', credentialsDir: creds };
    const bearer = await operatorManifestsFromRequirements(
      { scheme: 'https', tls: tls(), auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, labelDrops: ['secret'] },
      base,
    );
    const [secret, monitor] = bearer.documents as [Record<string, unknown>, { spec: { endpoints: unknown[] } }];
    expect(secret).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'scrapeguard-scrape-credentials', namespace: 'shop' },
      stringData: { token: 'static-token', 'ca.crt': pki.ca.certPem },
    });
    expect(monitor.spec.endpoints[0]).toMatchObject({
      authorization: { type: 'Bearer', credentials: { name: 'scrapeguard-scrape-credentials', key: 'token' } },
      tlsConfig: { ca: { secret: { name: 'scrapeguard-scrape-credentials', key: 'ca.crt' } }, serverName: 'localhost' },
      metricRelabelings: [{ action: 'labeldrop', regex: 'secret' }],
    });
    const oauth = await operatorManifestsFromRequirements(
      { scheme: 'https', tls: tls(), auth: { kind: 'oauth2', tokenUrl: 'https://idp/token', clientId: 'prom', scopes: ['a'] }, labelDrops: [] },
      { ...base, kind: 'PodMonitor', embedSecrets: false },
    );
    expect(oauth.documents).toHaveLength(1);
    expect((oauth.documents[0] as { spec: { podMetricsEndpoints: { oauth2: unknown }[] } }).spec.podMetricsEndpoints[0]?.oauth2).toEqual({
      clientId: { secret: { name: 'scrapeguard-scrape-credentials', key: 'client-id' } },
      clientSecret: { name: 'scrapeguard-scrape-credentials', key: 'client-secret' },
      tokenUrl: 'https://idp/token',
      scopes: ['a'],
    });
    expect(oauth.createSecretCommand).toBe(
      `kubectl create secret generic scrapeguard-scrape-credentials -n shop --from-literal=client-id=prom --from-file=ca.crt=${join(creds, 'ca.crt')} --from-file=client-secret=${join(creds, 'client-secret')}`,
    );
  });
});

describe('checkPrometheusJob: what promtool lets through', () => {
  const job = (extra: Partial<PrometheusScrapeJob>): PrometheusScrapeJob => ({
    job_name: 'x',
    scheme: 'https',
    metrics_path: '/metrics',
    static_configs: [{ targets: ['a:1'] }],
    ...extra,
  });
  it.each<[string, Partial<PrometheusScrapeJob>, RegExp]>([
    ['scheme HTTPS', { scheme: 'HTTPS' as 'https' }, /scheme must be "http" or "https", got "HTTPS"/],
    ['scheme ftp', { scheme: 'ftp' as 'https' }, /scheme must be/],
    ['min above max', { tls_config: { min_version: 'TLS13', max_version: 'TLS12' } }, /min_version TLS13 is above max_version TLS12/],
    [
      'basic + authorization',
      { basic_auth: { username: 'a', password_file: '/p' }, authorization: { type: 'Bearer', credentials_file: '/t' } },
      /basic_auth and authorization are mutually exclusive/,
    ],
    ['cert without key', { tls_config: { cert_file: '/c' } }, /cert_file and key_file go together/],
    ['inline password', { basic_auth: { username: 'a', password: 'x' } as unknown as { username: string; password_file: string } }, /never inlined/],
    ['max_version on 2.40', { tls_config: { max_version: 'TLS12' } }, /max_version needs Prometheus 2\.41\+/],
  ])('refuses %s', (_name, extra, pattern) => {
    const version = _name === 'max_version on 2.40' ? { major: 2, minor: 40 } : V242;
    expect(() => checkPrometheusJob(job(extra), version)).toThrow(pattern);
  });
  it('accepts a complete job', () => {
    expect(() =>
      checkPrometheusJob(
        job({ tls_config: { ca_file: '/ca', min_version: 'TLS12', max_version: 'TLS13' }, basic_auth: { username: 'a', password_file: '/p' } }),
        V242,
      ),
    ).not.toThrow();
  });
});

describe('scrapeguard scrape-config (CLI)', () => {
  let dir: string;
  let creds: string;
  beforeAll(() => {
    dir = serverDir(() => ({ tls_server_config: mtlsSection, basic_auth_users: { alice: passwordHash } }));
    creds = credentialsDir({ ca: pki.ca, client: pki.client, password: PASSWORD });
  });

  it('prints YAML on stdout and warnings only on stderr', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'web-config.yml', '--target', '10.1.1.1:9443', '--credentials-dir', creds, '--job', 'node'],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      'warning: the server certificate does not name 10.1.1.1 (names: localhost, 127.0.0.1, ::1); server_name set to "localhost" (give a server name to choose another)\n',
    );
    const doc = parse(result.stdout) as { scrape_configs: PrometheusScrapeJob[] };
    expect(doc.scrape_configs[0]).toMatchObject({ job_name: 'node', tls_config: { server_name: 'localhost', ca_file: join(creds, 'ca.crt') } });
    expect(result.stdout).not.toContain('warning');
    expect(result.stdout + result.stderr).not.toContain(PASSWORD);
  });

  it('prints a ServiceMonitor and its Secret for --format servicemonitor', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'web-config.yml', '--format', 'servicemonitor', '--selector', 'app=api', '--namespace', 'shop', '--credentials-dir', creds],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    const docs = result.stdout.split(/^---$/m).map((d) => parse(d) as { kind: string });
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'ServiceMonitor']);
    expect(result.stderr).toMatch(/^warning: .*Secret "scrapeguard-scrape-credentials" with private key or credential material/m);
  });

  it.each([
    [[], /--web\.config\.file is required/],
    [['--web.config.file', 'web-config.yml'], /at least one --target/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--format', 'yaml'], /--format must be/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--format', 'servicemonitor', '--selector', 'a=b'], /--target does not apply/],
    [['--web.config.file', 'web-config.yml', '--format', 'podmonitor'], /needs at least one --selector/],
    [['--web.config.file', 'web-config.yml', '--format', 'podmonitor', '--selector', 'novalue'], /is not LABEL=VALUE/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--namespace', 'a'], /--namespace applies only to/],
    [['--web.config.file', 'web-config.yml', '--target', 'x:1', '--oauth2-token-url', 'https://i/t'], /go together/],
    [['--web.config.file', 'web-config.yml', '--target', 'x'], /is not HOST:PORT/],
  ])('refuses %j with a one-line error', async (argv, pattern) => {
    const { runMain } = await import('../src/tools/cli/run.js');
    const result = await runCli((a, io) => runMain(['scrape-config', ...a], io), argv, { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^scrapeguard scrape-config: [^\n]+\n$/);
    expect(result.stderr).toMatch(pattern);
  });

  it('shows --help', async () => {
    const result = await runCli(scrapeConfigCommand, ['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: scrapeguard scrape-config --web\.config\.file FILE --target HOST:PORT/);
  });
});

describe('generateScrapeConfig(guard.config)', () => {
  it('generates from the configuration in force', async () => {
    const dir = serverDir(() => ({ tls_server_config: mtlsSection }));
    mkdirSync(join(dir, 'scraper'));
    const guard = await createGuard({ config: join(dir, 'web-config.yml'), source: () => 'up 1\n', logger: silentLogger, watch: false });
    try {
      const creds = credentialsDir({ ca: pki.ca, client: pki.client });
      const out = await generateScrapeConfig(guard.config, { targets: ['localhost:9443'], credentialsDir: creds });
      expect(out.job.tls_config).toEqual({
        ca_file: join(creds, 'ca.crt'),
        cert_file: join(creds, 'client.crt'),
        key_file: join(creds, 'client.key'),
        min_version: 'TLS12',
      });
      expect(out.warnings).toEqual([]);
    } finally {
      await guard.close();
    }
  });
});

/**
 * The scrape-config generator without a Prometheus, from real configs (certificates generated at
 * test time): version gating, targets, requirements derived from a config, and the generated job
 * for each TLS and basic-auth shape with its checks and warnings. The other auth kinds, the checks
 * promtool does not do and the CLI are in test/scrape-config-auth-kinds.test.ts;
 * test/e2e/scrape-config-prometheus.test.ts proves the output against a real Prometheus.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { generate } from 'selfsigned';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateServerCert } from '../src/tools/pki/generate.js';
import { generateScrapeConfig, type ScrapeConfigOptions } from '../src/tools/scrape-config/generate.js';
import { parseTarget } from '../src/tools/scrape-config/plan.js';
import { deriveRequirements } from '../src/tools/scrape-config/requirements.js';
import { parsePrometheusVersion, supports } from '../src/tools/scrape-config/versions.js';
import { testPki, type TestCert, type TestPki } from './helpers/pki.js';
import {
  credentialsDir,
  expectNoSecrets,
  expectScrapeError,
  load,
  mtlsSection,
  PASSWORD,
  serverDir,
  tlsSection,
  tmp,
  useScrapeConfigPki,
  V242,
} from './helpers/scrape-config.js';

useScrapeConfigPki();
let pki: TestPki;
let passwordHash: string;
beforeAll(async () => {
  pki = await testPki();
  passwordHash = await hash(PASSWORD, { cost: 4 });
});

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

/**
 * The scrape-config generator per target version: Prometheus 2.x and 3.x (`--prometheus-version`,
 * default the 3.5 LTS) and prometheus-operator (`--operator-version`), the `ScrapeConfig` CRD
 * output, native-histogram protocols, the token endpoint's own CA (`oauth2.tls_config`), and a
 * metrics path force-excluded from authentication. Operator output is validated against the CRD
 * schemas of the version asked for (test/fixtures/prometheus-operator). promtool 2.42 and 3.5
 * check the same outputs in test/e2e/scrape-config-versions.test.ts.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { closed, operatorFixture, type Json } from './helpers/operator-schema.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../src/config/load.js';
import { ScrapeguardError } from '../src/errors.js';
import { createGuard } from '../src/guard.js';
import { silentLogger } from '../src/log.js';
import { runMain } from '../src/tools/cli/run.js';
import { scrapeConfigCommand } from '../src/tools/cli/scrape-config.js';
import {
  generateOperatorManifests,
  generateScrapeConfig,
  operatorManifestsFromRequirements,
  scrapeConfigFromRequirements,
  type OperatorManifestOptions,
} from '../src/tools/scrape-config/generate.js';
import type { ScrapeRequirements } from '../src/tools/scrape-config/requirements.js';
import {
  DEFAULT_OPERATOR_VERSION,
  DEFAULT_PROMETHEUS_VERSION,
  FIELD_SINCE,
  nativeHistogramProtocols,
  OPERATOR_FIELD_SINCE,
  parseOperatorVersion,
} from '../src/tools/scrape-config/versions.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestPki } from './helpers/pki.js';

const PASSWORD = 'versions-password';
let pki: TestPki;
let dir: string;
let creds: string;

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-scv-'));
  creds = mkdtempSync(join(tmpdir(), 'scrapeguard-scv-creds-'));
  copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
  copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
  const users = { prometheus: await hash(PASSWORD, { cost: 4 }) };
  const tls = { cert_file: 'server.crt', key_file: 'server.key', min_version: 'TLS13' };
  writeFileSync(join(dir, 'basic.yml'), JSON.stringify({ tls_server_config: tls, basic_auth_users: users }));
  writeFileSync(
    join(dir, 'excluded.yml'),
    JSON.stringify({ tls_server_config: tls, basic_auth_users: users, auth_excluded_paths: [{ path: '/metrics', force: true }, '/healthz'] }),
  );
  writeFileSync(
    join(dir, 'excluded-other.yml'),
    JSON.stringify({ tls_server_config: tls, basic_auth_users: users, auth_excluded_paths: [{ path: '/federate', force: true }] }),
  );
  copyFileSync(pki.ca.certFile, join(creds, 'ca.crt'));
  writeFileSync(join(creds, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(join(creds, 'client-secret'), 'oauth-secret', { mode: 0o600 });
  // The token endpoint's certificate comes from a CA of its own (here: the test PKI's "other" CA).
  copyFileSync(pki.otherCa.certFile, join(creds, 'idp-ca.crt'));
});

/** The whole CLI (exit code 1 and one stderr line for a usage or generation error). */
const cli = (argv: readonly string[], cwd: string) => runCli((a, io) => runMain(['scrape-config', ...a], io), argv, { cwd });

async function expectScrapeError(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ScrapeguardError);
  expect((error as ScrapeguardError).code).toBe('SCRAPE_CONFIG');
  expect((error as Error).message).toMatch(pattern);
}

// ---- CRD schemas of several operator versions -------------------------------------------------

const fixture = operatorFixture;

const schemas = (() => {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  for (const keyword of [
    'x-kubernetes-map-type',
    'x-kubernetes-int-or-string',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-validations',
  ])
    ajv.addKeyword({ keyword });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T/);
  const strict = (file: string): ValidateFunction => ajv.compile(closed(fixture(file)) as Json);
  return {
    serviceMonitor093: strict('servicemonitors.v1.schema.json'),
    serviceMonitor075: strict('servicemonitors.v1.v0.75.0.schema.json'),
    podMonitor093: strict('podmonitors.v1.schema.json'),
    scrapeConfig093: strict('scrapeconfigs.v1alpha1.v0.93.0.subset.schema.json'),
    scrapeConfig068: strict('scrapeconfigs.v1alpha1.v0.68.0.subset.schema.json'),
  };
})();

function expectValid(validate: ValidateFunction, doc: Json): void {
  expect(validate(doc), JSON.stringify(validate.errors)).toBe(true);
}

const monitorOf = (documents: Record<string, unknown>[]) => documents[documents.length - 1] as Json & { spec: Json };
const endpointOf = (monitor: { spec: Json }) => ((monitor.spec.endpoints ?? monitor.spec.podMetricsEndpoints) as Json[] | undefined)?.[0] ?? monitor.spec;

// ---- the tables -------------------------------------------------------------------------------

describe('version tables', () => {
  it('default to Prometheus 3.5 (LTS) and prometheus-operator 0.80', () => {
    expect(DEFAULT_PROMETHEUS_VERSION).toEqual({ major: 3, minor: 5 });
    expect(DEFAULT_OPERATOR_VERSION).toEqual({ major: 0, minor: 80 });
  });

  it('record the first Prometheus and operator release of each field (checked against their docs, CRDs and changelog)', () => {
    expect(FIELD_SINCE).toMatchObject({
      oauth2TlsConfig: { major: 2, minor: 31 },
      scrapeProtocols: { major: 2, minor: 49 },
      prometheusText1: { major: 3, minor: 0 },
      fallbackScrapeProtocol: { major: 3, minor: 0 },
      scrapeNativeHistograms: { major: 3, minor: 8 },
    });
    expect(OPERATOR_FIELD_SINCE).toMatchObject({
      tlsMinMaxVersion: { major: 0, minor: 76 },
      oauth2TlsConfig: { major: 0, minor: 76 },
      scrapeProtocols: { major: 0, minor: 72 },
      prometheusText1: { major: 0, minor: 79 },
      fallbackScrapeProtocol: { major: 0, minor: 80 },
      scrapeNativeHistograms: { major: 0, minor: 88 },
      scrapeConfigCrd: { major: 0, minor: 68 },
    });
  });

  it('parses operator versions 0.40 and later, with an optional v and patch', () => {
    expect(parseOperatorVersion('v0.76.2')).toEqual({ major: 0, minor: 76 });
    expect(parseOperatorVersion('0.80')).toEqual({ major: 0, minor: 80 });
    for (const bad of ['0.39', '0', 'latest', 'v0.x', '']) expect(parseOperatorVersion(bad), bad).toBeUndefined();
  });

  it('list protobuf first for native histograms, PrometheusText1.0.0 only where it exists, nothing before 2.49', () => {
    expect(nativeHistogramProtocols({ major: 3, minor: 5 })).toEqual([
      'PrometheusProto',
      'OpenMetricsText1.0.0',
      'OpenMetricsText0.0.1',
      'PrometheusText1.0.0',
      'PrometheusText0.0.4',
    ]);
    expect(nativeHistogramProtocols({ major: 2, minor: 53 })).toEqual([
      'PrometheusProto',
      'OpenMetricsText1.0.0',
      'OpenMetricsText0.0.1',
      'PrometheusText0.0.4',
    ]);
    expect(nativeHistogramProtocols({ major: 2, minor: 48 })).toBeUndefined();
    expect(nativeHistogramProtocols({ major: 3, minor: 5 }, { major: 0, minor: 78 })).not.toContain('PrometheusText1.0.0');
    expect(nativeHistogramProtocols({ major: 3, minor: 5 }, { major: 0, minor: 71 })).toBeUndefined();
  });
});

// ---- Prometheus -------------------------------------------------------------------------------

describe('Prometheus scrape job per version', () => {
  const gen = async (file: string, extra: Record<string, unknown> = {}) =>
    generateScrapeConfig(await loadConfigFile(join(dir, file)), { targets: ['localhost:9443'], credentialsDir: creds, ...extra });

  it('3.5 (default): fallback_scrape_protocol PrometheusText0.0.4, no scrape_protocols unless asked', async () => {
    const out = await gen('basic.yml');
    expect(out.job.fallback_scrape_protocol).toBe('PrometheusText0.0.4');
    expect(out.job.scrape_protocols).toBeUndefined();
    expect(out.yaml).toMatch(/for Prometheus 3\.5\+/);
  });

  it('2.42: no Prometheus 3 key at all', async () => {
    const out = await gen('basic.yml', { prometheusVersion: '2.42' });
    expect(out.job).not.toHaveProperty('fallback_scrape_protocol');
    expect(out.job).not.toHaveProperty('scrape_protocols');
    expect(out.job.tls_config?.min_version).toBe('TLS13');
  });

  it.each([
    [
      '3.5',
      ['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText1.0.0', 'PrometheusText0.0.4'],
      undefined,
      /--enable-feature=native-histograms/,
    ],
    ['3.8', ['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText1.0.0', 'PrometheusText0.0.4'], true, undefined],
    ['2.53', ['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText0.0.4'], undefined, /--enable-feature=native-histograms/],
    ['2.42', undefined, undefined, /no per-job scrape_protocols \(2\.49\+\)/],
  ])('native histograms for Prometheus %s: protocols %j, scrape_native_histograms %s', async (version, protocols, perJob, warning) => {
    const out = await gen('basic.yml', { prometheusVersion: version, nativeHistograms: true });
    expect(out.job.scrape_protocols).toEqual(protocols);
    expect(out.job.scrape_native_histograms).toBe(perJob);
    if (warning) expect(out.warnings).toContainEqual(expect.stringMatching(warning));
    else expect(out.warnings).toEqual([]);
  });

  it('CLI: --native-histograms and --prometheus-version', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'basic.yml', '--target', 'localhost:9443', '--credentials-dir', creds, '--native-histograms', '--prometheus-version', '2.49'],
      { cwd: dir },
    );
    expect(result.code, result.stderr).toBe(0);
    const job = (parse(result.stdout) as { scrape_configs: Json[] }).scrape_configs[0]!;
    expect(job.scrape_protocols).toEqual(['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText0.0.4']);
    expect(job).not.toHaveProperty('fallback_scrape_protocol');
  });
});

// ---- auth_excluded_paths -----------------------------------------------------------------------

describe('a metrics path force-excluded from authentication', () => {
  it('emits no basic_auth (the server ignores credentials there), with a warning', async () => {
    const config = await loadConfigFile(join(dir, 'excluded.yml'));
    const out = await generateScrapeConfig(config, { targets: ['localhost:9443'], credentialsDir: creds });
    expect(out.job.basic_auth).toBeUndefined();
    expect(out.yaml).not.toMatch(/basic_auth|password_file/);
    expect(out.requirements.authExcluded).toBe(true);
    expect(out.warnings).toContainEqual(expect.stringMatching(/excluded from authentication \(auth_excluded_paths, force: true\)/));
    const ops = await generateOperatorManifests(config, { selector: { app: 'api' }, credentialsDir: creds });
    expect(JSON.stringify(ops.documents)).not.toMatch(/basicAuth|password/);
  });

  it('refuses an explicit credential for it', async () => {
    const config = await loadConfigFile(join(dir, 'excluded.yml'));
    await expectScrapeError(
      generateScrapeConfig(config, { targets: ['localhost:9443'], credentialsDir: creds, auth: 'basic' }),
      /--auth basic was given, but \/metrics is excluded/,
    );
    await expectScrapeError(
      generateScrapeConfig(config, { targets: ['localhost:9443'], credentialsDir: creds, username: 'prometheus' }),
      /basic-auth user was given/,
    );
  });

  it('still emits basic_auth for another path, or when another path is excluded', async () => {
    const excluded = await loadConfigFile(join(dir, 'excluded.yml'));
    const other = await generateScrapeConfig(excluded, { targets: ['localhost:9443'], credentialsDir: creds, metricsPath: '/custom' });
    expect(other.job.basic_auth?.username).toBe('prometheus');
    const federate = await generateScrapeConfig(await loadConfigFile(join(dir, 'excluded-other.yml')), { targets: ['localhost:9443'], credentialsDir: creds });
    expect(federate.job.basic_auth?.username).toBe('prometheus');
  });

  it('the CLI and generateScrapeConfig(guard.config, { metricsPath: guard.telemetryPath }) agree', async () => {
    const result = await runCli(scrapeConfigCommand, ['--web.config.file', 'excluded.yml', '--target', 'localhost:9443', '--credentials-dir', creds], {
      cwd: dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).not.toContain('basic_auth');
    const guard = await createGuard({ config: join(dir, 'excluded.yml'), source: () => '', logger: silentLogger, watch: false });
    try {
      expect(
        (await generateScrapeConfig(guard.config, { targets: ['localhost:9443'], credentialsDir: creds, metricsPath: guard.telemetryPath })).job.basic_auth,
      ).toBeUndefined();
    } finally {
      await guard.close();
    }
    const custom = await createGuard({ config: join(dir, 'excluded.yml'), source: () => '', logger: silentLogger, watch: false, telemetryPath: '/custom' });
    try {
      expect(
        (await generateScrapeConfig(custom.config, { targets: ['localhost:9443'], credentialsDir: creds, metricsPath: custom.telemetryPath })).job,
      ).toMatchObject({ metrics_path: '/custom', basic_auth: { username: 'prometheus' } });
    } finally {
      await custom.close();
    }
  });
});

// ---- oauth2 with the token endpoint's own CA ---------------------------------------------------

describe('oauth2 tls_config (the token endpoint has its own CA)', () => {
  const req = (tokenUrl = 'https://idp.internal/token'): ScrapeRequirements => ({
    scheme: 'https',
    tls: { serverCertPem: pki.server.certPem, clientCert: 'none', clientCertVerified: false, minVersion: 'TLS12', maxVersion: 'TLS13' },
    auth: { kind: 'oauth2', tokenUrl, clientId: 'prometheus', scopes: ['metrics'] },
    labelDrops: [],
  });
  const files = () => ({ caFile: join(creds, 'ca.crt'), oauth2CaFile: join(creds, 'idp-ca.crt') });

  it('Prometheus: oauth2.tls_config.ca_file next to the scrape tls_config, from 2.31', async () => {
    const out = await scrapeConfigFromRequirements(req(), { targets: ['localhost:9443'], credentialsDir: creds, files: files() });
    expect(out.job.oauth2).toMatchObject({ token_url: 'https://idp.internal/token', tls_config: { ca_file: join(creds, 'idp-ca.crt') } });
    expect(out.job.tls_config?.ca_file).toBe(join(creds, 'ca.crt'));
    expect(
      (await scrapeConfigFromRequirements(req(), { targets: ['localhost:9443'], credentialsDir: creds, files: files(), prometheusVersion: '2.31' })).job.oauth2
        ?.tls_config,
    ).toBeDefined();
    await expectScrapeError(
      scrapeConfigFromRequirements(req(), { targets: ['localhost:9443'], credentialsDir: creds, files: files(), prometheusVersion: '2.30' }),
      /needs Prometheus 2\.31/,
    );
    await expectScrapeError(
      scrapeConfigFromRequirements(req('http://idp.internal/token'), { targets: ['localhost:9443'], credentialsDir: creds, files: files() }),
      /plain HTTP/,
    );
    const none = await scrapeConfigFromRequirements(req(), { targets: ['localhost:9443'], credentialsDir: creds });
    expect(none.job.oauth2).not.toHaveProperty('tls_config');
  });

  it('operator: oauth2.tlsConfig.ca from the Secret key oauth2-ca.crt, schema-valid; refused before 0.76', async () => {
    const out = await operatorManifestsFromRequirements(req(), { selector: { app: 'api' }, credentialsDir: creds, files: files() });
    const [secret, monitor] = out.documents as [Json, Json & { spec: Json }];
    expectValid(schemas.serviceMonitor093, monitor);
    expect(endpointOf(monitor).oauth2).toMatchObject({ tlsConfig: { ca: { secret: { name: 'scrapeguard-scrape-credentials', key: 'oauth2-ca.crt' } } } });
    expect((secret.stringData as Record<string, string>)['oauth2-ca.crt']).toBe(pki.otherCa.certPem);
    await expectScrapeError(
      operatorManifestsFromRequirements(req(), { selector: { app: 'api' }, credentialsDir: creds, files: files(), operatorVersion: '0.75' }),
      /oauth2\.tlsConfig .* needs prometheus-operator 0\.76/,
    );
  });

  it('CLI: --oauth2-ca-file needs the oauth2 flags', async () => {
    const bad = await cli(['--web.config.file', 'basic.yml', '--target', 'x:1', '--oauth2-ca-file', 'idp-ca.crt'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--oauth2-ca-file need --oauth2-token-url/);
  });
});

// ---- operator versions and the ScrapeConfig CRD ------------------------------------------------

describe('prometheus-operator output per --operator-version', () => {
  const base = (): OperatorManifestOptions => ({ selector: { app: 'api' }, namespace: 'shop', credentialsDir: creds });

  it('default (0.80): minVersion and fallbackScrapeProtocol, valid for 0.93; the 0.75 CRD does not know them', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'basic.yml')), base());
    const monitor = monitorOf(out.documents);
    expectValid(schemas.serviceMonitor093, monitor);
    expect(endpointOf(monitor)).toMatchObject({ tlsConfig: { minVersion: 'TLS13' } });
    expect(monitor.spec.fallbackScrapeProtocol).toBe('PrometheusText0.0.4');
    expect(out.yaml).toMatch(/for Prometheus 3\.5\+ and prometheus-operator 0\.80\+/);
    // What an API server with the 0.75 CRD would prune without a word.
    expect(schemas.serviceMonitor075(monitor)).toBe(false);
    expect(JSON.stringify(schemas.serviceMonitor075.errors)).toMatch(/minVersion|fallbackScrapeProtocol/);
  });

  it('0.75: no tlsConfig.minVersion (with a warning) and no fallbackScrapeProtocol; valid for the 0.75 CRD', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'basic.yml')), {
      ...base(),
      operatorVersion: 'v0.75.0',
      nativeHistograms: true,
    });
    const monitor = monitorOf(out.documents);
    expectValid(schemas.serviceMonitor075, monitor);
    expect(endpointOf(monitor).tlsConfig).not.toHaveProperty('minVersion');
    expect(monitor.spec).not.toHaveProperty('fallbackScrapeProtocol');
    expect(monitor.spec.scrapeProtocols).toEqual(['PrometheusProto', 'OpenMetricsText1.0.0', 'OpenMetricsText0.0.1', 'PrometheusText0.0.4']);
    expect(out.warnings).toContainEqual(expect.stringMatching(/prometheus-operator 0\.75 has no tlsConfig\.minVersion\/maxVersion \(0\.76\+\)/));
  });

  it('Prometheus 2.42 behind operator 0.93: no Prometheus 3 fields even though the CRD knows them', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'basic.yml')), {
      ...base(),
      kind: 'PodMonitor',
      operatorVersion: '0.93',
      prometheusVersion: '2.42',
    });
    const monitor = monitorOf(out.documents);
    expectValid(schemas.podMonitor093, monitor);
    expect(monitor.spec).not.toHaveProperty('fallbackScrapeProtocol');
  });

  it('native histograms with Prometheus 3.8 and operator 0.88: scrapeNativeHistograms', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'basic.yml')), {
      ...base(),
      operatorVersion: '0.88',
      prometheusVersion: '3.8',
      nativeHistograms: true,
    });
    const monitor = monitorOf(out.documents);
    expectValid(schemas.serviceMonitor093, monitor);
    expect(monitor.spec).toMatchObject({ scrapeNativeHistograms: true, scrapeProtocols: expect.arrayContaining(['PrometheusProto', 'PrometheusText1.0.0']) });
    expect(out.warnings.join()).not.toMatch(/enable-feature/);
  });

  it('refuses what an old operator cannot express, and versions before 0.40', async () => {
    const config = await loadConfigFile(join(dir, 'basic.yml'));
    await expectScrapeError(
      generateOperatorManifests(config, { ...base(), kind: 'PodMonitor', operatorVersion: '0.42' }),
      /basicAuth and tlsConfig\.keySecret on a PodMonitor needs prometheus-operator 0\.43/,
    );
    await expectScrapeError(generateOperatorManifests(config, { ...base(), operatorVersion: '0.39' }), /not MAJOR\.MINOR from 0\.40 on/);
    const bearer: ScrapeRequirements = { scheme: 'http', auth: { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, labelDrops: [] };
    writeFileSync(join(creds, 'token'), 'static-token', { mode: 0o600 });
    await expectScrapeError(operatorManifestsFromRequirements(bearer, { ...base(), operatorVersion: '0.49' }), /authorization needs prometheus-operator 0\.50/);
  });

  it('ScrapeConfig (v1alpha1): static targets, upper-case scheme, valid for 0.93 and, with --operator-version 0.68, for 0.68', async () => {
    const config = await loadConfigFile(join(dir, 'basic.yml'));
    const out = await generateOperatorManifests(config, {
      kind: 'ScrapeConfig',
      targets: ['api-0.shop:9443', 'api-1.shop:9443'],
      credentialsDir: creds,
      name: 'api',
      interval: '30s',
    });
    const [secret, sc] = out.documents as [Json, Json & { spec: Json }];
    expect(sc).toMatchObject({ apiVersion: 'monitoring.coreos.com/v1alpha1', kind: 'ScrapeConfig', metadata: { name: 'api' } });
    expect(sc.spec).toMatchObject({
      staticConfigs: [{ targets: ['api-0.shop:9443', 'api-1.shop:9443'] }],
      scheme: 'HTTPS',
      metricsPath: '/metrics',
      scrapeInterval: '30s',
      basicAuth: { username: { name: 'api-scrape-credentials', key: 'username' }, password: { name: 'api-scrape-credentials', key: 'password' } },
      tlsConfig: { ca: { secret: { name: 'api-scrape-credentials', key: 'ca.crt' } }, minVersion: 'TLS13' },
      fallbackScrapeProtocol: 'PrometheusText0.0.4',
    });
    expect(secret.kind).toBe('Secret');
    expectValid(schemas.scrapeConfig093, sc);
    expect(schemas.scrapeConfig068(sc)).toBe(false);
    const old = await generateOperatorManifests(config, { kind: 'ScrapeConfig', targets: ['api-0.shop:9443'], credentialsDir: creds, operatorVersion: '0.68' });
    expectValid(schemas.scrapeConfig068, monitorOf(old.documents));
    await expectScrapeError(
      generateOperatorManifests(config, { kind: 'ScrapeConfig', targets: ['a:1'], credentialsDir: creds, operatorVersion: '0.67' }),
      /ScrapeConfig resource .* needs prometheus-operator 0\.68/,
    );
    await expectScrapeError(
      generateOperatorManifests(config, { kind: 'ScrapeConfig', targets: ['a:1'], selector: { app: 'api' }, credentialsDir: creds }),
      /takes no selector/,
    );
  });

  it('CLI: --format scrapeconfig with --target, --operator-version; the flags are refused where they do not apply', async () => {
    const ok = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'basic.yml', '--format', 'scrapeconfig', '--target', 'api.shop:9443', '--credentials-dir', creds, '--operator-version', '0.76'],
      { cwd: dir },
    );
    expect(ok.code, ok.stderr).toBe(0);
    const docs = parseAllDocuments(ok.stdout).map((d) => d.toJS() as Json);
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'ScrapeConfig']);
    expectValid(schemas.scrapeConfig093, docs[1]!);
    expect((docs[1]!.spec as Json).fallbackScrapeProtocol).toBeUndefined();
    for (const [argv, pattern] of [
      [['--format', 'scrapeconfig'], /needs at least one --target/],
      [['--format', 'scrapeconfig', '--target', 'a:1', '--selector', 'a=b'], /--selector does not apply to --format scrapeconfig/],
      [['--target', 'a:1', '--operator-version', '0.80'], /--operator-version applies only to --format servicemonitor, podmonitor or scrapeconfig/],
      [['--format', 'servicemonitor', '--selector', 'a=b', '--operator-version', 'latest'], /prometheus-operator version "latest"/],
    ] as const) {
      const bad = await cli(['--web.config.file', 'basic.yml', '--credentials-dir', creds, ...argv], dir);
      expect(bad.code, argv.join(' ')).toBe(1);
      expect(bad.stderr).toMatch(pattern);
    }
  });
});

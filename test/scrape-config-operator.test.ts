/**
 * `--format servicemonitor|podmonitor` output validates against prometheus-operator's own CRD
 * schemas (openAPIV3Schema of monitoring.coreos.com/v1, kept in test/fixtures/prometheus-operator
 * with their source version). Each manifest is checked twice: against the schema as the API
 * server applies it, and "closed" (no unknown field anywhere, as `kubectl apply --validate=strict`
 * demands), so a misspelt field fails here instead of being silently pruned in a cluster.
 * Every secret key selector must name a key the emitted Secret holds.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { hash } from '@node-rs/bcrypt';
import { parseAllDocuments } from 'yaml';
import { closed, operatorFixture, type Json } from './helpers/operator-schema.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../src/config/load.js';
import { generateOperatorManifests, operatorManifestsFromRequirements, type OperatorManifestOptions } from '../src/tools/scrape-config/generate.js';
import type { ScrapeRequirements } from '../src/tools/scrape-config/requirements.js';
import { scrapeConfigCommand } from '../src/tools/cli/scrape-config.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestPki } from './helpers/pki.js';

const fixture = operatorFixture;

function compiler(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false });
  // Kubernetes' structural-schema extensions carry no validation ajv could apply.
  for (const keyword of ['x-kubernetes-map-type', 'x-kubernetes-int-or-string', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys'])
    ajv.addKeyword({ keyword });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/i);
  return ajv;
}

const validators: Record<'ServiceMonitor' | 'PodMonitor', { open: ValidateFunction; strict: ValidateFunction }> = (() => {
  const ajv = compiler();
  const make = (file: string) => {
    const schema = fixture(file);
    return { open: ajv.compile(schema), strict: ajv.compile(closed(schema) as Json) };
  };
  return { ServiceMonitor: make('servicemonitors.v1.schema.json'), PodMonitor: make('podmonitors.v1.schema.json') };
})();

function expectValid(monitor: Json): void {
  const v = validators[monitor.kind as 'ServiceMonitor' | 'PodMonitor'];
  expect(v, String(monitor.kind)).toBeDefined();
  expect(v.open(monitor), JSON.stringify(v.open.errors)).toBe(true);
  expect(v.strict(monitor), JSON.stringify(v.strict.errors)).toBe(true);
}

/** Every `{name, key}` secret selector in the monitor names the Secret and one of its keys. */
function expectSelectorsResolve(monitor: Json, secret: Json | undefined): void {
  const selectors: { name: string; key: string }[] = [];
  const walk = (v: unknown, parentKey: string): void => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, parentKey));
    if (typeof v !== 'object' || v === null) return;
    const o = v as Json;
    if (typeof o.name === 'string' && typeof o.key === 'string' && parentKey !== 'metadata') selectors.push({ name: o.name, key: o.key });
    for (const [k, x] of Object.entries(o)) walk(x, k);
  };
  walk(monitor.spec, 'spec');
  expect(selectors.length).toBeGreaterThan(0);
  const meta = (secret?.metadata ?? {}) as Json;
  const data = (secret?.stringData ?? {}) as Record<string, string>;
  for (const s of selectors) {
    expect(s.name).toBe(meta.name);
    expect(Object.keys(data), s.key).toContain(s.key);
  }
  expect(meta.namespace).toBe((monitor.metadata as Json).namespace);
}

let pki: TestPki;
let dir: string;
let creds: string;
const PASSWORD = 'operator-password';

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-op-'));
  creds = mkdtempSync(join(tmpdir(), 'scrapeguard-op-creds-'));
  copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
  copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
  copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
  const users = { prometheus: await hash(PASSWORD, { cost: 4 }) };
  const mtls = {
    cert_file: 'server.crt',
    key_file: 'server.key',
    client_ca_file: 'ca.crt',
    client_auth_type: 'RequireAndVerifyClientCert',
    min_version: 'TLS13',
  };
  writeFileSync(join(dir, 'mtls-basic.yml'), JSON.stringify({ tls_server_config: mtls, basic_auth_users: users }));
  writeFileSync(join(dir, 'tls-only.yml'), JSON.stringify({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key', max_version: 'TLS12' } }));
  copyFileSync(pki.ca.certFile, join(creds, 'ca.crt'));
  copyFileSync(pki.client.certFile, join(creds, 'client.crt'));
  copyFileSync(pki.client.keyFile, join(creds, 'client.key'));
  writeFileSync(join(creds, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(join(creds, 'token'), 'static-token', { mode: 0o600 });
  writeFileSync(join(creds, 'client-secret'), 'oauth-secret', { mode: 0o600 });
});

const base = (): OperatorManifestOptions => ({
  selector: { 'app.kubernetes.io/name': 'api', tier: 'backend' },
  namespace: 'shop',
  credentialsDir: creds,
  interval: '30s',
});

describe.each(['ServiceMonitor', 'PodMonitor'] as const)('%s', (kind) => {
  it('mTLS + basic auth: schema-valid, secrets by selector, Secret holds every key', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'mtls-basic.yml')), {
      ...base(),
      kind,
      name: 'api-metrics',
      port: 'https-metrics',
    });
    const [secret, monitor] = out.documents as [Json, Json];
    expectValid(monitor);
    expectSelectorsResolve(monitor, secret);
    const endpoint = ((monitor.spec as Json)[kind === 'ServiceMonitor' ? 'endpoints' : 'podMetricsEndpoints'] as Json[])[0]!;
    expect(endpoint).toMatchObject({
      port: 'https-metrics',
      path: '/metrics',
      scheme: 'https',
      interval: '30s',
      tlsConfig: { minVersion: 'TLS13', serverName: 'localhost' },
    });
    expect(secret).toMatchObject({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: 'api-metrics-scrape-credentials', namespace: 'shop' },
      stringData: { username: 'prometheus', password: PASSWORD, 'ca.crt': pki.ca.certPem, 'tls.crt': pki.client.certPem, 'tls.key': pki.client.keyPem },
    });
    expect(out.warnings).toContainEqual(expect.stringMatching(/contains the Secret "api-metrics-scrape-credentials" with private key or credential material/));
  });

  it('TLS only: CA in the Secret, max_version mirrored, no secret-material warning', async () => {
    const config = await loadConfigFile(join(dir, 'tls-only.yml'));
    const out = await generateOperatorManifests(config, { ...base(), kind });
    const [secret, monitor] = out.documents as [Json, Json];
    expectValid(monitor);
    expectSelectorsResolve(monitor, secret);
    expect(Object.keys(secret.stringData as Json)).toEqual(['ca.crt']);
    expect(JSON.stringify(monitor)).toContain('"maxVersion":"TLS12"');
    expect(out.warnings.join()).not.toMatch(/private key/);
  });

  it.each<[string, ScrapeRequirements['auth'], string[]]>([
    ['bearer token', { kind: 'authorization', type: 'Bearer', tokenKind: 'static' }, ['token']],
    [
      'oauth2',
      { kind: 'oauth2', tokenUrl: 'https://idp.example/oauth2/token', clientId: 'prometheus', scopes: ['metrics'], endpointParams: { audience: 'api' } },
      ['client-id', 'client-secret'],
    ],
  ])('%s (requirements built by hand) with label drops', async (_name, auth, keys) => {
    const req: ScrapeRequirements = {
      scheme: 'https',
      tls: { serverCertPem: pki.server.certPem, clientCert: 'none', clientCertVerified: false, minVersion: 'TLS12', maxVersion: 'TLS13' },
      ...(auth ? { auth } : {}),
      labelDrops: ['user_email', 'session_.*'],
    };
    const out = await operatorManifestsFromRequirements(req, { ...base(), kind });
    const [secret, monitor] = out.documents as [Json, Json];
    expectValid(monitor);
    expectSelectorsResolve(monitor, secret);
    for (const key of keys) expect(Object.keys(secret.stringData as Json)).toContain(key);
    expect(JSON.stringify(monitor)).toContain('"metricRelabelings":[{"action":"labeldrop","regex":"user_email|session_.*"}]');
  });
});

describe('the validators themselves', () => {
  it('catch a misspelt field (closed schema) and a bad enum value (as the API server would)', async () => {
    const out = await generateOperatorManifests(await loadConfigFile(join(dir, 'mtls-basic.yml')), base());
    const monitor = structuredClone(out.documents[1]) as { spec: { endpoints: Json[] } };
    const endpoint = monitor.spec.endpoints[0]!;
    (endpoint.tlsConfig as Json).serverNam = 'x';
    expect(validators.ServiceMonitor.open(monitor)).toBe(true);
    expect(validators.ServiceMonitor.strict(monitor)).toBe(false);
    endpoint.scheme = 'ftp';
    expect(validators.ServiceMonitor.open(monitor)).toBe(false);
    delete (monitor as { spec: Json }).spec.selector;
    expect(validators.ServiceMonitor.open(monitor)).toBe(false);
  });
});

describe('CLI --format servicemonitor / podmonitor', () => {
  it('prints documents that validate, Secret first, and refuses bad Kubernetes names', async () => {
    const result = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'mtls-basic.yml', '--format', 'podmonitor', '--selector', 'app=api', '--credentials-dir', creds, '--job', 'api'],
      { cwd: dir },
    );
    expect(result.code).toBe(0);
    const docs = parseAllDocuments(result.stdout).map((d) => d.toJS() as Json);
    expect(docs.map((d) => d.kind)).toEqual(['Secret', 'PodMonitor']);
    expectValid(docs[1]!);
    expectSelectorsResolve(docs[1]!, docs[0]);
    expect((docs[1]!.metadata as Json).namespace).toBeUndefined();

    const omitted = await runCli(
      scrapeConfigCommand,
      ['--web.config.file', 'mtls-basic.yml', '--format', 'servicemonitor', '--selector', 'app=api', '--credentials-dir', creds, '--omit-secrets'],
      { cwd: dir },
    );
    expect(parseAllDocuments(omitted.stdout).map((d) => (d.toJS() as Json).kind)).toEqual(['ServiceMonitor']);
    expect(omitted.stdout).not.toContain(PASSWORD);
    expect(omitted.stderr).toContain(
      `kubectl create secret generic scrapeguard-scrape-credentials --from-literal=username=prometheus --from-file=ca.crt=${join(creds, 'ca.crt')}`,
    );

    for (const [flag, value, pattern] of [
      ['--job', 'API', /not a Kubernetes object name/],
      ['--namespace', 'a.b', /not a DNS-1123 label/],
      ['--port', '9443', /not a port name/],
      ['--selector', 'bad key=x', /not a valid Kubernetes label name/],
    ] as const) {
      const { runMain } = await import('../src/tools/cli/run.js');
      const bad = await runCli(
        (a, io) => runMain(['scrape-config', ...a], io),
        ['--web.config.file', 'mtls-basic.yml', '--format', 'servicemonitor', '--selector', 'app=api', '--credentials-dir', creds, flag, value],
        { cwd: dir },
      );
      expect(bad.code, `${flag} ${value}`).toBe(1);
      expect(bad.stderr).toMatch(pattern);
    }
  });
});

/**
 * Scrape configs for the #17 identity methods: `header_auth` becomes Prometheus's `http_headers`
 * with `files` (refused for a Prometheus older than 2.55; the key file checked by digest; never a
 * ServiceMonitor/PodMonitor, since prometheus-operator cannot send custom headers), and
 * `jwt_auth.kubernetes` becomes `authorization.credentials_file` with Prometheus's own
 * service-account token (ServiceMonitor: `bearerTokenFile`, validated against the operator's CRD
 * schema; PodMonitor refused). promtool/Prometheus acceptance is in test/e2e/identity-methods.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { operatorFixture } from './helpers/operator-schema.js';
import { loadConfigObject } from '../src/config/load.js';
import type { WebConfigInput } from '../src/config/schema.js';
import { generateOperatorManifests, generateScrapeConfig } from '../src/tools/scrape-config/generate.js';
import { checkPrometheusJob } from '../src/tools/scrape-config/prometheus.js';
import { scrapeConfigCommand } from '../src/tools/cli/scrape-config.js';
import { runCli } from './helpers/cli.js';
import { testPki, type TestPki } from './helpers/pki.js';

let pki: TestPki;
let dir: string;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const key = randomBytes(32).toString('base64url');

beforeAll(async () => {
  pki = await testPki();
  dir = mkdtempSync(join(tmpdir(), 'scrapeguard-sc-identity-'));
  writeFileSync(join(dir, 'api-key'), `${key}\n`, { mode: 0o600 });
});

const tls = () => ({ cert_file: pki.server.certFile, key_file: pki.server.keyFile });
const load = (doc: WebConfigInput) => loadConfigObject({ tls_server_config: tls(), ...doc }, { baseDir: dir });
const headerConfig = () => load({ header_auth: { header: 'X-API-Key', keys: [{ name: 'prometheus', key_sha256: sha256(key) }] } });
const k8sConfig = () => load({ jwt_auth: { issuer: 'https://kubernetes.default.svc.cluster.local', audience: 'scrapeguard', kubernetes: {} } });

describe('header_auth → http_headers', () => {
  it('emits http_headers with the key file for Prometheus 2.55+, checks the key by digest, inlines nothing', async () => {
    const out = await generateScrapeConfig(await headerConfig(), {
      targets: ['localhost:9443'],
      files: { apiKeyFile: join(dir, 'api-key'), caFile: pki.ca.certFile },
      prometheusVersion: '2.55',
    });
    expect(out.job.http_headers).toEqual({ 'x-api-key': { files: [join(dir, 'api-key')] } });
    expect(out.job.authorization).toBeUndefined();
    expect(out.yaml).not.toContain(key);
    expect(out.warnings.filter((w) => w.includes('api-key'))).toEqual([]);

    const wrong = join(dir, 'wrong-key');
    writeFileSync(wrong, 'not-the-key-at-all-0123456789', { mode: 0o600 });
    const mismatch = await generateScrapeConfig(await headerConfig(), {
      targets: ['localhost:9443'],
      files: { apiKeyFile: wrong, caFile: pki.ca.certFile },
      prometheusVersion: '3.5',
    });
    expect(mismatch.warnings.join('\n')).toContain('holds none of the header_auth keys (compared by SHA-256)');
  });

  it('is refused for a Prometheus older than 2.55 (2.42, 2.53), with what to do instead', async () => {
    for (const v of ['2.42', '2.53']) {
      await expect(
        generateScrapeConfig(await headerConfig(), {
          targets: ['localhost:9443'],
          files: { apiKeyFile: join(dir, 'api-key'), caFile: pki.ca.certFile },
          prometheusVersion: v,
        }),
      ).rejects.toThrow(
        /header_auth needs Prometheus 2\.55 or later, which sends the key from a file with http_headers \(target version 2\.(42|53)\); give --prometheus-version 2\.55 or later, or use bearer_auth/,
      );
    }
    const job = { job_name: 'x', scheme: 'https' as const, metrics_path: '/metrics', static_configs: [{ targets: ['a:1'] }] };
    expect(() => checkPrometheusJob({ ...job, http_headers: { 'x-api-key': { files: ['/k'] } } }, { major: 2, minor: 53 })).toThrow(/needs Prometheus 2\.55\+/);
    expect(() => checkPrometheusJob({ ...job, http_headers: { 'x-api-key': { files: ['/k'], values: ['inline'] } as never } }, { major: 3, minor: 5 })).toThrow(
      /never inlined/,
    );
  });

  it('a credentials directory provides api-key; several methods need --auth header', async () => {
    const both = await load({
      header_auth: { keys: [{ name: 'k', key_sha256: sha256(key) }] },
      bearer_auth: { tokens: [{ name: 't', token_sha256: sha256('x'.repeat(43)) }] },
    });
    await expect(generateScrapeConfig(both, { targets: ['localhost:9443'], prometheusVersion: '3.5' })).rejects.toThrow(
      /accepts bearer, header; choose the credential/,
    );
    const out = await generateScrapeConfig(both, {
      targets: ['localhost:9443'],
      prometheusVersion: '3.5',
      auth: 'header',
      credentialsDir: dir,
      files: { caFile: pki.ca.certFile },
    });
    expect(out.job.http_headers).toEqual({ 'x-api-key': { files: [join(dir, 'api-key')] } });
  });

  it('ServiceMonitor and PodMonitor are refused: prometheus-operator cannot send custom headers (not even ScrapeConfig)', async () => {
    for (const kind of ['ServiceMonitor', 'PodMonitor'] as const) {
      await expect(
        generateOperatorManifests(await headerConfig(), {
          kind,
          selector: { app: 'api' },
          files: { apiKeyFile: join(dir, 'api-key'), caFile: pki.ca.certFile },
          prometheusVersion: '3.5',
        }),
      ).rejects.toThrow(
        new RegExp(
          `header_auth cannot be expressed as a ${kind}: prometheus-operator's ServiceMonitor, PodMonitor and ScrapeConfig \\(monitoring.coreos.com/v1alpha1\\) have no field for a custom request header; put the --format prometheus job into the Prometheus resource's additionalScrapeConfigs`,
        ),
      );
    }
  });

  it('CLI: --api-key-file and --auth header', async () => {
    const file = join(dir, 'web-config.yml');
    writeFileSync(
      file,
      `tls_server_config:\n  cert_file: ${pki.server.certFile}\n  key_file: ${pki.server.keyFile}\nheader_auth:\n  keys:\n    - name: p\n      key_sha256: ${sha256(key)}\n`,
    );
    const r = await runCli(scrapeConfigCommand, [
      '--web.config.file',
      file,
      '--target',
      'localhost:9443',
      '--api-key-file',
      join(dir, 'api-key'),
      '--ca-file',
      pki.ca.certFile,
      '--prometheus-version',
      '3.5',
      '--auth',
      'header',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('http_headers:');
    expect(r.stdout).toContain(`- ${join(dir, 'api-key')}`);
  });
});

describe("jwt_auth.kubernetes → Prometheus's service-account token", () => {
  it("authorization.credentials_file is the pod's token by default, with the audience caveat; an absolute path of a projected token can be given", async () => {
    const out = await generateScrapeConfig(await k8sConfig(), { targets: ['localhost:9443'], files: { caFile: pki.ca.certFile } });
    expect(out.job.authorization).toEqual({ type: 'Bearer', credentials_file: '/var/run/secrets/kubernetes.io/serviceaccount/token' });
    expect(out.warnings.join('\n')).toContain('the server accepts only scrapeguard: mount a projected serviceAccountToken volume with that audience');
    const projected = await generateScrapeConfig(await k8sConfig(), {
      targets: ['localhost:9443'],
      files: { caFile: pki.ca.certFile, credentialsFile: '/var/run/secrets/scrapeguard/token' },
    });
    expect(projected.job.authorization).toEqual({ type: 'Bearer', credentials_file: '/var/run/secrets/scrapeguard/token' });
    await expect(
      generateScrapeConfig(await k8sConfig(), { targets: ['localhost:9443'], files: { caFile: pki.ca.certFile, credentialsFile: 'token' } }),
    ).rejects.toThrow(/path inside the Prometheus pod and must be absolute/);
    await expect(
      generateScrapeConfig(await k8sConfig(), {
        targets: ['localhost:9443'],
        files: { caFile: pki.ca.certFile },
        oauth2: { tokenUrl: 'https://x/token', clientId: 'c' },
      }),
    ).rejects.toThrow(/oauth2 does not apply to jwt_auth.kubernetes/);
  });

  it('ServiceMonitor uses bearerTokenFile (valid against the CRD schema, no Secret for it); PodMonitor is refused', async () => {
    const out = await generateOperatorManifests(await k8sConfig(), {
      kind: 'ServiceMonitor',
      namespace: 'shop',
      selector: { app: 'api' },
      files: { caFile: pki.ca.certFile },
    });
    const monitor = out.documents.at(-1) as { spec: { endpoints: Record<string, unknown>[] } };
    expect(monitor.spec.endpoints[0]!.bearerTokenFile).toBe('/var/run/secrets/kubernetes.io/serviceaccount/token');
    expect(monitor.spec.endpoints[0]!.authorization).toBeUndefined();
    const secret = out.documents.find((d) => d.kind === 'Secret') as { stringData: Record<string, string> } | undefined;
    expect(Object.keys(secret?.stringData ?? {})).toEqual(['ca.crt']);
    expect(out.warnings.join('\n')).toContain(
      'bearerTokenFile is deprecated in prometheus-operator and refused when the Prometheus resource sets arbitraryFSAccessThroughSMs.deny: true',
    );
    const schema = operatorFixture('servicemonitors.v1.schema.json');
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(schema);
    expect(validate(monitor), JSON.stringify(validate.errors)).toBe(true);

    await expect(
      generateOperatorManifests(await k8sConfig(), { kind: 'PodMonitor', selector: { app: 'api' }, files: { caFile: pki.ca.certFile } }),
    ).rejects.toThrow(/only ServiceMonitor can \(bearerTokenFile\): use --format servicemonitor/);
  });
});

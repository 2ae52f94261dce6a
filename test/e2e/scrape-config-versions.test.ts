/**
 * The per-version generator against the real promtool of each generation (2.42 and 3.5):
 * `promtool check config` accepts every job generated for its own version (native-histogram
 * protocols, oauth2 with the token endpoint's own CA, a force-excluded metrics path, mTLS + basic
 * auth), and the version gating is needed: promtool 2.42 refuses the 3.5 output by the name of the
 * Prometheus 3 key, while promtool 3.5 accepts the 2.42 output.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import { generateScrapeConfig, scrapeConfigFromRequirements, type GeneratedScrapeConfig } from '../../src/tools/scrape-config/generate.js';
import type { ScrapeRequirements } from '../../src/tools/scrape-config/requirements.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import { generations, runProcess } from './support.js';

const GENERATIONS = generations('scrape-config-versions.test.ts', ['promtool']);
const PASSWORD = 'versions e2e password';

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)(`promtool ${gen.prometheusVersion} check config on the generator's per-version output`, () => {
    let pki: TestPki;
    let dir: string;
    let creds: string;

    beforeAll(async () => {
      tools.require();
      pki = await testPki();
      dir = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-scv-'));
      creds = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-scv-creds-'));
      copyFileSync(pki.server.certFile, join(dir, 'server.crt'));
      copyFileSync(pki.server.keyFile, join(dir, 'server.key'));
      copyFileSync(pki.ca.certFile, join(dir, 'client-ca.crt'));
      const users = { prometheus: await hash(PASSWORD, { cost: 4 }) };
      const tls = { cert_file: 'server.crt', key_file: 'server.key', min_version: 'TLS12', max_version: 'TLS13' };
      writeFileSync(
        join(dir, 'mtls-basic.yml'),
        JSON.stringify({
          tls_server_config: { ...tls, client_ca_file: 'client-ca.crt', client_auth_type: 'RequireAndVerifyClientCert' },
          basic_auth_users: users,
        }),
      );
      writeFileSync(
        join(dir, 'excluded.yml'),
        JSON.stringify({ tls_server_config: tls, basic_auth_users: users, auth_excluded_paths: [{ path: '/metrics', force: true }] }),
      );
      copyFileSync(pki.ca.certFile, join(creds, 'ca.crt'));
      copyFileSync(pki.client.certFile, join(creds, 'client.crt'));
      copyFileSync(pki.client.keyFile, join(creds, 'client.key'));
      copyFileSync(pki.otherCa.certFile, join(creds, 'oauth2-ca.crt'));
      writeFileSync(join(creds, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
      writeFileSync(join(creds, 'client-secret'), 'oauth-secret', { mode: 0o600 });
    });

    /** Every kind of job, generated for `version`. */
    async function jobsFor(version: string): Promise<Record<string, GeneratedScrapeConfig>> {
      const common = { targets: ['localhost:9443'], credentialsDir: creds, prometheusVersion: version };
      const mtls = await loadConfigFile(join(dir, 'mtls-basic.yml'));
      const oauth2: ScrapeRequirements = {
        scheme: 'https',
        tls: { serverCertPem: pki.server.certPem, clientCert: 'none', clientCertVerified: false, minVersion: 'TLS12', maxVersion: 'TLS13' },
        auth: { kind: 'oauth2', tokenUrl: 'https://idp.internal/token', clientId: 'prometheus', scopes: ['metrics'] },
        labelDrops: ['session_.*'],
      };
      return {
        'mtls-basic': await generateScrapeConfig(mtls, { ...common, jobName: 'mtls-basic' }),
        'native-histograms': await generateScrapeConfig(mtls, { ...common, jobName: 'native-histograms', nativeHistograms: true }),
        excluded: await generateScrapeConfig(await loadConfigFile(join(dir, 'excluded.yml')), { ...common, jobName: 'excluded' }),
        oauth2: await scrapeConfigFromRequirements(oauth2, { ...common, jobName: 'oauth2' }),
      };
    }

    async function promtool(outputs: Record<string, GeneratedScrapeConfig>, tag: string) {
      const files = Object.entries(outputs).map(([name, out]) => {
        const file = join(dir, `${tag}-${name}.yml`);
        writeFileSync(file, out.yaml);
        return file;
      });
      const result = await runProcess(tools.bin('promtool'), ['check', 'config', ...files], { timeoutMs: 30_000 });
      return { ...result, output: result.stdout + result.stderr, files };
    }

    it(`accepts every job generated with --prometheus-version ${gen.prometheusVersion}`, async () => {
      const outputs = await jobsFor(gen.prometheusVersion);
      const checked = await promtool(outputs, 'own');
      expect(checked.output).not.toMatch(/FAILED/);
      expect(checked.code, checked.output).toBe(0);
      expect(checked.output.match(/SUCCESS/g)?.length).toBe(checked.files.length);
      expect(outputs.excluded!.job.basic_auth).toBeUndefined();
      expect(outputs.oauth2!.job.oauth2?.tls_config?.ca_file).toBe(join(creds, 'oauth2-ca.crt'));
      if (gen.major === 3) {
        expect(outputs['native-histograms']!.job.scrape_protocols).toEqual([
          'PrometheusProto',
          'OpenMetricsText1.0.0',
          'OpenMetricsText0.0.1',
          'PrometheusText1.0.0',
          'PrometheusText0.0.4',
        ]);
        expect(outputs['mtls-basic']!.job.fallback_scrape_protocol).toBe('PrometheusText0.0.4');
      } else {
        // 2.42 has no per-job scrape_protocols (2.49+) and no fallback (3.0+): the generator leaves both out.
        expect(outputs['native-histograms']!.job).not.toHaveProperty('scrape_protocols');
        expect(outputs['mtls-basic']!.job).not.toHaveProperty('fallback_scrape_protocol');
      }
    }, 60_000);

    it(
      gen.major === 2
        ? 'refuses the 3.5 output by the name of its Prometheus 3 key (so the gating is needed)'
        : 'accepts the 2.42 output as well (Prometheus 3 still reads every 2.42 key emitted)',
      async () => {
        const other = await jobsFor(gen.major === 2 ? '3.5' : '2.42');
        const checked = await promtool({ 'mtls-basic': other['mtls-basic']!, 'native-histograms': other['native-histograms']! }, 'other');
        if (gen.major === 2) {
          expect(checked.code).toBe(1);
          expect(checked.output).toMatch(/field fallback_scrape_protocol not found/);
        } else {
          expect(checked.code, checked.output).toBe(0);
          expect(checked.output.match(/SUCCESS/g)?.length).toBe(2);
        }
      },
      60_000,
    );
  });
});

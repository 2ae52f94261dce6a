/**
 * The generated scrape configuration, proven against a real Prometheus of each generation
 * (Debian bookworm's 2.42 with --prometheus-version 2.42; Debian sid's 3.5 LTS with 3.5, the
 * default): for each auth mode a guard serves a web-config, the `scrape-config` command writes the job, `promtool check config` accepts every file, and one
 * Prometheus scrapes all jobs at once. Positive jobs must be `up` with their series stored;
 * negative jobs (wrong CA, no client certificate, wrong password) must fail with the error the
 * scraper really sees. Under CI a missing Prometheus fails the suite; locally it skips visibly.
 *
 * Adding a mode (bearer, JWT, redaction…) is one more entry in `modes()`.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPki, type TestPki } from '../helpers/pki.js';
import { runScrapeScenario, type ScrapeMode, type ScrapeScenario } from './scrape-harness.js';
import { generations } from './support.js';

const GENERATIONS = generations('scrape-config-prometheus.test.ts', ['prometheus', 'promtool']);

const PASSWORD = 'e2e scrape password';
/** Under TLS 1.3 a refused client certificate reaches Prometheus in one of these forms (REFERENCE.md §2). */
const CLIENT_CERT_REFUSED = /bad certificate|certificate required|connection reset by peer|broken pipe|EOF/;

function dirWith(files: Record<string, string>, texts: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'scrapeguard-e2e-sc-'));
  for (const [name, from] of Object.entries(files)) copyFileSync(from, join(dir, name));
  for (const [name, text] of Object.entries(texts)) writeFileSync(join(dir, name), text, { mode: 0o600 });
  return dir;
}

function modes(pki: TestPki, passwordHash: string): ScrapeMode[] {
  const server = () => dirWith({ 'server.crt': pki.server.certFile, 'server.key': pki.server.keyFile, 'client-ca.crt': pki.ca.certFile });
  const creds = dirWith({ 'ca.crt': pki.ca.certFile, 'client.crt': pki.client.certFile, 'client.key': pki.client.keyFile }, { password: `${PASSWORD}\n` });
  const wrong = dirWith({}, { password: 'not the password' });
  const tls = { cert_file: 'server.crt', key_file: 'server.key' };
  const mtls = { ...tls, client_ca_file: 'client-ca.crt', client_auth_type: 'RequireAndVerifyClientCert', client_allowed_sans: ['prometheus'] };
  const users = { prometheus: passwordHash };
  return [
    {
      name: 'mtls',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: { ...mtls, min_version: 'TLS13' } },
      jobs: [
        { job: 'mtls', expect: { health: 'up' } },
        {
          job: 'mtls-wrong-ca',
          args: ['--ca-file', pki.otherCa.certFile],
          warnings: [/did not sign the server certificate/],
          expect: { health: 'down', lastError: /x509: certificate signed by unknown authority/ },
        },
        {
          job: 'mtls-no-client-cert',
          mutate: (job) => {
            delete job.tls_config?.cert_file;
            delete job.tls_config?.key_file;
          },
          expect: { health: 'down', lastError: CLIENT_CERT_REFUSED },
        },
      ],
    },
    {
      name: 'mtls-basic',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: mtls, basic_auth_users: users },
      jobs: [
        { job: 'mtls-basic', expect: { health: 'up' } },
        {
          job: 'mtls-basic-wrong-password',
          args: ['--password-file', join(wrong, 'password')],
          warnings: [/does not hold the password of user "prometheus"/],
          expect: { health: 'down', lastError: /401 Unauthorized/ },
        },
      ],
    },
    {
      // /metrics force-excluded from authentication: the job carries no basic_auth and is up.
      name: 'excluded',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: tls, basic_auth_users: users, auth_excluded_paths: [{ path: '/metrics', force: true }] },
      jobs: [{ job: 'excluded', warnings: [/excluded from authentication \(auth_excluded_paths, force: true\)/], expect: { health: 'up' } }],
    },
    {
      name: 'tls-basic',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: { ...tls, max_version: 'TLS12' }, basic_auth_users: users },
      jobs: [{ job: 'tls-basic', expect: { health: 'up' } }],
    },
    {
      name: 'tls',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: tls },
      // 127.0.0.1 is in the certificate; --server-name exercises the explicit server_name path.
      args: ['--server-name', 'localhost'],
      jobs: [{ job: 'tls', expect: { health: 'up' } }],
    },
    {
      // metric_relabel_configs labeldrop (what redaction.drop_labels will feed) really drops on ingestion.
      name: 'tls-labeldrop',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: tls },
      source: () => '# TYPE scrapeguard_e2e_info gauge\nscrapeguard_e2e_info{mode="tls-labeldrop",user_email="ada@example.com",session_id="s1"} 1\n',
      jobs: [
        {
          job: 'tls-labeldrop',
          args: ['--labeldrop', 'user_email', '--labeldrop', 'session_.*'],
          expect: { health: 'up', absentLabels: ['user_email', 'session_id'], presentLabels: ['mode'] },
        },
      ],
    },
    {
      // 127.0.0.2 (loopback on Linux) is not in the certificate: the generator must set server_name.
      name: 'tls-unnamed-ip',
      host: '127.0.0.2',
      dir: server(),
      credentialsDir: creds,
      webConfig: { tls_server_config: tls },
      jobs: [
        { job: 'tls-unnamed-ip', warnings: [/does not name 127\.0\.0\.2 .*server_name set to "localhost"/], expect: { health: 'up' } },
        {
          job: 'tls-unnamed-ip-no-server-name',
          warnings: [/does not name 127\.0\.0\.2/],
          mutate: (job) => {
            delete job.tls_config?.server_name;
          },
          expect: { health: 'down', lastError: /x509: certificate is valid for .*not 127\.0\.0\.2/ },
        },
      ],
    },
  ];
}

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)(`generated scrape configs (--prometheus-version ${gen.prometheusVersion}) in a real Prometheus ${gen.prometheusVersion}`, () => {
    let pki: TestPki;
    let scenario: ScrapeScenario;
    let expected: ScrapeMode[];

    beforeAll(async () => {
      tools.require();
      pki = await testPki();
      expected = modes(pki, await hash(PASSWORD, { cost: 4 }));
      scenario = await runScrapeScenario(tools, expected, 40_000, { prometheusVersion: gen.prometheusVersion });
    }, 60_000);

    afterAll(async () => {
      await scenario?.stop();
    });

    it('promtool check config accepts every generated file', () => {
      expect(scenario.promtool.output).not.toMatch(/FAILED/);
      expect(scenario.promtool.code).toBe(0);
      expect(scenario.promtool.output.match(/SUCCESS/g)?.length).toBe(expected.flatMap((m) => m.jobs).length);
    });

    it('every job is listed in /api/v1/targets with the expected health and lastError', () => {
      const report = expected
        .flatMap((m) => m.jobs)
        .map((c) => {
          const o = scenario.outcomes.get(c.job);
          return { job: c.job, health: o?.health ?? 'missing', lastError: o?.lastError ?? '' };
        });
      for (const [i, c] of expected.flatMap((m) => m.jobs).entries()) {
        const got = report[i]!;
        const context = `${JSON.stringify(report, null, 1)}\n${scenario.prometheusOutput().slice(-3000)}`;
        expect(got.health, context).toBe(c.expect.health);
        if (c.expect.health === 'down') expect(got.lastError, context).toMatch(c.expect.lastError);
        else expect(got.lastError, context).toBe('');
      }
    });

    it('series of every positive job arrive', () => {
      for (const mode of expected) {
        for (const c of mode.jobs) {
          if (c.expect.health !== 'up') continue;
          const series = scenario.outcomes.get(c.job)?.series ?? [];
          expect(series, c.job).toContainEqual(expect.objectContaining({ __name__: 'scrapeguard_e2e_info', job: c.job, mode: mode.name }));
          expect(series, c.job).toContainEqual(expect.objectContaining({ __name__: 'up', job: c.job }));
          for (const label of c.expect.absentLabels ?? []) for (const s of series) expect(s, `${c.job}: ${label}`).not.toHaveProperty(label);
          for (const label of c.expect.presentLabels ?? [])
            expect(
              series.some((s) => label in s),
              `${c.job}: ${label}`,
            ).toBe(true);
        }
      }
    });

    it('the generated jobs carry what each mode demands', () => {
      const job = (name: string) => scenario.outcomes.get(name)!.generated;
      expect(job('mtls').tls_config).toMatchObject({ cert_file: expect.any(String), key_file: expect.any(String), min_version: 'TLS13' });
      expect(job('mtls').basic_auth).toBeUndefined();
      expect(job('mtls-basic').basic_auth).toMatchObject({ username: 'prometheus' });
      expect(job('tls-basic').tls_config).toMatchObject({ min_version: 'TLS12', max_version: 'TLS12' });
      expect(job('tls-basic').tls_config?.cert_file).toBeUndefined();
      expect(job('tls').tls_config?.server_name).toBe('localhost');
      expect(job('excluded').basic_auth).toBeUndefined();
      // Prometheus 3 fails a scrape with a blank Content-Type; the generator sets the 2.x fallback for 3.x only.
      if (gen.major === 3) expect(job('tls').fallback_scrape_protocol).toBe('PrometheusText0.0.4');
      else expect(job('tls')).not.toHaveProperty('fallback_scrape_protocol');
      expect(job('tls-unnamed-ip').tls_config?.server_name).toBe('localhost');
    });
  });
});

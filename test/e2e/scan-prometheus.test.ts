/**
 * `scrapeguard scan` against the real Debian binaries: node_exporter without and with a
 * web-config (mTLS + basic auth + headers), and a Prometheus (2.42, then 3.5) started with
 * --web.enable-admin-api whose jobs scrape over plain HTTP, skip certificate verification, inline a
 * basic-auth password, fail on an untrusted certificate, and store a label value holding a
 * database password. Each expected finding appears, nothing else does, and no secret is printed.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash } from '@node-rs/bcrypt';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanCommand } from '../../src/tools/cli/scan.js';
import { runCli } from '../helpers/cli.js';
import { testPki, type TestPki } from '../helpers/pki.js';
import {
  BASIC_PASSWORD,
  BASIC_USER,
  freePort,
  generations,
  sleep,
  startProcess,
  stopAll,
  waitForPort,
  writeWebConfigs,
  type RunningProcess,
  type WebConfigs,
  waitForPrometheusReady,
} from './support.js';

const NODE_EXPORTER = 'prometheus-node-exporter';
const GENERATIONS = generations('scan-prometheus.test.ts', [NODE_EXPORTER, 'prometheus']);

const DB_PASSWORD = 'E2e-Db-Passw0rd-xyz';
const INLINE_PASSWORD = 'inline-scrape-pw-42';
const PARAM_TOKEN = 'Qx7vK2mN9pL4rT8wZ3yB6cD1';
const SECRETS = [DB_PASSWORD, INLINE_PASSWORD, BASIC_PASSWORD, PARAM_TOKEN];

interface JsonReport {
  targets: {
    url: string;
    error?: string;
    notes?: string[];
    findings: { id: string; severity: string; message: string; evidence: Record<string, unknown> }[];
  }[];
}

async function scanJson(argv: string[], cwd?: string): Promise<{ code: number; report: JsonReport; table: string }> {
  const run = await runCli(scanCommand, [...argv, '--format', 'json'], cwd !== undefined ? { cwd } : {});
  const table = await runCli(scanCommand, argv, cwd !== undefined ? { cwd } : {});
  for (const out of [run.stdout, run.stderr, table.stdout, table.stderr]) for (const s of SECRETS) expect(out).not.toContain(s);
  return { code: run.code, report: JSON.parse(run.stdout) as JsonReport, table: table.stdout };
}

const ids = (r: JsonReport) => r.targets[0]!.findings.map((f) => f.id).sort();

describe.each(GENERATIONS)('$name', (gen) => {
  const tools = gen.tools;

  describe.skipIf(tools.skip)('scan: real node_exporter and Prometheus', () => {
    const procs: RunningProcess[] = [];
    const servers: Server[] = [];
    let pki: TestPki;
    let work: string;
    let configs: WebConfigs;
    beforeAll(async () => {
      tools.require();
      pki = await testPki();
      work = mkdtempSync(join(tmpdir(), 'scan-e2e-'));
      writeFileSync(join(work, 'password'), `${BASIC_PASSWORD}\n`, { mode: 0o600 });
      configs = writeWebConfigs(pki, await hash(BASIC_PASSWORD, { cost: 4 }));
    });
    afterAll(async () => {
      await stopAll(procs);
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    });

    async function nodeExporter(args: string[]): Promise<number> {
      const port = await freePort();
      const proc = startProcess(
        'node_exporter',
        tools.bin(NODE_EXPORTER),
        [...args, '--web.listen-address', `127.0.0.1:${port}`, '--collector.disable-defaults', '--collector.loadavg'],
        work,
      );
      procs.push(proc);
      await waitForPort(proc, port);
      return port;
    }

    it('node_exporter without a web-config: plain HTTP, no auth, no nosniff', async () => {
      const port = await nodeExporter([]);
      const { code, report } = await scanJson([`http://127.0.0.1:${port}/metrics`, '--fail-on', 'high']);
      expect(code).toBe(2);
      expect(ids(report)).toEqual(['auth.none', 'headers.missing-nosniff', 'transport.plain-http']);
    });

    it('node_exporter with mTLS + basic auth + headers: only facts, with or without credentials', async () => {
      const port = await nodeExporter(['--web.config.file', configs.mtls]);
      const url = `https://localhost:${port}/metrics`;
      const full = await scanJson(
        [
          url,
          '--ca',
          pki.ca.certFile,
          '--cert',
          pki.client.certFile,
          '--key',
          pki.client.keyFile,
          '--user',
          BASIC_USER,
          '--password-file',
          'password',
          '--fail-on',
          'low',
        ],
        work,
      );
      expect(full.code).toBe(0);
      expect(ids(full.report)).toEqual(['headers.missing-cache-control', 'transport.alpn']);
      expect(full.report.targets[0]!.findings.find((f) => f.id === 'transport.alpn')!.evidence).toMatchObject({ protocol: 'TLSv1.3', alpn: 'h2' });
      const anonymous = await scanJson([url, '--ca', pki.ca.certFile, '--fail-on', 'low']);
      expect(anonymous.code).toBe(0);
      expect(ids(anonymous.report)).toEqual(['transport.alpn']);
      expect(anonymous.report.targets[0]!.notes).toEqual([expect.stringContaining('content and headers not checked')]);
    });

    it('Prometheus with the admin and lifecycle APIs, insecure jobs, an inline password, a TLS failure and a stored secret', async () => {
      // A plain exporter with a password in a label (scraped with an inline basic_auth password).
      const leaky = createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(`# TYPE app_db_info gauge\napp_db_info{dsn="postgres://app:${DB_PASSWORD}@db:5432/app"} 1\n`);
      });
      servers.push(leaky);
      leaky.listen(0, '127.0.0.1');
      await once(leaky, 'listening');
      const leakyPort = (leaky.address() as AddressInfo).port;
      const tlsExporter = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end('# TYPE up_probe gauge\nup_probe 1\n');
      });
      servers.push(tlsExporter);
      tlsExporter.listen(0, '127.0.0.1');
      await once(tlsExporter, 'listening');
      const tlsPort = (tlsExporter.address() as AddressInfo).port;

      const promPort = await freePort();
      const config = join(work, 'prometheus.yml');
      writeFileSync(
        config,
        stringify({
          global: { scrape_interval: '1s', scrape_timeout: '1s' },
          scrape_configs: [
            { job_name: 'leaky', static_configs: [{ targets: [`127.0.0.1:${leakyPort}`] }], basic_auth: { username: 'scraper', password: INLINE_PASSWORD } },
            {
              job_name: 'file-creds',
              static_configs: [{ targets: [`127.0.0.1:${leakyPort}`] }],
              basic_auth: { username: 'scraper', password_file: join(work, 'password') },
              metrics_path: '/other',
            },
            {
              job_name: 'skip-verify',
              scheme: 'https',
              tls_config: { insecure_skip_verify: true },
              params: { api_token: [PARAM_TOKEN] },
              static_configs: [{ targets: [`localhost:${tlsPort}`] }],
            },
            { job_name: 'broken-tls', scheme: 'https', tls_config: { ca_file: pki.otherCa.certFile }, static_configs: [{ targets: [`localhost:${tlsPort}`] }] },
            { job_name: 'pinned', scheme: 'https', tls_config: { ca_file: pki.ca.certFile }, static_configs: [{ targets: [`localhost:${tlsPort}`] }] },
          ],
        }),
      );
      const prometheus = startProcess(
        'prometheus',
        tools.bin('prometheus'),
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(work, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          '--web.enable-admin-api',
          '--web.enable-lifecycle',
        ],
        work,
      );
      procs.push(prometheus);
      await waitForPrometheusReady(prometheus, promPort);
      const base = `http://127.0.0.1:${promPort}`;
      // Wait until the stored secret is queryable and the broken job has failed once.
      for (let i = 0; i < 100; i++) {
        const targets = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { scrapePool: string; health: string }[] } };
        const health = Object.fromEntries(targets.data.activeTargets.map((t) => [t.scrapePool, t.health]));
        const series = (await (await fetch(`${base}/api/v1/label/dsn/values`)).json()) as { data: string[] };
        if (health.leaky === 'up' && health['broken-tls'] === 'down' && series.data.length > 0) break;
        await sleep(200);
      }

      const { code, report, table } = await scanJson(['--prometheus', base, '--sample', '500', '--fail-on', 'high']);
      expect(code).toBe(2);
      expect(report.targets[0]!.error).toBeUndefined();
      expect(ids(report)).toEqual(
        [
          'prometheus.admin-api',
          'prometheus.inline-credential',
          'prometheus.inline-credential',
          'prometheus.lifecycle',
          'prometheus.job-insecure-skip-verify',
          'prometheus.job-plain-http',
          'prometheus.job-plain-http',
          'prometheus.no-auth',
          'prometheus.stored-secret',
          'prometheus.target-tls-error',
          'transport.plain-http',
        ].sort(),
      );
      const f = report.targets[0]!.findings;
      expect(
        f
          .filter((x) => x.id === 'prometheus.job-plain-http')
          .map((x) => x.evidence.job)
          .sort(),
      ).toEqual(['file-creds', 'leaky']);
      expect(f.filter((x) => x.id === 'prometheus.inline-credential').map((x) => x.evidence)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ job: 'leaky', key: 'password', path: 'scrape_configs.0.basic_auth.password' }),
          expect.objectContaining({ job: 'skip-verify', key: 'api_token', path: 'scrape_configs.2.params.api_token' }),
        ]),
      );
      expect(f.find((x) => x.id === 'prometheus.job-insecure-skip-verify')!.evidence).toMatchObject({ job: 'skip-verify' });
      expect(f.find((x) => x.id === 'prometheus.target-tls-error')!.evidence).toMatchObject({ job: 'broken-tls' });
      expect(String(f.find((x) => x.id === 'prometheus.target-tls-error')!.evidence.lastError)).toMatch(/x509|certificate/);
      expect(f.find((x) => x.id === 'prometheus.stored-secret')!.evidence).toMatchObject({ label: 'dsn', detector: 'url_credentials', metric: 'app_db_info' });
      // The fix hints for an insecure job name the scrapeguard commands for its targets.
      expect(table).toContain(`scrapeguard serve --upstream http://127.0.0.1:${leakyPort}/metrics`);
      expect(table).toContain('prometheus --web.config.file=scrapeguard-pki/web-config.yml');
    });

    it('Prometheus behind TLS + basic auth with a pinned, file-based job: only the ALPN fact', async () => {
      const promPort = await freePort();
      const config = join(work, 'prometheus-secure.yml');
      writeFileSync(
        config,
        stringify({
          global: { scrape_interval: '1s' },
          scrape_configs: [
            {
              job_name: 'self',
              scheme: 'https',
              tls_config: { ca_file: pki.ca.certFile },
              basic_auth: { username: BASIC_USER, password_file: join(work, 'password') },
              static_configs: [{ targets: [`localhost:${promPort}`] }],
            },
          ],
        }),
      );
      const prometheus = startProcess(
        'prometheus-secure',
        tools.bin('prometheus'),
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(work, 'data-secure')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          `--web.config.file=${configs.basicAuth}`,
        ],
        work,
      );
      procs.push(prometheus);
      await waitForPort(prometheus, promPort);
      const base = `https://localhost:${promPort}`;
      const { code, report } = await scanJson(
        ['--prometheus', base, '--ca', pki.ca.certFile, '--user', BASIC_USER, '--password-file', 'password', '--sample', '100', '--fail-on', 'low'],
        work,
      );
      expect(report.targets[0]!.error).toBeUndefined();
      expect(ids(report)).toEqual(['transport.alpn']);
      expect(code).toBe(0);
      // Without credentials the API refuses: the scan says it could not read it (exit 1).
      const anonymous = await runCli(scanCommand, ['--prometheus', base, '--ca', pki.ca.certFile, '--format', 'json']);
      expect(anonymous.code).toBe(1);
      expect(anonymous.stderr).toMatch(/cannot read the Prometheus API: api\/v1\/status\/flags: HTTP 401/);
    });
  });
});

/**
 * `scrapeguard init` output against the real Go exporters it claims to work with, and `check`'s
 * "readable by" line against what those exporters really accept.
 *
 * Two node_exporter builds, both real binaries from Debian packages (scripts/fetch-prometheus.sh):
 *  - 1.5.0 from bookworm (SCRAPEGUARD_PROMETHEUS_DIR), built with exporter-toolkit 0.8.2;
 *  - 1.11.1 from sid (SCRAPEGUARD_PROMETHEUS3_DIR), built with exporter-toolkit 0.17.1.
 * (The toolkit versions are the packages' Built-Using fields; upstream's 1.11.x uses 0.16.0, and
 * Debian builds against its own packaged toolkit. Either way the floors below hold.)
 *
 * What is proven:
 *  - node_exporter 1.11 loads init's default web-config.yml, node_exporter 1.5 the
 *    `--compat node_exporter-1.5` one; init's client certificate + password scrape each, and the
 *    matching Prometheus (3.5 / 2.42) scrapes each with init's scrape-config.yml (`--target`).
 *  - A client certificate from another init run is refused by both, and Go reports it as an
 *    unknown authority (no "possibly because … verification error" on a same-named CA).
 *  - node_exporter 1.5 refuses init's default output (client_allowed_sans), as check says.
 *  - For sample files, the floor `check` prints is right at both ends we have: the exporter whose
 *    toolkit is at or above the floor accepts the file, the one below refuses it; scrapeguard-only
 *    files are refused by both.
 * Locally a missing binary skips the suite with a warning; under CI it fails.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCommand } from '../../src/tools/cli/check.js';
import { initCommand } from '../../src/tools/cli/init.js';
import { versionAtLeast } from '../../src/config/compat.js';
import { runCli } from '../helpers/cli.js';
import { scrape, type ScrapeResult } from '../helpers/client.js';
import {
  freePort,
  prometheus3Tools,
  prometheusTools,
  runProcess,
  sleep,
  startProcess,
  stopAll,
  waitForPort,
  waitForPortOrExit,
  type PrometheusTools,
  type RunningProcess,
} from './support.js';

const SUITE = 'init-exporters.test.ts';
const NODE_EXPORTER = 'prometheus-node-exporter';
const BINARIES = [NODE_EXPORTER, 'promtool', 'prometheus'];
const bookworm = prometheusTools(SUITE, BINARIES);
const sid = prometheus3Tools(SUITE, BINARIES);

/** One exporter build under test, with the exporter-toolkit it was built with (Debian Built-Using). */
interface Exporter {
  name: string;
  tools: PrometheusTools;
  version: RegExp;
  toolkit: string;
}
const NE15: Exporter = { name: 'node_exporter 1.5 (bookworm)', tools: bookworm, version: /version 1\.5\./, toolkit: 'v0.8.2' };
const NE111: Exporter = { name: 'node_exporter 1.11 (sid)', tools: sid, version: /version 1\.11\./, toolkit: 'v0.17.1' };

const read = (dir: string, name: string) => readFileSync(join(dir, name), 'utf8');

/** An init run: its directory and the credentials Prometheus would use. */
interface InitRun {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  auth: string;
  stdout: string;
}

async function init(dir: string, args: string[]): Promise<InitRun> {
  const result = await runCli(initCommand, [dir, ...args]);
  if (result.code !== 0) throw new Error(`init ${args.join(' ')} failed:\n${result.stderr}`);
  return {
    dir,
    ca: read(dir, 'ca.crt'),
    cert: read(dir, 'client.crt'),
    key: read(dir, 'client.key'),
    auth: `prometheus:${read(dir, 'password')}`,
    stdout: result.stdout,
  };
}

const procs: RunningProcess[] = [];

function startExporter(exporter: Exporter, port: number, configFile: string): RunningProcess {
  const proc = startProcess(
    `${exporter.name} :${port}`,
    exporter.tools.bin(NODE_EXPORTER),
    [`--web.listen-address=127.0.0.1:${port}`, `--web.config.file=${configFile}`, '--collector.disable-defaults', '--collector.loadavg'],
    tmpdir(),
  );
  procs.push(proc);
  return proc;
}

/** Whether `exporter` loads `configFile`: it stays up and answers a TLS request with anything but 500. */
async function exporterAccepts(exporter: Exporter, configFile: string, client: InitRun): Promise<{ accepted: boolean; output: string }> {
  const port = await freePort();
  const proc = startExporter(exporter, port, configFile);
  try {
    const up = await waitForPortOrExit(proc, port, 1500, 20_000);
    if (!up) return { accepted: false, output: proc.output() };
    const r = await scrape(`https://127.0.0.1:${port}/metrics`, { ca: client.ca, cert: client.cert, key: client.key, auth: client.auth });
    return { accepted: r.status !== undefined && r.status !== 500 && !proc.hasExited(), output: proc.output() };
  } finally {
    await stopAll([proc]);
  }
}

const skip = bookworm.skip || sid.skip;

describe.skipIf(skip)('init output on real node_exporter 1.5 and 1.11', () => {
  let work: string;
  let full: InitRun;
  let compat15: InitRun;
  let other: InitRun;
  let port111: number;
  let port15: number;
  let ne111: RunningProcess;
  let ne15: RunningProcess;

  beforeAll(async () => {
    bookworm.require();
    sid.require();
    for (const e of [NE15, NE111]) {
      const v = await runProcess(e.tools.bin(NODE_EXPORTER), ['--version']);
      expect(v.stdout + v.stderr, e.name).toMatch(e.version);
    }
    work = mkdtempSync(join(tmpdir(), 'scrapeguard-init-e2e-'));
    [port111, port15] = [await freePort(), await freePort()];
    [full, compat15, other] = await Promise.all([
      init(join(work, 'full'), ['--target', `127.0.0.1:${port111}`]),
      init(join(work, 'compat15'), ['--target', `127.0.0.1:${port15}`, '--compat', 'node_exporter-1.5']),
      init(join(work, 'other'), []),
    ]);
    ne111 = startExporter(NE111, port111, join(full.dir, 'web-config.yml'));
    ne15 = startExporter(NE15, port15, join(compat15.dir, 'web-config.yml'));
    await Promise.all([waitForPort(ne111, port111), waitForPort(ne15, port15)]);
  }, 90_000);

  afterAll(async () => {
    await stopAll(procs);
  });

  const url = (port: number) => `https://127.0.0.1:${port}/metrics`;

  it("node_exporter 1.11 (sid) serves init's default web-config.yml: init's client certificate and password scrape it", async () => {
    const ok = await scrape(url(port111), { ca: full.ca, cert: full.cert, key: full.key, auth: full.auth });
    expect(ok.status, ne111.output()).toBe(200);
    expect(ok.body).toMatch(/^node_load1 /m);
    expect(ok.headers['strict-transport-security']).toBe('max-age=31536000');
    expect((await scrape(url(port111), { ca: full.ca, cert: full.cert, key: full.key })).status).toBe(401);
    expect((await scrape(url(port111), { ca: full.ca, cert: full.cert, key: full.key, auth: 'prometheus:wrong' })).status).toBe(401);
    expect((await scrape(url(port111), { ca: full.ca, auth: full.auth })).status).toBeUndefined();
  });

  it('node_exporter 1.5 (bookworm) serves the --compat node_exporter-1.5 web-config.yml the same way', async () => {
    const ok = await scrape(url(port15), { ca: compat15.ca, cert: compat15.cert, key: compat15.key, auth: compat15.auth });
    expect(ok.status, ne15.output()).toBe(200);
    expect(ok.body).toMatch(/^node_load1 /m);
    expect(ok.headers['strict-transport-security']).toBe('max-age=31536000');
    expect((await scrape(url(port15), { ca: compat15.ca, cert: compat15.cert, key: compat15.key })).status).toBe(401);
    expect((await scrape(url(port15), { ca: compat15.ca, auth: compat15.auth })).status).toBeUndefined();
  });

  it('a client certificate from another init run is refused by both, reported by Go as an unknown authority', async () => {
    const cases: [RunningProcess, number, InitRun][] = [
      [ne111, port111, full],
      [ne15, port15, compat15],
    ];
    for (const [proc, port, run] of cases) {
      const before = proc.output().length;
      // The right password: only the certificate is wrong.
      const r: ScrapeResult = await scrape(url(port), { ca: run.ca, cert: other.cert, key: other.key, auth: run.auth });
      expect(r.status, proc.name).toBeUndefined();
      // Go logs the failed handshake; wait (bounded) for the line.
      for (let i = 0; i < 50 && !/unknown authority/.test(proc.output().slice(before)); i++) await sleep(50);
      const log = proc.output().slice(before);
      expect(log, proc.name).toMatch(/TLS handshake error from 127\.0\.0\.1:\d+: .*certificate signed by unknown authority/);
      // What a same-named CA without key identifiers produced before: a candidate that failed to verify.
      expect(log).not.toMatch(/possibly because/);
    }
  });

  it("node_exporter 1.5 refuses init's default output at startup (client_allowed_sans), as its readable-by line says", async () => {
    expect(full.stdout).toContain('readable by: scrapeguard, exporter-toolkit >= v0.10.0 (node_exporter >= 1.6.0');
    const { accepted, output } = await exporterAccepts(NE15, join(full.dir, 'web-config.yml'), full);
    expect(accepted).toBe(false);
    expect(output).toMatch(/field client_allowed_sans not found in type web\.TLSConfig/);
  }, 40_000);

  it("Prometheus 3.5 and 2.42 scrape them with init's scrape-config.yml (the --target address)", async () => {
    const start = async (tools: PrometheusTools, run: InitRun, name: string) => {
      const port = await freePort();
      const jobs = (parse(read(run.dir, 'scrape-config.yml')) as { scrape_configs: Record<string, unknown>[] }).scrape_configs;
      const configFile = join(work, `${name}.yml`);
      writeFileSync(configFile, stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s' }, scrape_configs: jobs }));
      const proc = startProcess(
        name,
        tools.bin('prometheus'),
        [`--config.file=${configFile}`, `--storage.tsdb.path=${mkdtempSync(join(work, `${name}-data-`))}`, `--web.listen-address=127.0.0.1:${port}`],
        work,
      );
      procs.push(proc);
      await waitForPort(proc, port, 30_000);
      return { proc, port };
    };
    const proms = await Promise.all([start(sid, full, 'prometheus-3.5'), start(bookworm, compat15, 'prometheus-2.42')]);
    for (const { proc, port } of proms) {
      let target: { health: string; lastError: string; scrapeUrl: string } | undefined;
      // Prometheus needs a few seconds before its first scrape; poll, bounded.
      for (let i = 0; i < 120; i++) {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/targets`).catch(() => undefined);
        const body = (await response?.json().catch(() => undefined)) as { data?: { activeTargets?: (typeof target)[] } } | undefined;
        target = body?.data?.activeTargets?.[0];
        if (target?.health === 'up') break;
        await sleep(250);
      }
      expect(target, proc.output()).toBeDefined();
      expect({ health: target?.health, lastError: target?.lastError }, `${proc.name}: ${proc.output().slice(-2000)}`).toEqual({ health: 'up', lastError: '' });
      expect(target?.scrapeUrl).toMatch(new RegExp(`^https://127\\.0\\.0\\.1:(${port111}|${port15})/metrics$`));
    }
  }, 60_000);

  /** Sample files for the floor check; relative paths resolve against the `full` run's directory. */
  const samples: [name: string, doc: () => Record<string, unknown>][] = [
    ['TLS only', () => ({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' } })],
    [
      'security headers',
      () => ({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' }, http_server_config: { headers: { 'X-Frame-Options': 'deny' } } }),
    ],
    [
      'client_allowed_sans',
      () => ({
        tls_server_config: {
          cert_file: 'server.crt',
          key_file: 'server.key',
          client_ca_file: 'ca.crt',
          client_auth_type: 'RequireAndVerifyClientCert',
          client_allowed_sans: ['prometheus'],
        },
      }),
    ],
    ['inline cert and key', () => ({ tls_server_config: { cert: read(full.dir, 'server.crt'), key: read(full.dir, 'server.key') } })],
    ['rate_limit', () => ({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' }, rate_limit: { interval: '1s', burst: 100 } })],
    ['a scrapeguard extension (limits)', () => ({ tls_server_config: { cert_file: 'server.crt', key_file: 'server.key' }, limits: { max_connections: 64 } })],
  ];

  it.each(samples)(
    "check's floor for a file with %s matches what node_exporter 1.5 and 1.11 and promtool 2.42 and 3.5 accept",
    async (name, doc) => {
      const file = join(full.dir, `floor-${name.replace(/\W+/g, '-')}.yml`);
      writeFileSync(file, stringify(doc()), { mode: 0o600 });
      const check = await runCli(checkCommand, ['--web.config.file', file]);
      expect(check.code, check.stderr).toBe(0);
      const line = check.stdout.split('\n').find((l) => l.startsWith('readable by:')) ?? '';
      const floor = /exporter-toolkit >= (v[\d.]+)/.exec(line)?.[1];
      const scrapeguardOnly = line.startsWith('readable by: scrapeguard only');
      expect(floor !== undefined || scrapeguardOnly, line).toBe(true);

      for (const [exporter, promtool] of [
        [NE15, bookworm.bin('promtool')],
        [NE111, sid.bin('promtool')],
      ] as const) {
        const claimed = !scrapeguardOnly && floor !== undefined && versionAtLeast(exporter.toolkit, floor);
        const { accepted, output } = await exporterAccepts(exporter, file, full);
        expect(accepted, `${exporter.name} (toolkit ${exporter.toolkit}) with "${line}":\n${output}`).toBe(claimed);
        if (!claimed) expect(output).toMatch(/not found in type web\./);
        const p = await runProcess(promtool, ['check', 'web-config', file]);
        expect(p.code === 0, `promtool (toolkit ${exporter.toolkit}) with "${line}":\n${p.stdout}${p.stderr}`).toBe(claimed);
      }
    },
    60_000,
  );
});

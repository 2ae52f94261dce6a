/**
 * `scrapeguard scan` against real servers on loopback: a plain prom-client exporter with secrets in
 * its labels and HELP, a plain-HTTP endpoint behind basic auth, a misconfigured HTTPS server
 * (expired RSA certificate for the wrong name, TLS 1.0/1.1 and static-RSA suites allowed, any
 * client certificate accepted, 401 without a challenge) and `scrapeguard serve` configured by
 * `scrapeguard init` (the acceptance case). Each run asserts the exact set of findings and that no
 * secret appears in any output format.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Counter, Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { initCommand } from '../src/tools/cli/init.js';
import { scanCommand } from '../src/tools/cli/scan.js';
import { serveCommand } from '../src/tools/cli/serve.js';
import { ScrapeguardError } from '../src/errors.js';
import { generateServerCert } from '../src/tools/pki/generate.js';
import { SCAN_RULES } from '../src/tools/scan/findings.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { scrape } from './helpers/client.js';
import { testPki, type TestPki } from './helpers/pki.js';
import { freePort, sleep } from './e2e/support.js';
import sarifSchema from './fixtures/sarif-2.1.0-minimal.schema.json' with { type: 'json' };

const DAY = 86_400_000;
const servers: Server[] = [];
afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Secrets the servers expose; none may appear in any scan output. */
const DB_PASSWORD = 'Hunter2-db-passw0rd';
const GITHUB_TOKEN = `ghp_${'A1b2C3d4E5'.repeat(3)}abcdef`;
const HELP_PASSWORD = 'Sup3rS3cretHelpPw';
const BASIC_PASSWORD = 'plain-http-basic-pw-1234';
const SECRETS = [DB_PASSWORD, GITHUB_TOKEN, HELP_PASSWORD, BASIC_PASSWORD];

interface JsonFinding {
  id: string;
  severity: string;
  message: string;
  evidence: Record<string, unknown>;
  hints: string[];
}
interface JsonReport {
  schemaVersion: number;
  summary: Record<string, number>;
  targets: { url: string; kind: string; error?: string; notes?: string[]; findings: JsonFinding[] }[];
}

/** Runs the scan in all three formats; checks that none leaks a secret and the SARIF is valid. */
async function scanAll(argv: string[], cwd?: string): Promise<{ json: JsonReport; table: CliResult; sarif: CliResult; jsonRun: CliResult }> {
  const opts = cwd !== undefined ? { cwd } : {};
  const [jsonRun, table, sarif] = [
    await runCli(scanCommand, [...argv, '--format', 'json'], opts),
    await runCli(scanCommand, [...argv, '--format', 'table'], opts),
    await runCli(scanCommand, [...argv, '--format', 'sarif'], opts),
  ];
  for (const run of [jsonRun, table, sarif]) {
    for (const secret of SECRETS) {
      expect(run.stdout).not.toContain(secret);
      expect(run.stderr).not.toContain(secret);
    }
  }
  const ajv = new Ajv({ strict: false });
  const validate = ajv.compile(sarifSchema);
  const sarifDoc: unknown = JSON.parse(sarif.stdout);
  expect(validate(sarifDoc), JSON.stringify(validate.errors)).toBe(true);
  return { json: JSON.parse(jsonRun.stdout) as JsonReport, table, sarif, jsonRun };
}

function ids(report: JsonReport, index = 0): string[] {
  return report.targets[index]!.findings.map((f) => f.id).sort();
}

describe('scan: plain prom-client exporter with secrets', () => {
  let url: string;
  beforeAll(async () => {
    const registry = new Registry();
    const info = new Gauge({ name: 'app_db_info', help: 'Database connection', labelNames: ['dsn', 'pool'], registers: [registry] });
    info.set({ dsn: `postgres://app:${DB_PASSWORD}@db.internal:5432/app`, pool: 'main' }, 1);
    const builds = new Gauge({ name: 'app_build_info', help: 'Build', labelNames: ['version', 'token'], registers: [registry] });
    builds.set({ version: '1.2.3', token: GITHUB_TOKEN }, 1);
    new Gauge({ name: 'app_cache_entries', help: `Cache entries (connect with password=${HELP_PASSWORD})`, registers: [registry] }).set(3);
    const logins = new Counter({ name: 'app_logins', help: 'Logins per user', labelNames: ['user', 'client_ip'], registers: [registry] });
    for (let i = 0; i < 12; i++) logins.inc({ user: `user${i}@example.com`, client_ip: '10.0.0.1' });
    // Many IPs: per-user in client_ip, infrastructure in instance (not reported).
    const requests = new Counter({ name: 'app_requests', help: 'Requests', labelNames: ['client_ip'], registers: [registry] });
    const peers = new Gauge({ name: 'app_peer_up', help: 'Peers', labelNames: ['instance'], registers: [registry] });
    for (let i = 0; i < 15; i++) {
      requests.inc({ client_ip: `192.0.2.${i + 1}` });
      peers.set({ instance: `198.51.100.${i + 1}` }, 1);
    }
    url = `http://127.0.0.1:${await listen(
      createHttpServer((_req, res) => {
        registry.metrics().then(
          (body) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(body);
          },
          () => res.destroy(),
        );
      }),
    )}/metrics`;
  });

  it('reports plain HTTP, no auth, missing nosniff, secrets in labels and HELP, per-user e-mails', async () => {
    const { json, table, jsonRun } = await scanAll([url]);
    expect(jsonRun.code).toBe(0);
    expect(ids(json)).toEqual(
      [
        'auth.none',
        'content.per-user-identifier',
        'content.per-user-identifier',
        'content.secret-help',
        'content.secret-label-value',
        'content.secret-label-value',
        'headers.missing-nosniff',
        'transport.plain-http',
      ].sort(),
    );
    const findings = json.targets[0]!.findings;
    const secrets = findings.filter((f) => f.id === 'content.secret-label-value').map((f) => f.evidence);
    expect(secrets).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ metric: 'app_db_info', label: 'dsn', detector: 'url_credentials', series: 1 }),
        expect.objectContaining({ metric: 'app_build_info', label: 'token', detector: 'github_token', preview: 'ghp_…(40 chars)' }),
      ]),
    );
    expect(findings.find((f) => f.id === 'content.secret-help')!.evidence).toMatchObject({ metric: 'app_cache_entries', detector: 'credential_pair' });
    expect(findings.filter((f) => f.id === 'content.per-user-identifier').map((f) => f.evidence)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ metric: 'app_logins', label: 'user', kind: 'e-mail', distinct: 12 }),
        expect.objectContaining({ metric: 'app_requests', label: 'client_ip', kind: 'IP', distinct: 15, preview: '…(9 chars)' }),
      ]),
    );
    // Fix hints lead to scrapeguard, with this target filled in.
    const port = new URL(url).port;
    expect(findings.find((f) => f.id === 'auth.none')!.hints).toEqual([
      'scrapeguard init scrapeguard-pki',
      `scrapeguard serve --upstream http://127.0.0.1:${port}/metrics --web.config.file scrapeguard-pki/web-config.yml --web.listen-address :9443   # bind the exporter itself to 127.0.0.1`,
      'scrapeguard scrape-config --web.config.file scrapeguard-pki/web-config.yml --target 127.0.0.1:9443',
    ]);
    expect(table.stdout).toContain('HIGH   auth.none');
    expect(table.stdout).toContain('to secure it with scrapeguard:');
    expect(json.summary).toEqual({ info: 0, low: 1, medium: 3, high: 4 });
  });

  it('exits 2 at or above --fail-on, 0 below it', async () => {
    expect((await runCli(scanCommand, [url, '--fail-on', 'high'])).code).toBe(2);
    expect((await runCli(scanCommand, [url, '--fail-on', 'low'])).code).toBe(2);
  });
});

describe('scan: basic auth over plain HTTP', () => {
  let url: string;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'scan-basic-'));
    writeFileSync(join(dir, 'password'), `${BASIC_PASSWORD}\n`, { mode: 0o600 });
    const expected = `Basic ${Buffer.from(`alice:${BASIC_PASSWORD}`).toString('base64')}`;
    url = `http://127.0.0.1:${await listen(
      createHttpServer((req, res) => {
        if (req.headers.authorization !== expected) {
          res.writeHead(401, { 'www-authenticate': 'Basic realm="metrics"' });
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
        res.end('# TYPE up gauge\nup 1\n');
      }),
    )}/metrics`;
  });

  it('without credentials: the challenge itself is the finding, and content is noted as unchecked', async () => {
    const { json } = await scanAll([url]);
    expect(ids(json)).toEqual(['auth.basic-over-http', 'transport.plain-http']);
    expect(json.targets[0]!.notes).toEqual([expect.stringMatching(/content and headers not checked: .*HTTP 401/)]);
  });

  it('with --user/--password-file: accepted over plain HTTP, nothing else', async () => {
    const { json } = await scanAll([url, '--user', 'alice', '--password-file', 'password'], dir);
    expect(ids(json)).toEqual(['auth.basic-over-http', 'transport.plain-http']);
    expect(json.targets[0]!.findings.find((f) => f.id === 'auth.basic-over-http')!.evidence).toMatchObject({ challenge: true });
  });
});

describe('scan: misconfigured HTTPS server', () => {
  let pki: TestPki;
  let url: string;
  beforeAll(async () => {
    pki = await testPki();
    const now = Date.now();
    // RSA (static-RSA suites need an RSA key), expired yesterday, issued for another name.
    const cert = await generateServerCert(pki.rsaCa, {
      commonName: 'wrong.example',
      sans: ['wrong.example'],
      keyType: 'rsa',
      notBefore: new Date(now - 30 * DAY),
      notAfter: new Date(now - DAY),
    });
    const server = createHttpsServer(
      {
        cert: cert.certPem,
        key: cert.keyPem,
        minVersion: 'TLSv1',
        ciphers: 'DEFAULT:AES128-SHA:AES128-GCM-SHA256@SECLEVEL=0',
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        // The classic mistake: checks that a certificate was presented, not who issued it.
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        if (!peer || Object.keys(peer).length === 0) {
          res.writeHead(401);
          res.end('client certificate required\n');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end('# TYPE up gauge\nup 1\n');
      },
    );
    url = `https://localhost:${await listen(server)}/metrics`;
  });

  it('with the CA pinned: expired, wrong name, TLS 1.0 and 1.1, weak suites, any client cert, bare 401', async () => {
    const { json } = await scanAll([url, '--ca-file', pki.rsaCa.certFile, '--fail-on', 'medium']);
    expect(ids(json)).toEqual(
      [
        'auth.any-client-cert',
        'auth.missing-www-authenticate',
        'transport.alpn',
        'transport.cert-expired',
        'transport.cert-name-mismatch',
        'transport.tls-legacy-version',
        'transport.tls-legacy-version',
        'transport.tls-weak-cipher',
      ].sort(),
    );
    const f = json.targets[0]!.findings;
    expect(
      f
        .filter((x) => x.id === 'transport.tls-legacy-version')
        .map((x) => x.evidence.version)
        .sort(),
    ).toEqual(['TLSv1', 'TLSv1.1']);
    expect(String(f.find((x) => x.id === 'transport.tls-weak-cipher')!.evidence.accepted).split(',')).toEqual(
      expect.arrayContaining(['AES128-SHA', 'AES128-GCM-SHA256']),
    );
    expect(f.find((x) => x.id === 'transport.alpn')!.evidence).toMatchObject({ alpn: 'http/1.1', http2: false });
    expect(f.find((x) => x.id === 'transport.cert-name-mismatch')!.evidence).toMatchObject({ host: 'localhost', names: 'DNS:wrong.example' });
    // Without credentials the 401 hides the body: said so, rather than a silent "clean".
    expect(json.targets[0]!.notes).toEqual([expect.stringMatching(/content and headers not checked: .*HTTP 401/)]);
  });

  it('without a pinned CA the certificate is also untrusted; --fail-on gates the exit status', async () => {
    const run = await runCli(scanCommand, [url, '--format', 'json', '--fail-on', 'high']);
    expect(run.code).toBe(2);
    const json = JSON.parse(run.stdout) as JsonReport;
    expect(ids(json)).toContain('transport.cert-untrusted');
    expect(json.targets[0]!.findings.find((x) => x.id === 'transport.cert-untrusted')!.evidence).toMatchObject({ pinnedCa: false, selfSigned: false });
  });

  it('with a client certificate the content is read; headers are judged on the authenticated response', async () => {
    const { json } = await scanAll([url, '--ca-file', pki.rsaCa.certFile, '--cert-file', pki.client.certFile, '--key-file', pki.client.keyFile]);
    expect(ids(json).filter((id) => id.startsWith('headers.'))).toEqual(['headers.missing-cache-control', 'headers.missing-hsts', 'headers.missing-nosniff']);
    expect(json.targets[0]!.notes).toBeUndefined();
  });
});

describe('scan: HTTP/2 fact', () => {
  it('reports h2 when the server negotiates it', async () => {
    const pki = await testPki();
    const { createSecureServer } = await import('node:http2');
    const server = createSecureServer({ cert: pki.server.certPem, key: pki.server.keyPem, allowHTTP1: true }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'x-content-type-options': 'nosniff', 'strict-transport-security': 'max-age=31536000' });
      res.end('# TYPE up gauge\nup 1\n');
    });
    const port = await listen(server as unknown as Server);
    const { json } = await scanAll([`https://127.0.0.1:${port}/metrics`, '--ca-file', pki.ca.certFile]);
    expect(ids(json)).toEqual(['auth.none', 'transport.alpn']);
    expect(json.targets[0]!.findings.find((f) => f.id === 'transport.alpn')!.evidence).toMatchObject({ alpn: 'h2', http2: true, protocol: 'TLSv1.3' });
  });
});

describe('scan: certificate lifetime, self-signed certificates, unreadable bodies', () => {
  it('reports a certificate expiring within --expiry-days, and not with a shorter window', async () => {
    const pki = await testPki();
    const server = createHttpsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'x-content-type-options': 'nosniff', 'strict-transport-security': 'max-age=31536000' });
      res.end('# TYPE up gauge\nup 1\n');
    });
    const url = `https://localhost:${await listen(server)}/metrics`;
    const long = await scanAll([url, '--ca-file', pki.ca.certFile, '--expiry-days', '3650']);
    expect(ids(long.json)).toEqual(['auth.none', 'transport.alpn', 'transport.cert-expiring']);
    expect(long.json.targets[0]!.findings.find((f) => f.id === 'transport.cert-expiring')!.evidence.days).toEqual(expect.any(Number));
    const short = await scanAll([url, '--ca-file', pki.ca.certFile, '--expiry-days', '7']);
    expect(ids(short.json)).toEqual(['auth.none', 'transport.alpn']);
  });

  it('reports a self-signed server certificate as untrusted (selfSigned: true)', async () => {
    const self = await generateServerCert(null, { commonName: 'localhost', sans: ['localhost', '127.0.0.1'] });
    const server = createHttpsServer({ cert: self.certPem, key: self.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'x-content-type-options': 'nosniff', 'strict-transport-security': 'max-age=31536000' });
      res.end('# TYPE up gauge\nup 1\n');
    });
    const { json } = await scanAll([`https://127.0.0.1:${await listen(server)}/metrics`]);
    expect(ids(json)).toEqual(['auth.none', 'transport.alpn', 'transport.cert-untrusted']);
    expect(json.targets[0]!.findings.find((f) => f.id === 'transport.cert-untrusted')!.evidence).toMatchObject({
      selfSigned: true,
      verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
  });

  it('reports a body that is not exposition text, without quoting it', async () => {
    const url = `http://127.0.0.1:${await listen(
      createHttpServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html', 'x-content-type-options': 'nosniff' });
        res.end(`<html><body>login with password=${HELP_PASSWORD}</body></html>`);
      }),
    )}/metrics`;
    const { json } = await scanAll([url]);
    expect(ids(json)).toEqual(['auth.none', 'content.unparseable', 'transport.plain-http']);
    expect(json.targets[0]!.findings.find((f) => f.id === 'content.unparseable')!.message).toMatch(/line 1/);
  });
});

describe('scan: scrapeguard serve with init defaults (acceptance)', () => {
  it('reports nothing above low, with or without credentials', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'scan-init-'));
    expect((await runCli(initCommand, ['pki'], { cwd })).code).toBe(0);
    const port = await freePort();
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => (stop = r));
    const serving = runCli(serveCommand, ['--web.config.file', 'pki/web-config.yml', '--web.listen-address', `127.0.0.1:${port}`], { cwd, stopSignal });
    const url = `https://localhost:${port}/metrics`;
    for (let i = 0; i < 100; i++) {
      const r = await scrape(url, { ca: join(cwd, 'pki/ca.crt') });
      if (r.status !== undefined || r.error !== 'ECONNREFUSED') break;
      await sleep(50);
    }
    try {
      const full = await scanAll(
        [
          url,
          '--ca-file',
          'pki/ca.crt',
          '--cert-file',
          'pki/client.crt',
          '--key-file',
          'pki/client.key',
          '--user',
          'prometheus',
          '--password-file',
          'pki/password',
          '--fail-on',
          'medium',
        ],
        cwd,
      );
      expect(full.jsonRun.code, full.jsonRun.stderr + JSON.stringify(full.json.targets[0]?.findings.map((f) => [f.id, f.severity]))).toBe(0);
      expect(full.json.targets[0]!.findings.filter((f) => f.severity !== 'info' && f.severity !== 'low')).toEqual([]);
      expect(full.json.targets[0]!.notes).toBeUndefined();
      const anonymous = await scanAll([url, '--ca-file', 'pki/ca.crt', '--fail-on', 'medium'], cwd);
      expect(anonymous.jsonRun.code).toBe(0);
      expect(anonymous.json.targets[0]!.findings.filter((f) => f.severity !== 'info' && f.severity !== 'low')).toEqual([]);
    } finally {
      stop();
      await serving;
    }
  });
});

describe('scan: usage', () => {
  it.each([
    [[], /give at least one URL/],
    [['ftp://x/metrics'], /only http:\/\/ and https:\/\//],
    [['http://u:p@h/metrics'], /credentials in the URL/],
    [['http://h/metrics', '--format', 'xml'], /--format must be/],
    [['http://h/metrics', '--fail-on', 'info'], /--fail-on must be low, medium or high/],
    [['http://h/metrics', '--cert-file', 'c.pem'], /--cert-file and --key-file go together/],
    [['http://h/metrics', '--user', 'a'], /--user and --password-file go together/],
    [['http://h/metrics', '--sample', '5'], /--sample only applies with --prometheus/],
    [['http://h/metrics', '--timeout', 'soon'], /--timeout must be a Go duration/],
  ])('%j is a usage error', async (argv, message) => {
    const error = await runCli(scanCommand, argv).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScrapeguardError);
    expect((error as Error).message).toMatch(message);
  });

  it('https:// on a plain HTTP server is not scanned (exit 1), not reported clean', async () => {
    const port = await listen(createHttpServer((_req, res) => res.end('up 1\n')));
    const run = await runCli(scanCommand, [`https://127.0.0.1:${port}/metrics`, '--format', 'sarif']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not scanned: TLS handshake failed: .*pass --cert\/--key/);
    const sarif = JSON.parse(run.stdout) as { runs: { invocations: { executionSuccessful: boolean; toolExecutionNotifications: unknown[] }[] }[] };
    expect(sarif.runs[0]!.invocations[0]).toMatchObject({
      executionSuccessful: false,
      toolExecutionNotifications: [expect.objectContaining({ level: 'error' })],
    });
  });

  it('a TLS 1.2 server that requires a verified client certificate: exit 1 without one, clean with one', async () => {
    const pki = await testPki();
    const server = createHttpsServer(
      { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.2' },
      (_req, res) => {
        res.writeHead(200, {
          'content-type': 'text/plain; version=0.0.4',
          'x-content-type-options': 'nosniff',
          'strict-transport-security': 'max-age=1',
          'cache-control': 'no-store',
        });
        res.end('# TYPE up gauge\nup 1\n');
      },
    );
    const url = `https://localhost:${await listen(server)}/metrics`;
    const anonymous = await runCli(scanCommand, [url, '--ca-file', pki.ca.certFile]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/TLS handshake failed/);
    const { json, jsonRun } = await scanAll([
      url,
      '--ca-file',
      pki.ca.certFile,
      '--cert-file',
      pki.client.certFile,
      '--key-file',
      pki.client.keyFile,
      '--fail-on',
      'low',
    ]);
    expect(jsonRun.code).toBe(0);
    expect(ids(json)).toEqual(['transport.alpn']);
  });

  it('an unreachable target is exit 1 with the reason', async () => {
    const port = await freePort();
    const run = await runCli(scanCommand, [`http://127.0.0.1:${port}/metrics`, '--format', 'json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not scanned: ECONNREFUSED/);
  });

  it('the docs/scan.md table lists exactly the rules, with their severities', () => {
    const section = readFileSync(new URL('../docs/scan.md', import.meta.url), 'utf8');
    const rows = [...section.matchAll(/^\| `([a-z0-9.-]+)` \| (info|low|medium|high) \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(rows).toEqual(SCAN_RULES.map((r) => `${r.id} ${r.severity}`));
  });

  it('every rule id is unique and has a title, explanation and fix', () => {
    expect(new Set(SCAN_RULES.map((r) => r.id)).size).toBe(SCAN_RULES.length);
    for (const r of SCAN_RULES) expect(r.title && r.explanation && r.fix).toBeTruthy();
  });
});

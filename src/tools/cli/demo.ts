/**
 * `scrapeguard demo [--check]`: the whole product in one command, with nothing but `npm ci`
 * done. It writes a throwaway PKI and web-config.yml (exactly what `init` writes) to a temp
 * directory, serves a registry behind mTLS + basic auth, scrapes it itself, shows that the
 * wrong credentials are refused, and prints ready `curl` commands. `--check` exits after the
 * self-scrape: 0 when every expectation held, 1 otherwise.
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:https';
import { PassThrough } from 'node:stream';
import { createGuard } from '../../guard.js';
import { ScrapeguardError } from '../../errors.js';
import { createLogfmtLogger, type LogLevel } from '../../log.js';
import { flagOption, listOption, parseCommandArgs, stringOption } from './args.js';
import { initCommand } from './init.js';
import type { CliCommand, CliIo } from './io.js';

const USAGE = `Usage: scrapeguard demo [--check] [--web.listen-address HOST:PORT] [--log.level LEVEL]

Creates a throwaway PKI and web-config.yml in a temporary directory, serves demo metrics behind
mTLS + basic auth, scrapes them once itself and prints curl commands to try. Ctrl-C stops it
and removes the directory.

Options:
  --check                     exit after the self-scrape (0 if everything behaved as expected)
  --web.listen-address ADDR   where to listen (default 127.0.0.1:0, a free port)
  --log.level LEVEL           server log level (default warn)
  -h, --help                  show this help
`;

interface Attempt {
  status?: number;
  body: string;
  error?: string;
}

function get(url: string, options: { ca: string; cert?: string; key?: string; auth?: string }): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = request(url, {
      ca: options.ca,
      ...(options.cert ? { cert: options.cert, key: options.key } : {}),
      ...(options.auth ? { headers: { authorization: `Basic ${Buffer.from(options.auth).toString('base64')}` } } : {}),
      agent: false,
      timeout: 10_000,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ body: '', error: e.code ?? e.message }));
    req.end();
  });
}

/** A made-up password that must never appear in a scrape (checked below). */
const DEMO_DB_PASSWORD = 'demo-db-password-9f2c';

async function demoRegistry() {
  const prom = await import('prom-client');
  const registry = new prom.Registry();
  prom.collectDefaultMetrics({ register: registry });
  const requests = new prom.Counter({
    name: 'demo_http_requests_total',
    help: 'Requests served by the demo application.',
    labelNames: ['route', 'code'],
    registers: [registry],
  });
  requests.inc({ route: '/checkout', code: '200' }, 42);
  requests.inc({ route: '/checkout', code: '500' }, 3);
  // The classic leak: a connection string with its password in an *_info label. The default
  // redaction (secret detectors on) masks it before it leaves the process.
  const database = new prom.Gauge({
    name: 'demo_database_info',
    help: 'Database pool of the demo application.',
    labelNames: ['pool', 'dsn'],
    registers: [registry],
  });
  database.set({ pool: 'main', dsn: `postgres://shop:${DEMO_DB_PASSWORD}@db.internal:5432/shop` }, 1);
  return registry;
}

/** Runs `scrapeguard demo`. */
export const demoCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(argv, {
    check: { type: 'boolean' },
    'web.listen-address': { type: 'string', multiple: true },
    'log.level': { type: 'string' },
  });
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const check = flagOption(args, 'check');
  const addresses = listOption(args, 'web.listen-address');
  const level = (stringOption(args, 'log.level') ?? 'warn') as LogLevel;
  const out = (line = '') => io.stdout.write(line + '\n');

  const dir = await mkdtemp(join(tmpdir(), 'scrapeguard-demo-'));
  let guard: Awaited<ReturnType<typeof createGuard>> | undefined;
  try {
    // Same files `scrapeguard init` writes; its report is not needed here.
    const quiet: CliIo = { ...io, stdout: new PassThrough(), stderr: new PassThrough() };
    if ((await initCommand([dir, '--force'], quiet)) !== 0) throw new ScrapeguardError('USAGE', 'could not create the demo PKI');
    const file = (name: string) => join(dir, name);
    const [ca, cert, key, password] = await Promise.all(['ca.crt', 'client.crt', 'client.key', 'password'].map((n) => readFile(file(n), 'utf8')));
    const otherPassword = `${password}-wrong`;

    guard = await createGuard({
      config: file('web-config.yml'),
      source: await demoRegistry(),
      logger: createLogfmtLogger({ level, write: (line) => io.stderr.write(line + '\n') }),
    });
    const [bound] = await guard.listen(addresses.length ? addresses : ['127.0.0.1:0']);
    if (!bound) throw new ScrapeguardError('LISTEN_FAILED', 'no listen address');
    const host = bound.host === '0.0.0.0' || bound.host === '::' ? 'localhost' : bound.host.includes(':') ? `[${bound.host}]` : bound.host;
    const url = `https://${host === '127.0.0.1' ? 'localhost' : host}:${bound.port}/metrics`;

    out(`scrapeguard demo: serving ${url}`);
    out(`  config and PKI in ${dir}`);
    out('  policy: TLS 1.2+, client certificate signed by the demo CA with SAN "prometheus", basic auth user "prometheus"');
    out();

    const scraped = await get(url, { ca: ca!, cert: cert!, key: key!, auth: `prometheus:${password}` });
    const noCert = await get(url, { ca: ca!, auth: `prometheus:${password}` });
    const wrongPassword = await get(url, { ca: ca!, cert: cert!, key: key!, auth: `prometheus:${otherPassword}` });
    const noPassword = await get(url, { ca: ca!, cert: cert!, key: key! });

    const series = scraped.body.split('\n').filter((l) => l && !l.startsWith('#'));
    const checks = [
      {
        what: 'client certificate + password',
        ok: scraped.status === 200 && series.length > 0,
        got: scraped.status ? `${scraped.status}, ${series.length} series` : scraped.error,
      },
      { what: 'no client certificate', ok: noCert.status === undefined, got: noCert.status ? `${noCert.status}` : `refused in TLS (${noCert.error})` },
      { what: 'wrong password', ok: wrongPassword.status === 401, got: wrongPassword.status ? `${wrongPassword.status}` : wrongPassword.error },
      { what: 'no password', ok: noPassword.status === 401, got: noPassword.status ? `${noPassword.status}` : noPassword.error },
      {
        what: 'DSN password in a label',
        ok: scraped.status === 200 && !scraped.body.includes(DEMO_DB_PASSWORD) && /demo_database_info\{[^}]*REDACTED/.test(scraped.body),
        got: scraped.body.includes(DEMO_DB_PASSWORD) ? 'LEAKED' : 'masked by the secret detectors',
      },
    ];
    out('Self-scrape:');
    for (const c of checks) out(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what.padEnd(30)} → ${c.got}`);
    out();
    out('First lines of the scrape:');
    for (const line of scraped.body
      .split('\n')
      .filter((l) => l.startsWith('demo_'))
      .slice(0, 4))
      out(`  ${line}`);
    out();
    out(`Prometheus side: ${file('scrape-config.yml')} is the matching scrape_config (promtool-checked in CI).`);
    out();
    out('Try it yourself:');
    out(`  curl --cacert ${file('ca.crt')} --cert ${file('client.crt')} --key ${file('client.key')} \\`);
    out(`       -u "prometheus:$(cat ${file('password')})" ${url}`);
    out(`  curl --cacert ${file('ca.crt')} ${url}    # refused: no client certificate`);
    out();
    const allOk = checks.every((c) => c.ok);
    if (check) {
      out(allOk ? 'demo check: PASS' : 'demo check: FAIL');
      return allOk ? 0 : 1;
    }
    out('Serving until Ctrl-C.');
    await io.stopSignal;
    return 0;
  } finally {
    await guard?.close(1000);
    await rm(dir, { recursive: true, force: true });
  }
};

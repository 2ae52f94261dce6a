/**
 * `scrapeguard scan`: audits metrics endpoints (`scan URL…`) or a Prometheus server
 * (`scan --prometheus URL`) and prints findings as a table, JSON or SARIF. Exit status: 0 when the
 * scan completed and nothing is at or above `--fail-on` (default: never fail on findings), 2 when
 * something is, 1 for usage errors and targets that could not be scanned at all.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseGoDuration } from '../../config/duration.js';
import { ScrapeguardError } from '../../errors.js';
import { scanEndpoint, type ScanOptions } from '../scan/endpoint.js';
import { SEVERITIES, type Severity, type TargetReport } from '../scan/findings.js';
import { scanPrometheus } from '../scan/prometheus-server.js';
import { hasFindingAtOrAbove, jsonReport, sarifReport, tableReport, type ReportFormat } from '../scan/report.js';
import { intOption, listOption, parseCommandArgs, stringOption } from './args.js';
import type { CliCommand, CliIo } from './io.js';

const USAGE = `Usage: scrapeguard scan URL... [options]
       scrapeguard scan --prometheus URL [--sample N] [options]

Audits metrics endpoints (any exporter's /metrics) or a Prometheus server for exposed metrics
and leaked secrets: plain HTTP, old TLS versions and weak ciphers, bad certificates, missing or
unverified authentication, secrets and per-user identifiers in labels, missing security headers;
for Prometheus: admin/lifecycle APIs, open API, insecure scrape jobs, inline credentials, targets
failing on TLS, secrets among stored label values. Secrets are never printed (masked previews).

Options:
  --ca-file FILE         CA bundle that should have issued the server certificate (pinned)
  --cert-file FILE --key-file FILE   client certificate and key (mutual TLS)
  --user U --password-file F   basic-auth credentials (the file's first line is the password)
  --bearer-file F        bearer token file
  --prometheus URL       scan a Prometheus server (its base URL) instead of metrics endpoints
  --sample N             with --prometheus: check up to N stored label values (default 0: off)
  --format FMT           table (default), json or sarif
  --fail-on SEV          exit 2 when a finding is at or above SEV (low, medium or high)
  --expiry-days N        report certificates expiring within N days (default 30)
  --timeout D            deadline per request and handshake, Go duration (default 10s)
  -h, --help             show this help

Exit status: 0 scan complete (and nothing at or above --fail-on), 2 findings at or above
--fail-on, 1 usage error or a target that could not be scanned.
`;

const FORMATS = new Set<ReportFormat>(['table', 'json', 'sarif']);

async function readSecretFile(io: CliIo, option: string, file: string): Promise<string> {
  try {
    const text = await readFile(resolve(io.cwd, file), 'utf8');
    const first = text.split(/\r?\n/, 1)[0] ?? '';
    if (first === '') throw new ScrapeguardError('USAGE', `--${option} ${file}: the file is empty`);
    return first;
  } catch (error) {
    if (error instanceof ScrapeguardError) throw error;
    throw new ScrapeguardError('USAGE', `--${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read the file'}`);
  }
}

async function readPem(io: CliIo, option: string, file: string): Promise<string> {
  try {
    return await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new ScrapeguardError('USAGE', `--${option} ${file}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read the file'}`);
  }
}

function parseTarget(raw: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ScrapeguardError('USAGE', `${option} ${JSON.stringify(raw)} is not a URL (e.g. https://host:9100/metrics)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ScrapeguardError('USAGE', `${option} ${JSON.stringify(raw)}: only http:// and https:// URLs can be scanned`);
  if (url.username !== '' || url.password !== '')
    throw new ScrapeguardError('USAGE', `${option}: credentials in the URL are not accepted; use --user/--password-file or --bearer-file`);
  return url;
}

/** Runs `scrapeguard scan`. */
export const scanCommand: CliCommand = async (argv, io) => {
  const args = parseCommandArgs(
    argv,
    {
      'ca-file': { type: 'string' },
      'cert-file': { type: 'string' },
      'key-file': { type: 'string' },
      user: { type: 'string' },
      'password-file': { type: 'string' },
      'bearer-file': { type: 'string' },
      prometheus: { type: 'string', multiple: true },
      sample: { type: 'string' },
      format: { type: 'string' },
      'fail-on': { type: 'string' },
      'expiry-days': { type: 'string' },
      timeout: { type: 'string' },
    },
    true,
    { ca: 'ca-file', cert: 'cert-file', key: 'key-file' },
  );
  if (args.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  for (const notice of args.renamed) io.stderr.write(`warning: ${notice}\n`);
  const format = (stringOption(args, 'format') ?? 'table') as ReportFormat;
  if (!FORMATS.has(format)) throw new ScrapeguardError('USAGE', `--format must be table, json or sarif, got ${JSON.stringify(format)}`);
  const failOnRaw = stringOption(args, 'fail-on');
  if (failOnRaw !== undefined && (!SEVERITIES.includes(failOnRaw as Severity) || failOnRaw === 'info')) {
    throw new ScrapeguardError('USAGE', `--fail-on must be low, medium or high, got ${JSON.stringify(failOnRaw)}`);
  }
  const timeoutRaw = stringOption(args, 'timeout') ?? '10s';
  const timeoutMs = parseGoDuration(timeoutRaw);
  if (timeoutMs === undefined || timeoutMs <= 0)
    throw new ScrapeguardError('USAGE', `--timeout must be a Go duration such as 10s, got ${JSON.stringify(timeoutRaw)}`);
  const expiryDays = intOption(args, 'expiry-days', 30, 0, 3650);
  const sample = intOption(args, 'sample', 0, 0, 1_000_000);

  const prometheus = listOption(args, 'prometheus').map((u) => parseTarget(u, '--prometheus'));
  const endpoints = args.positionals.map((u) => parseTarget(u, 'URL'));
  if (prometheus.length === 0 && endpoints.length === 0) throw new ScrapeguardError('USAGE', 'give at least one URL to scan, or --prometheus URL (see --help)');
  if (sample > 0 && prometheus.length === 0) throw new ScrapeguardError('USAGE', '--sample only applies with --prometheus');

  const cert = stringOption(args, 'cert-file');
  const key = stringOption(args, 'key-file');
  if ((cert === undefined) !== (key === undefined)) throw new ScrapeguardError('USAGE', '--cert-file and --key-file go together');
  const user = stringOption(args, 'user');
  const passwordFile = stringOption(args, 'password-file');
  const bearerFile = stringOption(args, 'bearer-file');
  if ((user === undefined) !== (passwordFile === undefined)) throw new ScrapeguardError('USAGE', '--user and --password-file go together');
  if (user !== undefined && bearerFile !== undefined) throw new ScrapeguardError('USAGE', 'use either --user/--password-file or --bearer-file, not both');

  const caFile = stringOption(args, 'ca-file');
  let authorization: string | undefined;
  if (user !== undefined && passwordFile !== undefined) {
    if (user.includes(':')) throw new ScrapeguardError('USAGE', '--user must not contain ":"');
    authorization = `Basic ${Buffer.from(`${user}:${await readSecretFile(io, 'password-file', passwordFile)}`).toString('base64')}`;
  } else if (bearerFile !== undefined) {
    authorization = `Bearer ${await readSecretFile(io, 'bearer-file', bearerFile)}`;
  }
  const options: ScanOptions = {
    timeoutMs,
    expiryDays,
    ...(caFile !== undefined ? { ca: await readPem(io, 'ca-file', caFile) } : {}),
    ...(cert !== undefined && key !== undefined ? { cert: await readPem(io, 'cert-file', cert), key: await readPem(io, 'key-file', key) } : {}),
    ...(authorization !== undefined ? { authorization } : {}),
  };

  const reports: TargetReport[] = [];
  for (const url of prometheus) reports.push(await scanPrometheus(url, { ...options, sample }));
  for (const url of endpoints) reports.push(await scanEndpoint(url, options));

  io.stdout.write(format === 'json' ? jsonReport(reports) : format === 'sarif' ? sarifReport(reports) : tableReport(reports));
  for (const r of reports) if (r.error !== undefined) io.stderr.write(`scrapeguard scan: ${r.url}: not scanned: ${r.error}\n`);
  if (reports.some((r) => r.error !== undefined)) return 1;
  if (failOnRaw !== undefined && hasFindingAtOrAbove(reports, failOnRaw as Severity)) return 2;
  return 0;
};

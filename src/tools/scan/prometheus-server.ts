/**
 * Prometheus server mode (`scan --prometheus URL`): reads the server's own status APIs and reports
 * the admin and lifecycle APIs, an API reachable without credentials, scrape jobs on plain HTTP or
 * with `insecure_skip_verify`, credentials inlined in the configuration, targets down on TLS
 * errors, and (with `--sample N`) secret-looking values among the stored label values.
 *
 * Inline credentials are recognised by how Prometheus shows its configuration: every secret is
 * replaced by the literal `<secret>`, while `*_file` fields keep their path — so a `<secret>`
 * anywhere means the secret itself sits in prometheus.yml.
 */
import { parse as parseYaml } from 'yaml';
import { compileSecretDetection, labelNameSuggestsSecret, maskedPreview } from '../../exposition/secrets.js';
import { isResponse, probeGet, type ProbeCredentials, type ProbeResponse } from './client.js';
import { jobHints } from './hints.js';
import { finding, sortFindings, type Finding, type TargetReport } from './findings.js';
import type { ScanOptions } from './endpoint.js';
import { checkTransport } from './transport.js';

/** Options of {@link scanPrometheus}. */
export interface PrometheusScanOptions extends ScanOptions {
  /** Read at most this many stored label values (0: no sampling). */
  sample: number;
}

/** Hints for the Prometheus server itself: exporter-toolkit reads the web-config.yml init writes. */
const SERVER_HINTS = [
  'scrapeguard init scrapeguard-pki --san <prometheus host>',
  'prometheus --web.config.file=scrapeguard-pki/web-config.yml …   # exporter-toolkit reads the same web-config.yml',
];

const detect = compileSecretDetection('all');

/** Reads one API path (relative to the server URL) and returns `data`, or throws a one-line error. */
async function api(base: URL, path: string, credentials: ProbeCredentials, timeoutMs: number): Promise<unknown> {
  const result = await probeGet(new URL(path, base), credentials, timeoutMs, { accept: 'application/json' });
  if (!isResponse(result)) throw new Error(`${path}: ${result.code}: ${result.message}`);
  if (result.status !== 200) throw new Error(`${path}: HTTP ${result.status}`);
  return parseData(result, path);
}

function parseData(result: ProbeResponse, path: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(result.body);
  } catch {
    throw new Error(`${path}: the answer is not JSON (is this a Prometheus server?)`);
  }
  if (typeof doc !== 'object' || doc === null || (doc as { status?: unknown }).status !== 'success')
    throw new Error(`${path}: the answer is not a Prometheus API success`);
  return (doc as { data: unknown }).data;
}

/**
 * Scans the Prometheus server at `serverUrl` (its base URL, e.g. `http://prometheus:9090/`).
 * @example
 * const report = await scanPrometheus(new URL('http://127.0.0.1:9090/'), { timeoutMs: 5000, expiryDays: 30, sample: 0 });
 */
export async function scanPrometheus(serverUrl: URL, options: PrometheusScanOptions): Promise<TargetReport> {
  const base = new URL(serverUrl.href.endsWith('/') ? serverUrl.href : `${serverUrl.href}/`);
  const target = base.href;
  const pinned: ProbeCredentials = options.ca !== undefined ? { ca: options.ca } : {};
  const full: ProbeCredentials = {
    ...pinned,
    ...(options.cert !== undefined && options.key !== undefined ? { cert: options.cert, key: options.key } : {}),
    ...(options.authorization !== undefined ? { authorization: options.authorization } : {}),
  };
  const findings: Finding[] = [];

  const anonymous = await probeGet(new URL('api/v1/status/flags', base), pinned, options.timeoutMs, { accept: 'application/json' });
  if (!isResponse(anonymous) && !anonymous.tlsFailure)
    return { url: target, kind: 'prometheus', findings: [], error: `${anonymous.code}: ${anonymous.message}` };
  if (isResponse(anonymous) && anonymous.status === 200) {
    findings.push(finding('prometheus.no-auth', target, 'the API answered /api/v1/status/flags without any credential', { status: 200 }, SERVER_HINTS));
  }
  const transport = await checkTransport(base, {
    credentials: full,
    timeoutMs: options.timeoutMs,
    expiryDays: options.expiryDays,
    hints: SERVER_HINTS,
    ...(options.now ? { now: options.now } : {}),
  });
  if (transport.handshakeError !== undefined) return { url: target, kind: 'prometheus', findings: sortFindings(findings), error: transport.handshakeError };
  findings.push(...transport.findings);

  let flags: Record<string, string>;
  try {
    flags = (await api(base, 'api/v1/status/flags', full, options.timeoutMs)) as Record<string, string>;
  } catch (error) {
    return { url: target, kind: 'prometheus', findings: sortFindings(findings), error: `cannot read the Prometheus API: ${(error as Error).message}` };
  }
  if (flags['web.enable-admin-api'] === 'true') {
    findings.push(finding('prometheus.admin-api', target, 'started with --web.enable-admin-api', { flag: 'web.enable-admin-api' }, SERVER_HINTS));
  }
  if (flags['web.enable-lifecycle'] === 'true') {
    findings.push(finding('prometheus.lifecycle', target, 'started with --web.enable-lifecycle', { flag: 'web.enable-lifecycle' }, SERVER_HINTS));
  }

  const notes: string[] = [];
  const targets = await readTargets(base, full, options.timeoutMs, notes);
  const urlsByJob = new Map<string, string[]>();
  for (const t of targets) {
    const list = urlsByJob.get(t.job) ?? [];
    list.push(t.scrapeUrl);
    urlsByJob.set(t.job, list);
  }

  try {
    const config = (await api(base, 'api/v1/status/config', full, options.timeoutMs)) as { yaml?: unknown };
    findings.push(...configFindings(target, typeof config.yaml === 'string' ? config.yaml : '', urlsByJob));
  } catch (error) {
    notes.push(`configuration not checked: ${(error as Error).message}`);
  }

  for (const t of targets) {
    if (t.health === 'down' && /x509|tls|certificate|handshake/i.test(t.lastError)) {
      findings.push(
        finding(
          'prometheus.target-tls-error',
          target,
          `target ${t.scrapeUrl} of job ${t.job} is down: ${t.lastError.slice(0, 200)}`,
          {
            job: t.job,
            scrapeUrl: t.scrapeUrl,
            lastError: t.lastError.slice(0, 300),
          },
          jobHints([t.scrapeUrl]),
        ),
      );
    }
  }

  if (options.sample > 0) findings.push(...(await sampleStoredValues(base, full, options, notes)));
  return { url: target, kind: 'prometheus', findings: sortFindings(findings), ...(notes.length > 0 ? { notes } : {}) };
}

interface ActiveTarget {
  job: string;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

async function readTargets(base: URL, credentials: ProbeCredentials, timeoutMs: number, notes: string[]): Promise<ActiveTarget[]> {
  try {
    const data = (await api(base, 'api/v1/targets?state=active', credentials, timeoutMs)) as { activeTargets?: unknown[] };
    return (data.activeTargets ?? []).map((raw) => {
      const t = raw as { scrapePool?: string; labels?: Record<string, string>; scrapeUrl?: string; health?: string; lastError?: string };
      return {
        job: t.scrapePool ?? t.labels?.job ?? '',
        scrapeUrl: withoutUserinfo(t.scrapeUrl ?? ''),
        health: t.health ?? '',
        lastError: sanitizeError(t.lastError ?? ''),
      };
    });
  } catch (error) {
    notes.push(`targets not checked: ${(error as Error).message}`);
    return [];
  }
}

/**
 * A URL without user info and query: scrape URLs carry a job's `params`, which may hold tokens
 * (`?apikey=…`), and Prometheus shows them as they are.
 */
function withoutUserinfo(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    if (url.search !== '') url.search = '?…';
    return url.href;
  } catch {
    return raw.replace(/[?#].*$/, '');
  }
}

/** Every URL quoted in an error text (Go writes `Get "https://…": x509: …`) made safe as above. */
function sanitizeError(text: string): string {
  return text.replace(/https?:\/\/[^\s"']+/g, (url) => withoutUserinfo(url)).slice(0, 300);
}

/** A YAML scalar (job_name is a string; a bare number or boolean reads as one) as text; '' for anything else. */
function scalarText(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
}

/** The checks on the configuration as Prometheus shows it (`/api/v1/status/config`). */
export function configFindings(target: string, yamlText: string, urlsByJob: ReadonlyMap<string, readonly string[]> = new Map()): Finding[] {
  const findings: Finding[] = [];
  const config = (parseYaml(yamlText) ?? {}) as Record<string, unknown>;
  const jobs = Array.isArray(config.scrape_configs) ? (config.scrape_configs as Record<string, unknown>[]) : [];
  for (const job of jobs) {
    const name = scalarText(job.job_name);
    const hints = jobHints(urlsByJob.get(name) ?? []);
    if ((job.scheme ?? 'http') === 'http') {
      findings.push(
        finding('prometheus.job-plain-http', target, `job ${name} scrapes over plain HTTP`, { job: name, targets: (urlsByJob.get(name) ?? []).length }, hints),
      );
    }
    const tls = job.tls_config as Record<string, unknown> | undefined;
    if (tls?.insecure_skip_verify === true) {
      findings.push(finding('prometheus.job-insecure-skip-verify', target, `job ${name} sets tls_config.insecure_skip_verify: true`, { job: name }, hints));
    }
  }
  // `params` are sent as the scrape URL's query and never masked by Prometheus: a token there is
  // inline too (reported by name, never by value).
  jobs.forEach((job, index) => {
    const params = job.params as Record<string, unknown> | undefined;
    for (const [name, values] of Object.entries(params ?? {})) {
      const list = Array.isArray(values) ? values : [values];
      if (list.some((v) => typeof v === 'string' && (detect(name, v) !== undefined || (labelNameSuggestsSecret(name) && v.length >= 8)))) {
        const jobName = scalarText(job.job_name);
        findings.push(
          finding(
            'prometheus.inline-credential',
            target,
            `job ${jobName}: params.${name} holds a credential in the scrape URL (Prometheus does not mask params)`,
            {
              path: `scrape_configs.${index}.params.${name}`,
              job: jobName,
              key: name,
            },
          ),
        );
      }
    }
  });
  for (const path of inlineSecrets(config, [])) {
    const job = path[0] === 'scrape_configs' ? jobs[Number(path[1])]?.job_name : undefined;
    const where = job !== undefined ? `job ${scalarText(job)}: ${path.slice(2).join('.')}` : path.join('.');
    findings.push(
      finding('prometheus.inline-credential', target, `${where} is written inline (Prometheus shows <secret>); use the *_file form`, {
        path: path.join('.'),
        ...(job !== undefined ? { job: scalarText(job) } : {}),
        key: path[path.length - 1] ?? '',
      }),
    );
  }
  return findings;
}

/** Paths of every value Prometheus replaced with `<secret>`. */
function inlineSecrets(node: unknown, path: string[]): string[][] {
  if (node === '<secret>') return [path];
  if (Array.isArray(node)) return node.flatMap((child, i) => inlineSecrets(child, [...path, String(i)]));
  if (typeof node === 'object' && node !== null) return Object.entries(node).flatMap(([k, v]) => inlineSecrets(v, [...path, k]));
  return [];
}

/**
 * Reads stored label values, secret-suggesting label names first, at most `options.sample` values
 * in total, and reports the ones a detector flags (one finding per label and detector).
 */
async function sampleStoredValues(base: URL, credentials: ProbeCredentials, options: PrometheusScanOptions, notes: string[]): Promise<Finding[]> {
  const target = base.href;
  let names: string[];
  try {
    names = ((await api(base, 'api/v1/labels', credentials, options.timeoutMs)) as string[]).filter((n) => n !== '__name__');
  } catch (error) {
    notes.push(`stored series not sampled: ${(error as Error).message}`);
    return [];
  }
  names.sort((a, b) => Number(labelNameSuggestsSecret(b)) - Number(labelNameSuggestsSecret(a)) || a.localeCompare(b));
  let budget = options.sample;
  let read = 0;
  const hits = new Map<string, { label: string; detector: string; count: number; preview: string; value: string }>();
  for (const name of names) {
    if (budget <= 0) break;
    let values: string[];
    try {
      values = (await api(base, `api/v1/label/${encodeURIComponent(name)}/values`, credentials, options.timeoutMs)) as string[];
    } catch {
      continue;
    }
    for (const value of values.slice(0, budget)) {
      read++;
      const detector = detect(name, value);
      if (detector === undefined) continue;
      const key = `${name}\0${detector}`;
      const hit = hits.get(key);
      if (hit) hit.count++;
      else hits.set(key, { label: name, detector, count: 1, preview: maskedPreview(value), value });
    }
    budget -= Math.min(values.length, budget);
  }
  if (budget <= 0) notes.push(`label value sample limit reached after ${read} values (--sample ${options.sample})`);
  const findings: Finding[] = [];
  for (const hit of hits.values()) {
    const metric = await metricHolding(base, credentials, options.timeoutMs, hit.label, hit.value);
    findings.push(
      finding(
        'prometheus.stored-secret',
        target,
        `label ${hit.label}${metric ? ` (e.g. on ${metric})` : ''} holds ${hit.count} value(s) matching detector ${hit.detector}`,
        {
          label: hit.label,
          detector: hit.detector,
          values: hit.count,
          preview: hit.preview,
          ...(metric ? { metric } : {}),
        },
      ),
    );
  }
  return findings;
}

/** The name of one series carrying `label="value"` (the query goes to the server that stores it). */
async function metricHolding(base: URL, credentials: ProbeCredentials, timeoutMs: number, label: string, value: string): Promise<string | undefined> {
  const selector = `{${label}=${JSON.stringify(value)}}`;
  try {
    const series = (await api(base, `api/v1/series?match[]=${encodeURIComponent(selector)}`, credentials, timeoutMs)) as Record<string, string>[];
    return series[0]?.__name__;
  } catch {
    return undefined;
  }
}
